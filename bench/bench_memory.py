"""Training-step memory: summarytool's estimate and torchinfo's "Estimated Total Size" against a measurement.

For each reference model, one Adam training step (train mode): summarytool estimates it on meta
copies (`train_step=True`), torchinfo 1.8.0 prints its size estimate, and `measure_memory=True`
runs the step for real on a copy of the model (CUDA: torch.cuda.max_memory_allocated; CPU: the
peak of live tensor storages). Prints a markdown table. Run by hand:

    python bench/bench_memory.py                 # CPU
    python bench/bench_memory.py --device cuda   # on a GPU machine (the numbers for docs/)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

import summarytool
from summarytool.zoo import reference_encoder, resnet50_like

# name, builder, input shape on CPU, input shape on CUDA (larger: fixed library workspaces matter less)
CASES: list[tuple[str, Callable[[], nn.Module], tuple[int, ...], tuple[int, ...]]] = [
    ("ResNet-50-like CNN", resnet50_like, (4, 3, 224, 224), (64, 3, 224, 224)),
    ("Transformer encoder (#4)", reference_encoder, (8, 128, 256), (128, 128, 256)),
]


def torchinfo_total(model: nn.Module, shape: tuple[int, ...], device: str) -> float | None:
    try:
        import torchinfo
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        stats = torchinfo.summary(model, shape, device=device, mode="train", verbose=0)
    return float(stats.total_input + stats.total_output_bytes + stats.total_param_bytes)


def mb(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:,.1f}"


def ratio(a: float | None, b: float) -> str:
    return "n/a" if a is None else f"{a / b:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    args = parser.parse_args()
    on_cuda = torch.device(args.device).type == "cuda"
    where = torch.cuda.get_device_name(args.device) if on_cuda else platform.processor() or platform.machine()
    print(
        f"torch {torch.__version__}, summarytool {summarytool.__version__}, device {args.device} ({where})\n"
    )
    print(
        "| model | input | torchinfo Estimated Total Size (MB) | summarytool estimate (MB) | measured peak (MB) "
        "| estimate / measured | torchinfo / measured | estimate time (s) | measured step time (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, build, cpu_shape, cuda_shape in CASES:
        shape = cuda_shape if on_cuda else cpu_shape
        torch.manual_seed(0)
        model = build().train()
        start = time.perf_counter()
        estimate = summarytool.summary(
            model, shape, device=args.device, train_step="adam", verbose=0
        ).memory.peak_bytes
        estimate_s = time.perf_counter() - start
        start = time.perf_counter()
        stats = summarytool.summary(
            model, shape, device=args.device, train_step="adam", measure_memory=True, verbose=0
        )
        measured_s = time.perf_counter() - start - estimate_s  # the same call also makes the estimate
        measured = stats.measured_memory.train_step.peak_bytes
        theirs = torchinfo_total(model, shape, args.device)
        print(
            f"| {name} | {list(shape)} | {mb(theirs)} | {mb(estimate)} | {mb(measured)} | {estimate / measured:.3f} "
            f"| {ratio(theirs, measured)} | {estimate_s:.2f} | {max(measured_s, 0.0):.2f} |"
        )
    method = "torch.cuda.max_memory_allocated" if on_cuda else "peak of live tensor storages"
    print(f"\nmeasured = one real Adam step on a copy of the model ({method}).")


if __name__ == "__main__":
    main()
