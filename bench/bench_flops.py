"""FLOPs and time of summarytool against torchinfo, fvcore and ptflops on the reference models,
plus the dry-run cost of a 70B-parameter decoder and a ResNet-50 at batch 512, 1024x1024.

Prints markdown tables. Run by hand: `python bench/bench_flops.py` (peers are optional: pip install
torchinfo fvcore ptflops). FLOPs here = 2 x multiply-adds of the matrix products.
"""

from __future__ import annotations

import contextlib
import io
import platform
import resource
import time
from collections.abc import Callable

import torch
from torch import nn

import summarytool
from summarytool.zoo import ReferenceLSTM, llama3_70b, reference_encoder, resnet50_like


def timed(fn: Callable[[], float | None]) -> tuple[float | None, float]:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            value = fn()
        except Exception:  # a peer that cannot handle the model
            value = None
    return value, time.perf_counter() - start


def ours(model: nn.Module, shape: tuple[int, ...]) -> float:
    stats = summarytool.summary(model, shape, col_names=["flops"], mode="eval", verbose=0)
    return float(stats.total_flops)


def torchinfo_flops(model: nn.Module, shape: tuple[int, ...]) -> float:
    import torchinfo

    return 2.0 * torchinfo.summary(model, shape, verbose=0, mode="eval").total_mult_adds


def fvcore_flops(model: nn.Module, shape: tuple[int, ...]) -> float:
    from fvcore.nn import FlopCountAnalysis

    model.eval()
    return 2.0 * FlopCountAnalysis(model, torch.rand(shape)).total()  # fvcore counts one per MAC


def ptflops_flops(model: nn.Module, shape: tuple[int, ...]) -> float:
    from ptflops import get_model_complexity_info

    model.eval()
    macs, _ = get_model_complexity_info(
        model, shape[1:], as_strings=False, print_per_layer_stat=False, backend="pytorch"
    )
    return 2.0 * macs


def main() -> None:
    print(
        f"torch {torch.__version__}, Python {platform.python_version()}, summarytool {summarytool.__version__}"
    )
    print()
    cases = [
        ("TransformerEncoder 4x256 + Linear, seq 128", reference_encoder, (1, 128, 256), 873.07e6),
        ("2-layer LSTM(64, 256) x 128 steps + Linear", ReferenceLSTM, (128, 1, 64), 218.76e6),
    ]
    tools = [
        ("summarytool", ours),
        ("torchinfo", torchinfo_flops),
        ("fvcore", fvcore_flops),
        ("ptflops", ptflops_flops),
    ]
    print("| model | expected | " + " | ".join(name for name, _ in tools) + " |")
    print("|---|---:|" + "---:|" * len(tools))
    for label, make, shape, expected in cases:
        cells = []
        for _, fn in tools:
            timed(
                lambda fn=fn, make=make, shape=shape: fn(make(), shape)
            )  # warm-up (imports, first dispatch)
            value, seconds = timed(lambda fn=fn, make=make, shape=shape: fn(make(), shape))
            cells.append(
                "failed"
                if value is None
                else f"{value / 1e6:,.2f} M ({value / expected:.0%}, {seconds:.2f} s)"
            )
        print(f"| {label} | {expected / 1e6:,.2f} M | " + " | ".join(cells) + " |")

    print()
    print("| dry run on meta | time | FLOPs | params | peak RSS of this process |")
    print("|---|---:|---:|---:|---:|")
    with torch.device("meta"):
        big = llama3_70b()
    stats, seconds = None, 0.0
    start = time.perf_counter()
    stats = summarytool.summary(big, (1, 2048), dtypes=[torch.long], device="meta", verbose=0)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| Llama-3-70B shape, 2,048 tokens | {seconds:.2f} s | {stats.total_flops / 1e12:,.1f} T "
        f"| {stats.total_params:,} | {rss:,.0f} MB |"
    )
    model = resnet50_like()
    start = time.perf_counter()
    stats = summarytool.summary(model, (512, 3, 1024, 1024), device="meta", verbose=0)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"| ResNet-50 (real weights), batch 512 at 1024x1024 | {seconds:.2f} s | {stats.total_flops / 1e12:,.1f} T "
        f"| {stats.total_params:,} | {rss:,.0f} MB |"
    )


if __name__ == "__main__":
    main()
