"""Dry runs of Llama-shaped Hugging Face configs through the CLI: peak memory and time.

`summarytool summary hf:CONFIG --device meta --seq-len 2048` builds the model on the meta device
(no weights) and summarises it; the target is 2 GB peak RSS for 7B and 70B. Each run is its own
process, so its peak RSS (`ru_maxrss` of the child) is the whole command's, Python and torch
included. Prints a Markdown table (the README's). Needs transformers.

    python bench/bench_dry_run_cli.py [--train-step]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "Llama-2-7B": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
    },
    "Llama-3-70B": {
        "hidden_size": 8192,
        "intermediate_size": 28672,
        "num_hidden_layers": 80,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
    },
}


def run(config: Path, extra: list[str]) -> tuple[float, float, dict]:
    """(seconds, peak RSS in MB, the summary's JSON) of one CLI run in a fresh process."""
    cmd = [sys.executable, "-m", "summarytool", "summary", f"hf:{config}", "--device", "meta"]
    cmd += ["--seq-len", "2048", "--columns", "output_size,num_params,flops", "--format", "json", *extra]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS (kB on Linux)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, json.loads(out.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-step", action="store_true", help="also estimate an AdamW training step")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = ["| model | run | params | forward FLOPs | time | peak RSS |", "|---|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, values in CONFIGS.items():
            config = Path(tmp) / f"{name}.json"
            config.write_text(
                json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"], **values})
            )
            runs = [("dry run, 2,048 tokens", [])]
            if args.train_step:
                runs.append(("AdamW training-step estimate", ["--train-step", "adamw"]))
            for label, extra in runs:
                seconds, rss_mb, data = run(config, extra)
                totals = data["totals"]
                rows.append(
                    f"| {name} | {label} | {totals['total_params'] / 1e9:.2f} B | "
                    f"{(totals.get('total_flops') or 0) / 1e12:.1f} T | {seconds:.1f} s | {rss_mb:,.0f} MB |"
                )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
