"""`summarytool summary TARGET [...]`: summarise a model from the shell, as text, JSON, CSV, Markdown or HTML.

Exit codes: 0 done; 1 the model failed (the message names the module and its input shapes, and the
rows that ran are printed); 2 bad usage (unknown target, unparsable shape, missing optional package),
always with a one-line fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_MODEL_FAILED = 1
EXIT_USAGE = 2

FORMATS = ("text", "json", "csv", "markdown", "html")

EXAMPLES = """examples:
  summarytool summary models.py:Net --input-size 1,3,224,224
  summarytool summary 'models.py:Net(num_classes=10)' --input-size 8,3,32,32 --depth 2
  summarytool summary mypkg.models:build_tagger --input-size 2,16 --dtypes long
  summarytool summary models.py:TwoTower --input-size 1,3,64,64 --input-size 1,10
  summarytool summary models.py:Net --input-size 1,3,224,224 --columns input_size,output_size,num_params,flops
  summarytool summary models.py:Net --input-size 1,3,224,224 --device meta    # dry run, no memory
  summarytool summary models.py:Net --input-size 32,3,224,224 --train-step adamw  # training-step memory
  summarytool summary models.py:Net --input-size 32,3,224,224 --device cuda --train-step adam --measure-memory
  summarytool summary models.py:Net --input-size 1,3,224,224 --format json --output net.json
  summarytool summary torchvision:resnet50 --input-size 1,3,224,224          # never downloads weights
  summarytool summary hf:configs/bert-tiny/config.json --input-size 1,16 --dtypes long

TARGET is FILE.py:NAME, package.module:NAME (NAME: an nn.Module class, a factory function or a
model instance; NAME(args) with literal arguments), torchvision:NAME, timm:NAME or hf:CONFIG.json.
Without --input-size only parameters are listed (no forward pass).
exit codes: 0 done, 1 the model failed, 2 bad usage."""


class UsageError(Exception):
    """Bad command-line input: the message says what was wrong, `fix` what to type instead."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224', '1x3x224x224' or '(1, 3, 224, 224)' as a tuple of sizes; '' or '()' is a 0-d input."""
    inner = text.strip().strip("()[]").strip()
    if not inner:
        return ()
    # Commas, else "x" (1x3x224x224), else spaces separate the sizes.
    sep = "," if "," in inner else ("x" if "x" in inner else None)
    parts = [p.strip() for p in inner.split(sep)]
    sizes = []
    for p in parts:
        if not p.isdigit() or int(p) <= 0:
            raise UsageError(
                f"--input-size {text!r}: {p!r} is not a positive whole number",
                "write the shape (batch included) as comma-separated sizes, e.g. --input-size 1,3,224,224",
            )
        sizes.append(int(p))
    return tuple(sizes)


def parse_dtypes(text: str) -> list[Any]:
    """'float32,long' as torch dtypes, one per --input-size."""
    import torch

    out = []
    for name in (p.strip() for p in text.split(",") if p.strip()):
        value = getattr(torch, name.removeprefix("torch."), None)
        if not isinstance(value, torch.dtype):
            raise UsageError(
                f"--dtypes: {name!r} is not a torch dtype",
                "use torch's names, one per input, e.g. --dtypes float32,long (also: float16, bfloat16, int32, bool)",
            )
        out.append(value)
    if not out:
        raise UsageError("--dtypes is empty", "give one dtype per input, e.g. --dtypes float32,long")
    return out


def _enum_list(text: str, enum: type, flag: str, example: str) -> list[str]:
    values = [p.strip() for p in text.split(",") if p.strip()]
    allowed = [e.value for e in enum]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise UsageError(
            f"{flag} {text!r}: unknown {', '.join(map(repr, bad)) or 'empty list'}",
            f"choose from {','.join(allowed)}, e.g. {flag} {example}",
        )
    return values


def parse_device(text: str) -> str:
    """A torch device name that exists on this machine (cuda only when torch sees a GPU)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(
            f"--device {text!r} is not a device",
            "use --device cpu, --device cuda (or cuda:N) or --device meta",
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--device cuda: torch sees no CUDA GPU here", "use --device cpu, or --device meta for a dry run"
        )
    return text


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options that say how a TARGET is summarised (shared with `summarytool diff`)."""
    from summarytool.enums import ColumnSettings

    parser.add_argument(
        "--input-size",
        metavar="SHAPE",
        action="append",
        default=[],
        help="shape of one input, batch included: 1,3,224,224 (repeat for each input)",
    )
    parser.add_argument("--dtypes", metavar="D1,D2", help="one torch dtype per input, e.g. float32,long")
    parser.add_argument("--batch-dim", type=int, metavar="N", help="insert a batch dimension at N")
    parser.add_argument("--depth", type=int, default=3, metavar="N", help="rows nested deeper are folded (3)")
    parser.add_argument(
        "--columns",
        metavar="C1,C2",
        help=f"columns: {','.join(c.value for c in ColumnSettings)} (default output_size,num_params)",
    )
    parser.add_argument(
        "--rows", metavar="R1,R2", help="row settings: depth,var_names,ascii_only,hide_recursive_layers"
    )
    parser.add_argument(
        "--device", metavar="DEVICE", help="cpu, cuda[:N] or meta (meta: a dry run that allocates nothing)"
    )
    parser.add_argument(
        "--mode", choices=("same", "train", "eval"), default="same", help="training flag for the pass (same)"
    )
    parser.add_argument(
        "--train-step",
        metavar="OPTIMIZER",
        choices=("adam", "adamw", "sgd"),
        help="estimate a training step's peak memory with this optimizer (adam, adamw, sgd)",
    )
    parser.add_argument(
        "--measure-memory",
        action="store_true",
        help="measure memory on the device (CUDA: torch.cuda.max_memory_allocated; cpu: live tensors): "
        "the forward pass and, with --train-step, a real training step on a copy of the model",
    )


def add_model_command(
    subparsers: argparse._SubParsersAction, name: str, operands: Sequence[tuple[str, str, str]], **texts: str
) -> argparse.ArgumentParser:
    """A sub-command that summarises TARGETs, so `summary` and `diff` spell their shared options alike.

    `operands` are the positionals as (dest, metavar, help), `texts` the sub-command's help,
    description and epilog; the run options follow. Finish with add_output_options().
    """
    parser = subparsers.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **texts)
    for dest, metavar, help_text in operands:
        parser.add_argument(dest, metavar=metavar, help=help_text)
    add_run_options(parser)
    return parser


def add_output_options(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    """--format and --output, worded the same for every command that writes a report."""
    parser.add_argument("--format", choices=formats, default="text", help="output format (text)")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `summary` sub-command to the `summarytool` parser."""
    parser = add_model_command(
        subparsers,
        "summary",
        [("target", "TARGET", "what to summarise, e.g. models.py:Net (see below)")],
        help="summarise a model: layers, shapes, params, mult-adds, FLOPs (text/json/csv/markdown/html)",
        description="Summarise the model TARGET names, as torchinfo.summary would, in the format you need.",
        epilog=EXAMPLES,
    )
    parser.add_argument("--col-width", type=int, default=25, metavar="N", help="text column width (25)")
    add_output_options(parser, FORMATS)
    parser.set_defaults(func=run)


def summary_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """summary()'s arguments from the parsed options; UsageError for anything unreadable."""
    from summarytool.enums import INPUT_NEEDED_COLUMNS, ColumnSettings, RowSettings

    sizes = [parse_shape(s) for s in args.input_size]
    kwargs: dict[str, Any] = {
        "input_size": sizes or None,
        "depth": args.depth,
        "mode": args.mode,
        "batch_dim": args.batch_dim,
        "verbose": 0,
    }
    if args.depth < 0:
        raise UsageError(f"--depth {args.depth} is negative", "use --depth 0 for the root only, 3 by default")
    if args.dtypes:
        dtypes = parse_dtypes(args.dtypes)
        if not sizes:
            raise UsageError(
                "--dtypes needs --input-size", "give the shapes too, e.g. --input-size 1,16 --dtypes long"
            )
        if len(dtypes) != len(sizes):
            raise UsageError(
                f"--dtypes has {len(dtypes)} entries for {len(sizes)} --input-size",
                "give one dtype per --input-size, in the same order, e.g. --dtypes float32,long",
            )
        kwargs["dtypes"] = dtypes
    if args.columns:
        kwargs["col_names"] = _enum_list(args.columns, ColumnSettings, "--columns", "output_size,num_params")
        needs_input = {c.value for c in INPUT_NEEDED_COLUMNS}
        if not sizes and needs_input & set(kwargs["col_names"]):
            raise UsageError(
                f"--columns {args.columns}: {', '.join(sorted(needs_input & set(kwargs['col_names'])))} need a forward pass",
                "add --input-size (e.g. --input-size 1,3,224,224) or keep only parameter columns",
            )
    if args.train_step:
        if not sizes:
            raise UsageError(
                "--train-step needs --input-size", "give the input shapes, e.g. --input-size 1,3,224,224"
            )
        kwargs["train_step"] = args.train_step
    if getattr(args, "measure_memory", False):
        if not sizes:
            raise UsageError(
                "--measure-memory needs --input-size", "give the input shapes, e.g. --input-size 1,3,224,224"
            )
        kwargs["measure_memory"] = True
    if args.rows:
        kwargs["row_settings"] = _enum_list(args.rows, RowSettings, "--rows", "depth,var_names")
    if args.device:
        kwargs["device"] = parse_device(args.device)
    if getattr(args, "col_width", None) is not None:
        if args.col_width <= 0:
            raise UsageError(f"--col-width {args.col_width} is not positive", "use --col-width 25")
        kwargs["col_width"] = args.col_width
    return kwargs


def run_settings(target: str, args: argparse.Namespace) -> dict[str, Any]:
    """What to_dict() records under settings.run: how the CLI ran the model."""
    return {
        "target": target,
        "device": args.device,
        "dtypes": args.dtypes.split(",") if args.dtypes else None,
        "batch_dim": args.batch_dim,
        "mode": args.mode,
        "train_step": args.train_step,
        "measure_memory": bool(getattr(args, "measure_memory", False)),
    }


def summarize_target(target: str, args: argparse.Namespace) -> Any:
    """Load TARGET and summarise it; raises UsageError/TargetError (exit 2) or SummaryError (exit 1)."""
    from summarytool.api import summary
    from summarytool.targets import load_target

    kwargs = summary_kwargs(args)
    model = load_target(target)
    try:
        stats = summary(model, **kwargs)
    except (
        ValueError,
        TypeError,
    ) as exc:  # summary() rejecting an argument (model failures are SummaryError)
        raise UsageError(str(exc), "fix the option it names; see `summarytool summary --help`") from exc
    stats.run_settings = run_settings(target, args)
    return stats


def render(stats: Any, fmt: str) -> str:
    """The summary in one of FORMATS (HTML as a whole page: it is going to a file or a browser)."""
    if fmt == "json":
        return stats.to_json()
    if fmt == "csv":
        return stats.to_csv()
    if fmt == "markdown":
        return stats.to_markdown()
    if fmt == "html":
        return stats.to_html(full_page=True)
    return str(stats) + "\n"


def emit(text: str, output: str | None = None) -> None:
    """Write to FILE, or to stdout tolerating a reader that stopped early (`| head`)."""
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def report_error(command: str, exc: BaseException) -> int:
    """Print a usage, target or model error the way each should read; return its exit code."""
    from summarytool.errors import SummaryError
    from summarytool.targets import TargetError

    if isinstance(exc, (UsageError, TargetError)):
        print(f"summarytool {command}: error: {exc.args[0]}\nfix: {exc.fix}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, SummaryError):
        print(f"summarytool {command}: the model failed.\n{exc}", file=sys.stderr)
        if exc.partial_summary is not None:
            print("The rows that ran before the failure:", file=sys.stderr)
            print(exc.partial_summary, file=sys.stderr)
        return EXIT_MODEL_FAILED
    raise exc


def check_output(path: str | None) -> None:
    """Fail before running the model when FILE cannot be written."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(
            f"--output {path!r}: the folder {folder!r} does not exist", "create it or pick another path"
        )
    if os.path.isdir(path):
        raise UsageError(f"--output {path!r} is a folder", "give a file name, e.g. --output summary.json")


def run(args: argparse.Namespace) -> int:
    """Summarise TARGET and print or write it; the exit code says done (0), model failed (1), usage (2)."""
    try:
        check_output(args.output)
        stats = summarize_target(args.target, args)
    except Exception as exc:
        return report_error("summary", exc)
    emit(render(stats, args.format), args.output)
    if args.output:
        print(f"summarytool summary: wrote {args.format} to {args.output}", file=sys.stderr)
    return EXIT_OK
