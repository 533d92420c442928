"""Time summary() against torchinfo (PyPI) and a plain forward pass on models with many rows.

Prints a markdown table. Run by hand: `python bench/bench_speed.py` (or `make bench`).
Not a test: timings depend on the machine; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import summarytool


def binary_tree(depth: int) -> nn.Module:
    """2**(depth+1) - 1 modules: Sequentials with Identity leaves."""
    if depth == 0:
        return nn.Identity()
    return nn.Sequential(binary_tree(depth - 1), binary_tree(depth - 1))


def chain(rows: int) -> nn.Module:
    """One Sequential holding rows - 1 small layers (Linear and ReLU alternating)."""
    layers = [nn.Linear(4, 4) if i % 2 == 0 else nn.ReLU() for i in range(rows - 1)]
    return nn.Sequential(*layers)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time (minimum under 3 runs). The garbage of earlier runs is collected before each
    run, untimed: in a loop it would otherwise be charged to whichever later run a collection starts
    in. The collector stays on while a run is timed, as in a user's session."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            fn()
        times.append(time.perf_counter() - start)
    return min(times) if repeat < 3 else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import torchinfo
    except ImportError:
        torchinfo = None

    cases = [
        ("binary tree, 16,383 rows", lambda: binary_tree(13)),
        ("chain, 12,000 rows", lambda: chain(12_000)),
        ("binary tree, 1,023 rows", lambda: binary_tree(9)),
    ]
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(
        f"summarytool {summarytool.__version__}, torchinfo {getattr(torchinfo, '__version__', 'not installed')}"
    )
    print()
    print("| model | forward | summarytool | torchinfo | torchinfo / summarytool | summarytool / forward |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, make in cases:
        model = make()
        x = torch.rand(1, 4)
        rows = len(summarytool.summary(model, (1, 4), depth=99, verbose=0).summary_list)

        def forward(model: nn.Module = model, x: torch.Tensor = x) -> None:
            with torch.no_grad():
                model(x)

        t_fwd = best_of(forward, args.repeat)
        t_ours = best_of(lambda m=model: summarytool.summary(m, (1, 4), depth=99, verbose=0), args.repeat)
        if torchinfo is not None:
            t_theirs = best_of(lambda m=model: torchinfo.summary(m, (1, 4), depth=99, verbose=0), args.repeat)
            theirs, ratio = f"{t_theirs:.3f} s", f"{t_theirs / t_ours:.1f}x"
        else:
            theirs = ratio = "n/a"
        print(
            f"| {name} ({rows:,} rows) | {t_fwd:.3f} s | {t_ours:.3f} s | {theirs} | {ratio} | {t_ours / t_fwd:.1f}x |"
        )


if __name__ == "__main__":
    main()
