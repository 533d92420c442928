"""Verdicts and findings: the small vocabulary every check speaks, so the report can treat them alike."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, replace
from typing import Any


class Verdict(str, enum.Enum):
    """How bad a finding is; ordered so that the worst of several is simply `max`."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return {"OK": 0, "WARN": 1, "FAIL": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One checked fact. Anything not OK carries the reason and the fix, because a verdict alone helps nobody."""

    check: str
    verdict: Verdict
    message: str
    reason: str = ""
    fix: str = ""
    advice: str = ""  # what to do about an OK finding that is still worth acting on
    strict_escalated: bool = False

    def __post_init__(self) -> None:
        if self.verdict is not Verdict.OK and not (self.reason and self.fix):
            raise ValueError(f"finding {self.check!r} is {self.verdict.value} but lacks a reason or a fix")

    def escalated(self) -> Finding:
        """The same finding with WARN made FAIL, for `--strict`."""
        if self.verdict is Verdict.WARN:
            return replace(self, verdict=Verdict.FAIL, strict_escalated=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def worst(verdicts: list[Verdict]) -> Verdict:
    """The worst verdict of a list (OK for an empty one)."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.OK)
