"""The self-check's result as text for people and as one versioned JSON document for machines.

JSON schema "summarytool.selfcheck/1" (a new field is added without a version change; renaming or removing one,
or changing a meaning, bumps the number):

    {
      "schema": "summarytool.selfcheck/1",
      "summarytool_version": str, "created_utc": ISO 8601 str,
      "seconds": float,                             # the checks themselves
      "process_seconds": float | null,              # since the process started, torch import included
      "options": {"strict": bool, "allow_cpu": bool, "reference": str},
      "verdict": "OK" | "WARN" | "FAIL",            # the worst finding, after --strict
      "exit_code": 0 | 1,                           # 1 exactly when verdict is FAIL
      "counts": {"OK": int, "WARN": int, "FAIL": int},
      "sections": [                                 # always these five ids, in this order
        {"id": "nvml" | "torch" | "compatibility" | "smoke" | "reference",
         "title": str,
         "verdict": "OK" | "WARN" | "FAIL" | null,  # null: nothing could be checked (e.g. no NVML)
         "findings": [{"check": str, "verdict": str, "message": str, "reason": str, "fix": str,
                       "advice": str, "strict_escalated": bool}],
         "data": {...}}                             # every figure; see docs/selfcheck-json.md
      ]
    }
"""

from __future__ import annotations

import datetime as _dt
import json
import textwrap
from dataclasses import dataclass, field
from typing import Any

from summarytool.selfcheck.verdicts import Finding, Verdict, worst

SCHEMA = "summarytool.selfcheck/1"
WIDTH = 100


@dataclass
class Section:
    """One numbered part of the report: facts to show (`lines`), verdicts (`findings`), figures (`data`)."""

    id: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict | None:
        return worst([f.verdict for f in self.findings]) if self.findings else None


@dataclass
class Report:
    sections: list[Section]
    strict: bool
    allow_cpu: bool
    reference: str
    seconds: float = 0.0
    process_seconds: float | None = None  # since the process started: includes importing torch
    summarytool_version: str = ""
    created_utc: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    def __post_init__(self) -> None:
        if self.strict:
            for section in self.sections:
                section.findings = [f.escalated() for f in section.findings]

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.sections for f in s.findings]

    @property
    def verdict(self) -> Verdict:
        return worst([f.verdict for f in self.findings])

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict is Verdict.FAIL else 0

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for f in self.findings:
            counts[f.verdict.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "summarytool_version": self.summarytool_version,
            "created_utc": self.created_utc,
            "seconds": round(self.seconds, 3),
            "process_seconds": None if self.process_seconds is None else round(self.process_seconds, 3),
            "options": {"strict": self.strict, "allow_cpu": self.allow_cpu, "reference": self.reference},
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "sections": [
                {
                    "id": s.id,
                    "title": s.title,
                    "verdict": None if s.verdict is None else s.verdict.value,
                    "findings": [f.to_dict() for f in s.findings],
                    "data": s.data,
                }
                for s in self.sections
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        counts = self.counts()
        out = [
            f"summarytool selfcheck: {self.verdict.value} ({counts['FAIL']} FAIL, {counts['WARN']} WARN, "
            f"{counts['OK']} OK) in {self.seconds:.1f} s"
            + ("" if self.process_seconds is None else f" ({self.process_seconds:.1f} s with imports)")
            + ("  [--strict: WARN counts as FAIL]" if self.strict else "")
        ]
        for number, section in enumerate(self.sections, start=1):
            verdict = "n/a" if section.verdict is None else section.verdict.value
            heading = f"{number}. {section.title} "
            out.append("")
            out.append(heading + "." * max(3, WIDTH - len(heading) - len(verdict) - 1) + " " + verdict)
            out.extend(_indent(line, "   ") for line in section.lines)
            for f in section.findings:
                out.extend(_finding_lines(f))
        out.append("")
        out.append(f"exit code {self.exit_code}")
        return "\n".join(out)


def _indent(text: str, prefix: str) -> str:
    return (
        "\n".join(prefix + line if line else line for line in text.splitlines()) if text else prefix.rstrip()
    )


def _wrap(label: str, text: str, prefix: str) -> list[str]:
    return textwrap.wrap(
        text, width=WIDTH, initial_indent=prefix + label, subsequent_indent=prefix + " " * len(label)
    )


def _finding_lines(f: Finding) -> list[str]:
    tag = f"[{f.verdict.value}]".ljust(7)
    lines = _wrap(tag, f.message, "   ")
    pad = "   " + " " * len(tag)
    if f.strict_escalated:
        lines.append(pad + "(a WARN, made FAIL by --strict)")
    if f.reason:
        lines.extend(_wrap("reason: ", f.reason, pad))
    if f.fix:
        lines.extend(_wrap("fix: ", f.fix, pad))
    if f.advice:
        lines.extend(_wrap("advice: ", f.advice, pad))
    return lines
