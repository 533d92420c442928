"""`summarytool diff`: what an edit did to a model, from saved JSON summaries or from TARGETs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import support
import torch
from torch import nn

from summarytool import ModelStatistics, summary
from summarytool.render.diff import diff_summaries, diff_to_markdown, diff_to_text, has_changes

HERE = Path(__file__).resolve()


class Encoder(nn.Module):
    """Version 1 of a small model; `wide`, `deeper` and `renamed` are the edits the tests make."""

    def __init__(
        self, hidden: int = 16, deeper: bool = False, rename: bool = False, frozen: bool = False
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(8, hidden)
        layers = [nn.Linear(hidden, hidden), nn.ReLU()]
        if deeper:
            layers += [nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())]
        self.body = nn.Sequential(*layers)
        head = nn.Linear(hidden, 3)
        if frozen:
            head.requires_grad_(False)
        if rename:
            self.classifier = head
        else:
            self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.embed(x))
        return self.classifier(x) if hasattr(self, "classifier") else self.head(x)


def as_dict(model: nn.Module, **kwargs: object) -> dict:
    return summary(model, input_size=(2, 8), verbose=0, **kwargs).to_dict()


def changes_of(result: dict) -> dict[str, dict]:
    return {row["name"]: row["changes"] for row in result["changed"]}


# ----- the comparison --------------------------------------------------------------------------


def test_identical_summaries_have_no_changes() -> None:
    a = as_dict(Encoder())
    result = diff_summaries(a, json.loads(json.dumps(a)))
    assert not has_changes(result)
    assert "No differences" in diff_to_text(result)


def test_widening_a_layer_reports_own_params_and_shapes_not_every_ancestor() -> None:
    result = diff_summaries(as_dict(Encoder(hidden=16)), as_dict(Encoder(hidden=32)))
    changes = changes_of(result)
    assert set(changes) == {"embed", "body", "body.0", "body.1", "head"}
    assert changes["embed"]["own_params"] == {
        "before": 8 * 16 + 16,
        "after": 8 * 32 + 32,
        "delta": 144,
        "percent": 100.0,
    }
    assert changes["embed"]["output_size"] == {"before": [2, 16], "after": [2, 32]}
    assert "own_params" not in changes["body"]  # a container holds no params of its own
    assert "own_trainable_params" not in changes["embed"]  # fully trainable on both sides: said by params
    assert changes["body.1"].keys() == {"input_size", "output_size"}  # the ReLU only sees wider tensors
    assert "(root)" not in changes  # its output [2, 3] did not change
    total = result["totals"]["total_params"]
    assert total["delta"] == total["after"] - total["before"] > 0 and total["changed"]
    assert result["totals"]["non_trainable_params"]["changed"] is False


def test_an_added_sub_tree_is_reported_once_at_its_top() -> None:
    result = diff_summaries(as_dict(Encoder()), as_dict(Encoder(deeper=True)))
    assert result["added"] == [
        {
            "name": "body.2",
            "class_name": "Sequential",
            "depth": 2,
            "params": 16 * 16 + 16,
            "rows": 3,
            "output_size": [2, 16],
        }
    ]
    assert result["removed"] == [] and result["changed"] == []
    text = diff_to_text(result, "v1", "v2")
    assert "+ body.2 (Sequential)  272 params  3 rows" in text
    assert "total_params" in text and "+272" in text
    back = diff_summaries(as_dict(Encoder(deeper=True)), as_dict(Encoder()))
    assert [r["name"] for r in back["removed"]] == ["body.2"]


def test_a_rename_is_a_removal_and_an_addition() -> None:
    result = diff_summaries(as_dict(Encoder()), as_dict(Encoder(rename=True)))
    assert [r["name"] for r in result["removed"]] == ["head"]
    assert [r["name"] for r in result["added"]] == ["classifier"]
    assert not any(t["changed"] for t in result["totals"].values())


def test_freezing_a_layer_shows_trainable_params() -> None:
    result = diff_summaries(as_dict(Encoder()), as_dict(Encoder(frozen=True)))
    assert changes_of(result) == {
        "head": {"own_trainable_params": {"before": 51, "after": 0, "delta": -51, "percent": -100.0}}
    }
    assert result["totals"]["non_trainable_params"]["after"] == 51


def test_flops_changes_are_compared_when_both_sides_counted_them() -> None:
    cols = ("output_size", "num_params", "flops")
    result = diff_summaries(as_dict(Encoder(), col_names=cols), as_dict(Encoder(deeper=True), col_names=cols))
    assert result["totals"]["total_flops"]["delta"] > 0
    # body's own FLOPs did not change: the added layer's are its child's, reported as the added row.
    assert "body" not in changes_of(result)
    one_side = diff_summaries(as_dict(Encoder()), as_dict(Encoder(), col_names=cols))
    assert not has_changes(one_side)  # counted on one side only: nothing to compare


def test_markdown_diff_is_a_table_for_a_pull_request() -> None:
    text = diff_to_markdown(
        diff_summaries(as_dict(Encoder(hidden=16)), as_dict(Encoder(hidden=32))), "a.json", "b.json"
    )
    lines = text.splitlines()
    assert lines[0] == "**summarytool diff** `a.json` → `b.json`"
    assert "| layer | field | before | after | change |" in lines
    assert "| embed (Linear) | output_size | [2, 16] | [2, 32] |  |" in lines
    assert "|  | params | 144 | 288 | +144 (+100.0%) |" in lines
    assert "| total_params | 467 | 1,443 | +976 (+209.0%) |" in lines


# ----- the command -------------------------------------------------------------------------------

VERSION_1 = """
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)).flatten(1))
"""
# The edit: a wider conv and an extra layer before the classifier.
VERSION_2 = """
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.proj = nn.Linear(16, 8)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(self.proj(self.pool(self.conv(x)).flatten(1)))
"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`summarytool ARGS` in this process, run from `cwd` (the targets and files are relative to it)."""
    with contextlib.chdir(cwd):
        return support.run_cli(*args)


def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "summarytool", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=dict(os.environ),
    )


@pytest.fixture
def edits(tmp_path: Path) -> Path:
    (tmp_path / "v1.py").write_text(textwrap.dedent(VERSION_1), encoding="utf-8")
    (tmp_path / "v2.py").write_text(textwrap.dedent(VERSION_2), encoding="utf-8")
    for name in ("v1", "v2"):
        done = run_cli(
            "summary",
            f"{name}.py:Net",
            "--input-size",
            "1,3,16,16",
            "--format",
            "json",
            "--output",
            f"{name}.json",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    return tmp_path


def test_diff_of_two_saved_summaries(edits: Path) -> None:
    done = run_process("diff", "v1.json", "v2.json", cwd=edits)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("summarytool diff: v1.json -> v2.json\nRows changed: 2, added: 1, removed: 0\n")
    assert "conv (Conv2d)" in out and "+224 (+100.0%)" in out  # 3*8*9+8 = 224 -> 448
    assert "+ proj (Linear)  136 params  1 row" in out
    assert "total_params" in out and "+360" in out  # 224 more in conv, 136 in proj
    # The JSON form carries the same facts for scripts.
    data = json.loads(run_cli("diff", "v1.json", "v2.json", "--format", "json", cwd=edits).stdout)
    assert data["schema"] == "summarytool.diff/1" and data["sources"] == ["v1.json", "v2.json"]
    assert data["totals"]["total_params"]["delta"] == 360
    assert [r["name"] for r in data["added"]] == ["proj"]


def test_diff_of_a_saved_summary_against_a_target_and_of_two_targets(edits: Path) -> None:
    against_code = run_cli("diff", "v1.json", "v2.py:Net", "--input-size", "1,3,16,16", cwd=edits)
    from_files = run_cli("diff", "v1.json", "v2.json", cwd=edits)
    assert against_code.returncode == 0, against_code.stderr
    assert against_code.stdout.replace("v2.py:Net", "v2.json") == from_files.stdout
    two_targets = run_cli("diff", "v1.py:Net", "v1.py:Net", "--input-size", "1,3,16,16", cwd=edits)
    assert two_targets.returncode == 0 and "No differences" in two_targets.stdout


def test_exit_code_option_and_markdown_output(edits: Path) -> None:
    same = run_cli("diff", "v1.json", "v1.json", "--exit-code", cwd=edits)
    assert same.returncode == 0
    different = run_cli(
        "diff", "v1.json", "v2.json", "--exit-code", "--format", "markdown", "--output", "d.md", cwd=edits
    )
    assert different.returncode == 3
    assert (
        (edits / "d.md").read_text(encoding="utf-8").startswith("**summarytool diff** `v1.json` → `v2.json`")
    )


def test_diff_errors_use_the_summary_exit_codes(edits: Path) -> None:
    missing = run_cli("diff", "v1.json", "nowhere.json", cwd=edits)
    assert (
        missing.returncode == 2
        and "no such summary file: 'nowhere.json'" in missing.stderr
        and "fix: " in missing.stderr
    )
    (edits / "env.json").write_text(json.dumps({"schema": "summarytool.env/1"}), encoding="utf-8")
    wrong = run_cli("diff", "v1.json", "env.json", cwd=edits)
    assert wrong.returncode == 2 and "not 'summarytool.summary/1'" in wrong.stderr
    failing = run_cli("diff", "v1.json", "v2.py:Net", "--input-size", "1,5,16,16", cwd=edits)
    assert failing.returncode == 1 and "Conv2d (conv) raised RuntimeError" in failing.stderr


def test_a_loaded_summary_diffs_like_the_original(edits: Path) -> None:
    loaded = ModelStatistics.from_json(edits / "v1.json")
    again = ModelStatistics.from_dict(loaded.to_dict())
    assert not has_changes(diff_summaries(loaded.to_dict(), again.to_dict()))
