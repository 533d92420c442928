"""`summarytool selfcheck`: the argparse wiring and the exit code; the work is in `check`."""

from __future__ import annotations

import argparse
import os
import sys

from summarytool.selfcheck import reference
from summarytool.selfcheck.check import run_selfcheck

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `selfcheck` sub-command to the `summarytool` parser."""
    names = ", ".join(sorted(reference.REFERENCES))
    parser = subparsers.add_parser(
        "selfcheck",
        help="check the driver, the torch build and the GPUs, then summarise a reference model",
        description=(
            "Check the GPU stack: the driver and GPUs (NVML), the torch build, their compatibility, a smoke "
            "test on each device and the summary of a reference model. Exit code 0: nothing FAILs; 1: "
            "something FAILs; 2: bad usage."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (summarytool.selfcheck/1)"
    )
    parser.add_argument("--strict", action="store_true", help="count every WARN as a FAIL")
    parser.add_argument(
        "--allow-cpu", action="store_true", help="accept a host without any GPU (otherwise that is a FAIL)"
    )
    parser.add_argument(
        "--reference",
        metavar="NAME",
        default=reference.DEFAULT,
        help=f"the built-in model to summarise: {names} (default: {reference.DEFAULT})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the check and print it; the exit code says whether anything FAILs."""
    try:
        reference.get(args.reference)
    except reference.UnknownReferenceError as exc:
        print(f"summarytool selfcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = run_selfcheck(allow_cpu=args.allow_cpu, strict=args.strict, reference_name=args.reference)
    emit(report.to_json() if args.json else report.to_text())
    return report.exit_code


def emit(text: str) -> None:
    """Print the report, tolerating a reader that stopped early (`| head`): the exit code still counts."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
