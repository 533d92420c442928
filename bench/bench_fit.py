"""The planner's speed: how long `summarytool.fit` takes to answer, and its peak memory.

Each search runs in a process of its own so that its peak RSS is its own. Prints a Markdown table,
with the machine's 1-minute load average before and after each search (the machine is shared).

    python bench/bench_fit.py [--skip-70b]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SEARCHES = {
    "ResNet-50, 224x224, AdamW fp32, 16 GiB": (
        "from summarytool.zoo import resnet50_like as build",
        "fit(build(), (1, 3, 224, 224), '16GiB', train_step='adamw')",
    ),
    "ResNet-50, 224x224, AdamW bf16-mixed, 16 GiB": (
        "from summarytool.zoo import resnet50_like as build",
        "fit(build(), (1, 3, 224, 224), '16GiB', train_step='adamw', precision='bf16-mixed')",
    ),
}
LLAMA = (
    "import torch\nfrom summarytool.zoo import llama3_70b\n"
    "def build():\n    with torch.device('meta'):\n        return llama3_70b()"
)
for optimizer, ranks in (("adamw", 8), ("adamw", 64), ("adafactor", 8)):
    name = "AdamW" if optimizer == "adamw" else "Adafactor"
    SEARCHES[f"Llama-3-70B shape, 4,096 tokens, {name} bf16-mixed, checkpointed, FSDP x {ranks}, 80 GiB"] = (
        LLAMA,
        f"fit(build(), (1, 4096), '80GiB', train_step='{optimizer}', precision='bf16-mixed', "
        f"dtypes=[torch.long], checkpoint=['DecoderLayer'], world_size={ranks}, shard='fsdp')",
    )

RUNNER = """
import json, time
{setup}
from summarytool import fit
start = time.perf_counter()
result = {call}
print(json.dumps({{"seconds": time.perf_counter() - start, "max": result.max_size,
                  "peak": result.peak_bytes, "probes": len(result.probes)}}))
"""


def run(setup: str, call: str) -> tuple[dict, float, float]:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", RUNNER.format(setup=setup, call=call)], stdout=out, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(err.read()[-3000:])
        cpu = usage.ru_utime + usage.ru_stime  # (what the search cost, however busy the machine was)
        return json.loads(out.read().strip().splitlines()[-1]), usage.ru_maxrss / 1024, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-70b", action="store_true", help="leave out the 70B searches (minutes)")
    parser.add_argument("--only", metavar="TEXT", help="only the searches whose name contains TEXT")
    args = parser.parse_args()
    rows = [
        "| search | answer | peak at it | dry runs | time | CPU time | peak RSS | load before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (setup, call) in SEARCHES.items():
        if (args.skip_70b and "70B" in name) or (args.only and args.only not in name):
            continue
        load = os.getloadavg()[0]
        start = time.perf_counter()
        data, rss, cpu = run(setup, call)
        wall = time.perf_counter() - start
        answer = f"batch {data['max']:,}" if data["max"] else "nothing fits"
        at = "--" if data["peak"] is None else f"{data['peak'] / 2**30:.2f} GiB"
        rows.append(
            f"| {name} | {answer} | {at} | {data['probes']} | "
            f"{data['seconds']:.1f} s ({wall:.1f} s with start-up) | {cpu:.1f} s | {rss:,.0f} MB | "
            f"{load:.2f} / {os.getloadavg()[0]:.2f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
