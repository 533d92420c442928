"""`summarytool diff A B`: what changed between two summaries (saved JSON files or TARGETs summarised now).

Each side is a file written by `summarytool summary ... --format json` / `stats.to_json(path)`, or a
TARGET (as for `summarytool summary`), summarised with the --input-size/--dtypes/... options given.
Exit codes: 0 done (with --exit-code: 0 the same, 3 different); 1 a model failed; 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from summarytool.commands.summary_cmd import (
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_model_command,
    add_output_options,
    emit,
    report_error,
    summarize_target,
)

EXIT_DIFFERENT = 3

EXAMPLES = """examples:
  summarytool summary models.py:Net --input-size 1,3,32,32 --format json --output before.json
  # ...edit the model...
  summarytool diff before.json models.py:Net --input-size 1,3,32,32
  summarytool diff before.json after.json --format markdown >> "$GITHUB_STEP_SUMMARY"
  summarytool diff models.py:Net 'models.py:Net(width=64)' --input-size 1,3,32,32 --columns output_size,num_params,flops
  summarytool diff before.json after.json --exit-code    # exit 3 when anything changed (for CI)

Rows are matched by qualified name. A row is listed when its class, shapes, kernel, own params or
own FLOPs changed; added and removed sub-trees once, at their top row; then every total that moved.
exit codes: 0 done, 1 a model failed, 2 bad usage, 3 differences found (only with --exit-code)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `diff` sub-command to the `summarytool` parser."""
    parser = add_model_command(
        subparsers,
        "diff",
        [
            ("before", "A", "a summary JSON file or a TARGET (e.g. models.py:Net)"),
            ("after", "B", "a summary JSON file or a TARGET"),
        ],
        help="what changed between two summaries: rows whose params, shapes or FLOPs moved, and the totals",
        description="Compare two summaries (saved JSON files or TARGETs) and say what the edit did to the model.",
        epilog=EXAMPLES,
    )
    add_output_options(parser, ("text", "json", "markdown"))
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help=f"exit {EXIT_DIFFERENT} when the summaries differ (like git diff)",
    )
    parser.set_defaults(func=run, col_width=None)


def _is_summary_file(text: str) -> bool:
    return text.endswith(".json") and not text.startswith("hf:")


def load_side(text: str, args: argparse.Namespace) -> dict[str, Any]:
    """One side of the diff as a "summarytool.summary/1" dict."""
    from summarytool.schema import MAX_SUMMARY_BYTES, SchemaError, check_schema, load_json_text

    if _is_summary_file(text):
        if not os.path.isfile(text):
            raise UsageError(
                f"no such summary file: {text!r}",
                "write one with `summarytool summary TARGET --format json --output FILE`",
            )
        try:
            with open(text, encoding="utf-8") as f:
                raw = f.read(MAX_SUMMARY_BYTES + 1)  # bounded: the path may name /dev/zero
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{text!r} is not a readable JSON summary: {exc}", "re-create it with --format json"
            ) from exc
        try:
            data = load_json_text(raw, text)
            check_schema(data, text)
        except SchemaError as exc:
            raise UsageError(str(exc), "diff files written by `summarytool summary --format json`") from exc
        return data
    return summarize_target(text, args).to_dict()


def run(args: argparse.Namespace) -> int:
    """Load or summarise both sides, print what changed; see the module docstring for exit codes."""
    from summarytool.render.diff import (
        diff_summaries,
        diff_to_json,
        diff_to_markdown,
        diff_to_text,
        has_changes,
    )

    try:
        before = load_side(args.before, args)
        after = load_side(args.after, args)
    except Exception as exc:
        return report_error("diff", exc)
    result = diff_summaries(before, after)
    if args.format == "json":
        text = diff_to_json(result, [args.before, args.after])
    elif args.format == "markdown":
        text = diff_to_markdown(result, args.before, args.after)
    else:
        text = diff_to_text(result, args.before, args.after)
    try:
        emit(text, args.output)
    except OSError as exc:
        print(
            f"summarytool diff: error: cannot write {args.output!r}: {exc}\nfix: pick a writable path",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.exit_code and has_changes(result):
        return EXIT_DIFFERENT
    return EXIT_OK
