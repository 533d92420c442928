"""The report: sections in order, --strict, the text a person reads and the JSON a machine reads."""

from __future__ import annotations

import json

from summarytool.selfcheck.report import SCHEMA, Report, Section
from summarytool.selfcheck.verdicts import Finding, Verdict

WARN = Finding("driver-cuda", Verdict.WARN, "driver 12.4 < torch 12.8", reason="minor older", fix="upgrade")
OK = Finding("nvml", Verdict.OK, "NVML answers")


def _report(strict: bool) -> Report:
    sections = [
        Section("nvml", "Driver and GPUs (NVML)", [OK], ["driver 550"], {"driver_version": "550"}),
        Section("torch", "torch build"),
        Section("compatibility", "Compatibility", [WARN]),
    ]
    return Report(sections=sections, strict=strict, allow_cpu=False, reference="simplecnn", seconds=1.25)


def test_warn_exits_0_and_strict_makes_it_fail() -> None:
    lenient, strict = _report(strict=False), _report(strict=True)
    assert lenient.verdict is Verdict.WARN and lenient.exit_code == 0
    assert strict.verdict is Verdict.FAIL and strict.exit_code == 1
    escalated = strict.sections[2].findings[0]
    assert escalated.verdict is Verdict.FAIL and escalated.strict_escalated
    assert strict.sections[0].findings[0].verdict is Verdict.OK  # OK stays OK


def test_json_document() -> None:
    doc = json.loads(_report(strict=True).to_json())
    assert doc["schema"] == SCHEMA == "summarytool.selfcheck/1"
    assert doc["verdict"] == "FAIL" and doc["exit_code"] == 1
    assert doc["counts"] == {"OK": 1, "WARN": 0, "FAIL": 1}
    assert [s["id"] for s in doc["sections"]] == ["nvml", "torch", "compatibility"]
    assert doc["sections"][1]["verdict"] is None  # nothing checked there
    assert doc["sections"][0]["data"] == {"driver_version": "550"}
    assert doc["sections"][2]["findings"][0]["fix"] == "upgrade"
    assert doc["options"] == {"strict": True, "allow_cpu": False, "reference": "simplecnn"}


def test_text_shows_sections_in_order_with_reason_and_fix() -> None:
    text = _report(strict=False).to_text()
    assert text.splitlines()[0].startswith("summarytool selfcheck: WARN (0 FAIL, 1 WARN, 1 OK)")
    positions = [text.index(t) for t in ("1. Driver and GPUs", "2. torch build", "3. Compatibility")]
    assert positions == sorted(positions)
    assert "reason: minor older" in text and "fix: upgrade" in text
    assert text.rstrip().endswith("exit code 0")
    assert "made FAIL by --strict" in _report(strict=True).to_text()
