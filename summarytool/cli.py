"""The `summarytool` command line: one sub-command per module, each registering itself."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module named here has `register(subparsers)`, which adds its sub-command and sets
# `func(args) -> int` as the parser default. Adding a command is adding a line here.
COMMAND_MODULES: tuple[str, ...] = (
    "summarytool.selfcheck.command",
    "summarytool.envreport.command",
    "summarytool.commands.summary_cmd",
    "summarytool.commands.diff_cmd",
    "summarytool.commands.fit_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="summarytool",
        description="Inspect what a PyTorch model costs, and check the GPU stack it runs on.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback behind an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parser.parse_args(argv), but an unknown option after COMMAND is reported with COMMAND's usage.

    argparse hands a sub-command's unknown options up to the top-level parser, whose error would show
    `usage: summarytool [-h] [--debug] COMMAND ...` for `summarytool env --lock X`.
    """
    args, extras = parser.parse_known_args(argv)
    if extras:
        commands = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
        owner = commands.get(getattr(args, "command", None) or "", parser)
        owner.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. Errors are a message, their traceback only with --debug."""
    from summarytool.commands.summary_cmd import DEBUG, report_error

    parser = build_parser()
    args = parse_args(parser, argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False))
    token = DEBUG.set(debug)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"summarytool {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a command's own handlers missed it: still one message, exit 1
        return report_error(args.command, exc)
    finally:
        DEBUG.reset(token)


if __name__ == "__main__":
    sys.exit(main())
