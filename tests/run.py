"""Run the test suite, treating "no tests collected" (pytest exit 5) as a failure, not a pass."""

from __future__ import annotations

import sys

import pytest

EXIT_NO_TESTS = 5


def main(argv: list[str]) -> int:
    code = int(pytest.main(["-q", *argv]))
    if code == EXIT_NO_TESTS:
        print("tests/run.py: pytest collected no tests; that is a failure here", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
