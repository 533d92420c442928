"""Run the test suite, treating "no tests collected" (pytest exit 5) as a failure, not a pass.

At the end it prints why tests were skipped, grouped (how many, why, how to enable them), so a
newcomer can tell that the image tests did not run for want of a Docker engine.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import pytest

EXIT_NO_TESTS = 5

# What to do about a skip reason, by a phrase it contains (reasons that say it themselves need none).
HOW_TO_ENABLE = {
    "Docker engine": "start one as .ci/run does (bash image/ci-prepare.sh), or run `make test-unit` to skip them",
    "docker CLI": "apt-get install -y docker.io, then start an engine (bash image/ci-prepare.sh)",
    "CUDA GPU": "run on a machine with an NVIDIA GPU (see docs/gpu-session.md)",
    "is not installed": "pip install -e '.[test]' (and requirements/image-test.txt for the image tests)",
}


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


def _image_reason(reason: str) -> str:
    # Every image test gives the same reason with details (DOCKER_HOST, stderr): group them by its head.
    return reason.split(":", 1)[0] if reason.startswith("no Docker engine") else reason


class SkipSummary:
    """Collects skip reasons and prints them grouped at the end of the run."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.skipped:
            self.reasons[_image_reason(_reason(report))] += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.reasons:
            return
        terminalreporter.section("why tests were skipped")
        for reason, count in self.reasons.most_common():
            hint = next((how for phrase, how in HOW_TO_ENABLE.items() if phrase in reason), None)
            line = f"{count:4d} skipped: {reason}"
            terminalreporter.write_line(line + (f"\n      to run them: {hint}" if hint else ""))


def main(argv: list[str]) -> int:
    code = int(pytest.main(["-q", *argv], plugins=[SkipSummary()]))
    if code == EXIT_NO_TESTS:
        print("tests/run.py: pytest collected no tests; that is a failure here", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
