"""`summarytool summary TARGET [...]`: summarise a model from the shell, as text, JSON, CSV, Markdown or HTML.

Exit codes: 0 done; 1 the model failed (the message names the module and its input shapes, and the
rows that ran are printed); 2 bad usage (unknown target, unparsable shape, missing optional package),
always with a one-line fix.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from summarytool.capture.device_memory import available_bytes

EXIT_OK = 0
EXIT_MODEL_FAILED = 1
EXIT_USAGE = 2

FORMATS = ("text", "json", "csv", "markdown", "html")
# summarytool.capture.memory.OPTIMIZERS (not imported: the CLI starts without torch; a test keeps them equal)
OPTIMIZERS = ("adam", "adamw", "sgd", "adafactor")

# Widest text column: a column is padded to this width on every row, so 10**9 would fill the memory.
MAX_COL_WIDTH = 1000

# `--debug`, set by summarytool.cli.main for one command: errors then show their traceback.
DEBUG: contextvars.ContextVar[bool] = contextvars.ContextVar("summarytool_debug", default=False)

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


# torch indexes elements with int64: no size, and no shape's element count, may reach 2**63.
MAX_NUMEL = 2**63 - 1
SHAPE_FIX = "write the shape (batch included) as comma-separated sizes, e.g. --input-size 1,3,224,224"


def _shown(text: str, limit: int = 60) -> str:
    """repr(text), cut short: a message quotes what it got without repeating a megabyte of it."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224', '1x3x224x224' or '(1, 3, 224, 224)' as a tuple of sizes; '' or '()' is a 0-d input.

    Any string is either a shape torch can index or a UsageError (digits are ASCII only), in linear time.
    """
    inner = text.strip().strip("()[]").strip()
    if not inner:
        return ()
    # Commas, else "x" (1x3x224x224), else spaces separate the sizes.
    sep = "," if "," in inner else ("x" if "x" in inner else None)
    parts = [p.strip() for p in inner.split(sep)]
    sizes = []
    numel = 1
    for p in parts:
        # ASCII only: str.isdigit() also accepts '²' (which int() rejects) and '٤' (which it reads as 4).
        if not (p.isascii() and p.isdigit()) or not p.strip("0"):
            raise UsageError(
                f"--input-size {_shown(text)}: {_shown(p)} is not a positive whole number", SHAPE_FIX
            )
        # Bounded before int(), which takes quadratic time (and refuses) on thousands of digits.
        size = int(p) if len(p.lstrip("0")) <= 19 else MAX_NUMEL + 1
        numel *= size
        if numel > MAX_NUMEL:
            raise UsageError(
                f"--input-size {_shown(text)} is too large: torch indexes at most 2**63-1 elements",
                "give a shape torch can hold, e.g. --input-size 1,3,224,224 (--device meta runs huge shapes for free)",
            )
        sizes.append(size)
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


def _enum_list(text: str, enums: Sequence[type], flag: str, example: str) -> list[str]:
    """The comma-separated values of `flag`, each a value of one of `enums` (torchinfo's, then summarytool's)."""
    values = [p.strip() for p in text.split(",") if p.strip()]
    allowed = [e.value for enum in enums for e in enum]
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
    from summarytool.enums import ColumnSettings, CostColumns, OutputRowSettings, RowSettings

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
        help=f"columns: {', '.join(c.value for c in ColumnSettings)}; summarytool's own: "
        f"{', '.join(c.value for c in CostColumns)} (default output_size,num_params)",
    )
    parser.add_argument(
        "--rows",
        metavar="R1,R2",
        help=f"row settings: {', '.join(r.value for r in RowSettings)}; summarytool's own: "
        f"{', '.join(r.value for r in OutputRowSettings)} (every output's shape)",
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
        choices=OPTIMIZERS,
        help=f"estimate a training step's peak memory with this optimizer ({', '.join(OPTIMIZERS)})",
    )
    parser.add_argument(
        "--seq-len",
        type=int,
        metavar="N",
        help="a language model's input instead of --input-size: input_ids and attention_mask of shape "
        "(--batch, N), and decoder_input_ids for encoder-decoder models",
    )
    parser.add_argument("--batch", type=int, default=1, metavar="B", help="the batch of --seq-len (1)")
    parser.add_argument(
        "--hf-task",
        default="auto",
        metavar="TASK",
        help="the head an hf: config is built with: auto (the config's architectures, else the base "
        "model), base, causal-lm, masked-lm, seq2seq-lm, sequence-classification, image-classification",
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
    add_debug_option(parser)
    return parser


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """--debug: show the traceback behind an error (the top-level `summarytool --debug` does the same)."""
    # SUPPRESS: when not given here, `summarytool --debug COMMAND` is not overridden by this default.
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback behind an error"
    )


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


def undo_dashdash(args: argparse.Namespace) -> None:
    """Read `--opt=--` as the text '--': Python 3.11's argparse hands it over as [] (in --input-size, [[]])."""
    for key, value in list(vars(args).items()):
        if key == "input_size":
            args.input_size = [v if isinstance(v, str) else "--" for v in value]
        elif isinstance(value, list) and not value:
            setattr(args, key, "--")


def summary_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """summary()'s arguments from the parsed options; UsageError for anything unreadable."""
    from summarytool.enums import (
        INPUT_NEEDED_COLUMNS,
        ColumnSettings,
        CostColumns,
        OutputRowSettings,
        RowSettings,
    )

    undo_dashdash(args)
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
    if args.batch_dim is not None:
        check_batch_dim(args.batch_dim, sizes)
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
    has_input = bool(sizes) or getattr(args, "seq_len", None) is not None  # (--seq-len: token inputs)
    if args.columns:
        kwargs["col_names"] = _enum_list(
            args.columns, (ColumnSettings, CostColumns), "--columns", "output_size,num_params"
        )
        needs_input = {c.value for c in INPUT_NEEDED_COLUMNS}
        if not has_input and needs_input & set(kwargs["col_names"]):
            raise UsageError(
                f"--columns {args.columns}: {', '.join(sorted(needs_input & set(kwargs['col_names'])))} need a forward pass",
                "add --input-size (e.g. --input-size 1,3,224,224) or --seq-len, or keep only parameter columns",
            )
    if args.train_step:
        if not has_input:
            raise UsageError(
                "--train-step needs --input-size", "give the input shapes, e.g. --input-size 1,3,224,224"
            )
        kwargs["train_step"] = args.train_step
    if getattr(args, "measure_memory", False):
        if not has_input:
            raise UsageError(
                "--measure-memory needs --input-size", "give the input shapes, e.g. --input-size 1,3,224,224"
            )
        kwargs["measure_memory"] = True
    if args.rows:
        kwargs["row_settings"] = _enum_list(
            args.rows, (RowSettings, OutputRowSettings), "--rows", "depth,var_names"
        )
    if args.device:
        kwargs["device"] = parse_device(args.device)
    if getattr(args, "col_width", None) is not None:
        if args.col_width <= 0:
            raise UsageError(f"--col-width {args.col_width} is not positive", "use --col-width 25")
        if args.col_width > MAX_COL_WIDTH:
            raise UsageError(
                f"--col-width {args.col_width} is too wide (every row is padded to it)",
                f"use --col-width 25 (the default), at most {MAX_COL_WIDTH}",
            )
        kwargs["col_width"] = args.col_width
    return kwargs


def check_batch_dim(batch_dim: int, sizes: Sequence[tuple[int, ...]]) -> None:
    """--batch-dim N inserts a dimension of size 1 at N in every input: N must fit the shortest shape."""
    if not sizes:
        raise UsageError(
            "--batch-dim needs --input-size",
            "give the shapes without the batch, e.g. --input-size 3,224,224 --batch-dim 0",
        )
    dims = min(len(s) for s in sizes)
    if not -(dims + 1) <= batch_dim <= dims:
        raise UsageError(
            f"--batch-dim {batch_dim} is out of range for an input of {dims} dimension(s): "
            f"the batch goes at 0 to {dims} (or -{dims + 1} to -1)",
            "use --batch-dim 0 to put the batch first",
        )


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def token_inputs(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    """--seq-len: the keyword inputs of a Hugging Face-style language model, (batch, seq_len) long."""
    import torch

    if args.input_size:
        raise UsageError("--seq-len and --input-size both give the input", "use one of them")
    if args.seq_len < 1 or args.batch < 1 or args.seq_len * args.batch > 2**31:
        raise UsageError(
            f"--seq-len {args.seq_len} --batch {args.batch} is not a usable input size",
            "give positive sizes, e.g. --seq-len 512 --batch 1",
        )
    shape = (args.batch, args.seq_len)
    inputs = {
        "input_ids": torch.zeros(shape, dtype=torch.long),
        "attention_mask": torch.ones(shape, dtype=torch.long),
    }
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = torch.zeros(shape, dtype=torch.long)
    return inputs


def input_device(model: Any, args: argparse.Namespace) -> Any:
    """The device the generated inputs are made on (meta for a dry run), as summary() chooses it."""
    import torch

    if args.train_step and not getattr(args, "measure_memory", False):
        return torch.device("meta")  # the estimate runs on meta copies
    if args.device:
        return torch.device(args.device)
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def check_input_memory(kwargs: dict[str, Any], device: Any, shown: str) -> None:
    """Refuse, before anything is allocated, inputs larger than the memory free on `device`."""
    import torch

    sizes = kwargs.get("input_size") or []
    if not sizes or device.type == "meta":
        return
    dtypes = kwargs.get("dtypes") or [torch.float32] * len(sizes)
    need = 0
    for shape, dtype in zip(sizes, dtypes, strict=False):
        numel = 1
        for n in shape:
            numel *= n
        # Made as float32 by torch.rand, then cast: both exist for a moment.
        itemsize = 4 + (0 if dtype == torch.float32 else dtype.itemsize)
        need += numel * itemsize
    free = available_bytes(device)
    if free is not None and need > free:
        raise UsageError(
            f"{shown}: the inputs need {_human(need)} on {device}, but only {_human(free)} of memory is free",
            "use a smaller --input-size, or --device meta for a dry run that allocates nothing",
        )


def _is_allocation_failure(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


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
    """Load TARGET and summarise it; raises UsageError/TargetError (exit 2) or SummaryError (exit 1).

    What the target prints while it is imported, built or run goes to stderr: stdout is the report.
    """
    from summarytool.api import summary
    from summarytool.errors import SummaryError
    from summarytool.targets import load_target

    kwargs = summary_kwargs(args)
    # A dry run or an estimate never needs the weights: the target is built on meta from the start.
    on_meta = args.device == "meta" or bool(args.train_step and not getattr(args, "measure_memory", False))
    with contextlib.redirect_stdout(sys.stderr):
        model = load_target(target, on_meta=on_meta, hf_task=getattr(args, "hf_task", "auto"))
        if getattr(args, "seq_len", None) is not None:
            kwargs["input_data"] = token_inputs(model, args)
        device = input_device(model, args)
        check_input_memory(kwargs, device, " ".join(f"--input-size {s}" for s in args.input_size))
        try:
            stats = summary(model, **kwargs)
        except SummaryError as exc:
            raise _with_mode_hint(exc, model, args.mode) from exc.__cause__
        except (ValueError, TypeError) as exc:  # summary() rejecting an argument
            raise UsageError(str(exc), "fix the option it names; see `summarytool summary --help`") from exc
        except Exception as exc:
            if not _is_allocation_failure(exc):
                raise
            raise UsageError(
                f"out of memory on {device} before the forward pass: {str(exc).splitlines()[0][:300]}",
                "use a smaller --input-size, or --device meta for a dry run that allocates nothing",
            ) from exc
        except SystemExit as exc:  # the model's forward (or a hook) must not end the command
            raise SummaryError(
                f"the forward pass of {type(model).__name__} called sys.exit({exc.code!r}); "
                "a forward pass must return its output",
                module_class=type(model).__name__,
            ) from exc
    stats.run_settings = run_settings(target, args)
    return stats


def _with_mode_hint(exc: Any, model: Any, mode: str) -> Any:
    """A model that says it failed for being in training mode (torchvision's detectors want targets
    there, and library models are built in it): the error points at --mode eval."""
    cause = exc.__cause__ or exc
    in_training = mode == "train" or (mode == "same" and getattr(model, "training", False))
    if not in_training or "train" not in str(cause).lower():
        return exc
    hint = (
        f"The model ran in training mode (--mode {mode}"
        + ("; library models are built in it" if mode == "same" else "")
        + "); for a summary of inference, run with --mode eval."
    )
    out = type(exc)(
        f"{exc}\n{hint}", exc.partial_summary, exc.module_name, exc.module_class, exc.input_shapes
    )
    return out


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
    """Write to FILE, or to stdout tolerating a reader that stopped early (`| head`).

    OSError when FILE or stdout cannot take it (a full disk); stdout then points at /dev/null, so
    Python's own flush at exit does not fail a second time.
    """
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    except OSError:
        _stdout_to_devnull()
        raise


def _stdout_to_devnull() -> None:
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def report_error(command: str, exc: BaseException) -> int:
    """Print a usage, target or model error the way each should read; return its exit code.

    Anything else is one line naming the exception (exit 1); with --debug it is raised instead, and
    the errors above are printed after their traceback.
    """
    from summarytool.errors import SummaryError
    from summarytool.targets import TargetError

    known = isinstance(exc, (UsageError, TargetError, SummaryError))
    if DEBUG.get():
        if not known:
            raise exc
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, (UsageError, TargetError)):
        print(f"summarytool {command}: error: {exc.args[0]}\nfix: {exc.fix}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, SummaryError):
        print(f"summarytool {command}: the model failed.\n{exc}", file=sys.stderr)
        if exc.partial_summary is not None:
            print("The rows that ran before the failure:", file=sys.stderr)
            print(exc.partial_summary, file=sys.stderr)
        return EXIT_MODEL_FAILED
    text = str(exc).strip().splitlines()
    print(
        f"summarytool {command}: error: unexpected {type(exc).__name__}: {text[0][:500] if text else ''}\n"
        "run it again with --debug for the traceback, and report it if summarytool is at fault",
        file=sys.stderr,
    )
    return EXIT_MODEL_FAILED


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
        undo_dashdash(args)
        check_output(args.output)
        stats = summarize_target(args.target, args)
        text = render(stats, args.format)
        try:
            emit(text, args.output)
        except OSError as exc:
            where = f"--output {args.output!r}" if args.output else "standard output"
            raise UsageError(
                f"cannot write {where}: {exc.strerror or exc}",
                "free some space or write elsewhere (--output FILE on a disk with room)",
            ) from exc
    except Exception as exc:
        return report_error("summary", exc)
    if args.output:
        print(f"summarytool summary: wrote {args.format} to {args.output}", file=sys.stderr)
    return EXIT_OK
