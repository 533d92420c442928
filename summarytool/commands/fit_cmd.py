"""`summarytool fit TARGET --input-size ... --memory 16GiB`: the largest batch (or sequence) that fits."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from summarytool.commands.summary_cmd import EXIT_OK, OPTIMIZERS, UsageError, emit, parse_shape, report_error

EXIT_DOES_NOT_FIT = 3  # not even size 1 fits (the answer is printed; 1 is a failing model, 2 usage)

EXAMPLES = """examples:
  summarytool fit models.py:Net --input-size 8,3,224,224 --memory 16GiB
  summarytool fit hf:llama/config.json --input-size 1,4096 --dtypes long --search seq --memory 80GiB \\
      --precision bf16-mixed --checkpoint LlamaDecoderLayer --world-size 8 --shard fsdp
  summarytool fit models.py:Net --input-size 1,3,224,224 --memory gpu --format json

The search runs dry runs on the meta device: nothing is allocated and no GPU is needed (but for
--memory gpu, which reads the GPU's free memory through NVML, less 1 GiB and 5% for the CUDA
context and the allocator). Exit status: 0 an answer, 1 the model failed, 2 a usage mistake,
3 not even size 1 fits (what would is printed)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="the largest batch (or sequence length) whose training step fits in a memory budget",
        description="Find the largest batch size (or sequence length) whose training-step peak fits.",
        epilog=EXAMPLES,
    )
    parser.add_argument("target", metavar="TARGET", help="the model, as for `summarytool summary`")
    parser.add_argument(
        "--input-size",
        metavar="SHAPE",
        action="append",
        default=[],
        help="one input's shape (repeat per input)",
    )
    parser.add_argument(
        "--dtypes", metavar="D1,D2", help="one torch dtype per input, e.g. long for token ids"
    )
    parser.add_argument(
        "--memory", required=True, metavar="SIZE", help="per-rank budget: 16GiB, 24GB, gpu, gpu:1"
    )
    parser.add_argument("--batch-dim", type=int, default=0, metavar="N", help="the batch dimension (0)")
    parser.add_argument("--search", choices=("batch", "seq"), default="batch", help="what to grow (batch)")
    parser.add_argument("--train-step", choices=OPTIMIZERS, default="adamw", help="optimizer (adamw)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed"),
        default="fp32",
        help="fp32, pure bf16/fp16, or autocast bf16-mixed/fp16-mixed with fp32 master weights",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="CLASSNAME",
        help="estimate these blocks checkpointed",
    )
    parser.add_argument(
        "--accumulate", type=int, default=1, metavar="K", help="micro-batches per optimizer step"
    )
    parser.add_argument(
        "--world-size", type=int, default=1, metavar="N", help="ranks the model is sharded over"
    )
    parser.add_argument("--shard", choices=("none", "ddp", "zero1", "zero2", "fsdp"), default=None)
    parser.add_argument(
        "--device",
        default="cuda",
        help="where training runs: its kernel choices and, for a mixed precision, autocast's op lists (cuda)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = _fit(args)
        text = json.dumps(result.to_dict(), indent=2) + "\n" if args.format == "json" else render(result)
        emit(text, args.output)
    except Exception as exc:
        return report_error("fit", exc)
    return EXIT_OK if result.max_size > 0 else EXIT_DOES_NOT_FIT


def _fit(args: argparse.Namespace) -> Any:
    from summarytool.commands.summary_cmd import parse_dtypes
    from summarytool.planner import fit
    from summarytool.targets import load_target

    if not args.input_size:
        raise UsageError("fit needs --input-size", "give the shape at batch 1, e.g. --input-size 1,3,224,224")
    shapes = [parse_shape(s) for s in args.input_size]
    dtypes = parse_dtypes(args.dtypes) if args.dtypes else None
    shard = args.shard or ("ddp" if args.world_size > 1 else "none")
    with contextlib.redirect_stdout(sys.stderr):
        model = load_target(args.target, on_meta=True)
        try:
            return fit(
                model,
                shapes,
                args.memory,
                train_step=args.train_step,
                precision=args.precision,
                checkpoint=args.checkpoint,
                accumulate=args.accumulate,
                world_size=args.world_size,
                shard=shard,
                search=args.search,
                batch_dim=args.batch_dim,
                dtypes=dtypes,
                device=args.device,
            )
        except ValueError as exc:
            raise UsageError(str(exc), "fix the option it names; see `summarytool fit --help`") from exc


_RULES = {"cuda": "CUDA's autocast op lists", "cpu": "the CPU's autocast op lists"}


def _size(n: int | None) -> str:
    if n is None:
        return "--"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,} B"


def render(result: Any) -> str:
    """The answer, the peak at it and at the next size, and the split (per rank)."""
    what = "batch size" if result.search == "batch" else "sequence length"
    setup = result.setup
    assumed = (
        f"{setup.optimizer}, {setup.precision}, accumulate {setup.accumulate}, "
        f"{'sharded ' + setup.shard + ' over ' + str(setup.world_size) if setup.shard != 'none' else 'one process'}"
        + (f", checkpointed {', '.join(setup.checkpoint)}" if setup.checkpoint else "")
        + (f", {_RULES[setup.autocast_rules]}" if setup.autocast_rules else "")
    )
    lines = [f"Budget per rank: {_size(result.budget_bytes)}   setup: {assumed}"]
    if result.max_size == 0:
        lines.append(f"Not even a {what} of 1 fits: its estimated peak is {_size(result.next_peak_bytes)}.")
        lines += [f"  - {tip}" for tip in result.advice]
        return "\n".join(lines) + "\n"
    lines.append(f"Largest {what} that fits: {result.max_size:,}")
    lines.append(f"  estimated peak at {result.max_size:,}: {_size(result.peak_bytes)}")
    lines.append(f"  estimated peak at {result.max_size + 1:,}: {_size(result.next_peak_bytes)}")
    split = result.split
    if split is not None:
        lines.append(
            f"  at the peak ({split.phase}): parameters {_size(split.parameters)}, gradients "
            f"{_size(split.gradients)}, optimizer state {_size(split.optimizer_state)}, activations and "
            f"temporaries {_size(split.activations)}"
        )
        lines.append(f"  trainable {_size(split.trainable_bytes)}, frozen {_size(split.frozen_bytes)}")
        lines += [f"  note: {note}" for note in split.notes]
    lines.append(f"  ({len(result.probes)} dry runs)")
    return "\n".join(lines) + "\n"
