"""`summarytool summary TARGET ...`: every format, every exit code, every TARGET form.

In-process through `cli.main` (support.run_cli); a real subprocess where the process boundary is the point: one
smoke test, and the stand-in packages that must come first on a fresh interpreter's PYTHONPATH.

The models the CLI loads are defined in this file (TARGET is `<this file>:NAME`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from support import run_cli
from torch import nn

from summarytool import ModelStatistics, summary

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]


class CliNet(nn.Module):
    """A small image classifier: conv features, then a Linear head."""

    def __init__(self, width: int = 8, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Pair(nn.Module):
    """Token ids and float features: needs two --input-size and --dtypes long,float32."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 6)
        self.mix = nn.Linear(6 + 4, 2)

    def forward(self, tokens: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([self.embed(tokens).mean(1), feats], dim=1))


class Mismatch(nn.Module):
    """Fails in `head.1`: the Linear expects 99 features but gets width * 4."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(99, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class NeedsTargets(nn.Module):
    """torchvision's detectors in small: in training mode forward() wants targets."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, targets: object = None) -> torch.Tensor:
        if self.training and targets is None:
            raise ValueError("targets should not be None when in training mode")
        return self.fc(x)


def build_small() -> nn.Module:
    """A factory function TARGET."""
    return CliNet(width=2, num_classes=3)


READY = CliNet(width=3)  # a module instance TARGET
NOT_A_MODEL = 42


def target(name: str) -> str:
    return f"{HERE}:{name}"


def run_process(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "summarytool", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=120,
    )


def api_table(model: nn.Module, **kwargs: object) -> str:
    return str(summary(model, verbose=0, **kwargs)) + "\n"


# ----- exit 0: every format ----------------------------------------------------------------------


def test_text_is_the_same_table_as_the_python_api() -> None:
    done = run_cli("summary", target("CliNet"), "--input-size", "2,3,12,12")
    assert done.returncode == 0, done.stderr
    assert done.stdout == api_table(CliNet(), input_size=(2, 3, 12, 12))
    assert done.stderr == ""


def test_json_is_the_schema_and_loads_back_to_the_same_table() -> None:
    done = run_cli(
        "summary", target("CliNet(width=4, num_classes=3)"), "--input-size", "1,3,10,10", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["schema"] == "summarytool.summary/1"
    assert data["settings"]["run"]["target"].endswith(":CliNet(width=4, num_classes=3)")
    assert data["settings"]["run"]["mode"] == "same"
    assert data["totals"]["total_params"] == sum(p.numel() for p in CliNet(4, 3).parameters())
    assert str(ModelStatistics.from_dict(data)) + "\n" == api_table(CliNet(4, 3), input_size=(1, 3, 10, 10))


def test_csv_markdown_and_html_formats() -> None:
    base = ("summary", target("CliNet"), "--input-size", "1,3,10,10")
    csv_out = run_cli(*base, "--format", "csv")
    assert csv_out.returncode == 0, csv_out.stderr
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("index,name,class_name,var_name,depth,")
    assert len(lines) == 1 + 8  # the header, then the root and its eight modules
    md = run_cli(*base, "--format", "markdown", "--depth", "1")
    assert md.returncode == 0, md.stderr
    assert md.stdout.splitlines()[:2] == [
        "| Layer | Name | Output Shape | Param # |",
        "| --- | --- | --- | ---: |",
    ]
    assert "| Total params | 554 |" in md.stdout  # 3*8*9 + 8 + 32*10 + 10
    page = run_cli(*base, "--format", "html")
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("<!DOCTYPE html>")
    assert "<table" in page.stdout and "Total params" in page.stdout and "<script" not in page.stdout


def test_output_file_gets_exactly_what_stdout_would(tmp_path: Path) -> None:
    out = tmp_path / "net.md"
    done = run_cli(
        "summary", target("CliNet"), "--input-size", "1,3,10,10", "--format", "markdown", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert f"wrote markdown to {out}" in done.stderr
    loaded = summary(CliNet(), input_size=(1, 3, 10, 10), verbose=0)
    assert out.read_text(encoding="utf-8") == loaded.to_markdown()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("build_small", sum(p.numel() for p in CliNet(2, 3).parameters())),
        ("READY", sum(p.numel() for p in CliNet(3).parameters())),
    ],
)
def test_factory_and_instance_targets(name: str, params: int) -> None:
    done = run_cli("summary", target(name), "--input-size", "1,3,10,10", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["total_params"] == params


def test_package_module_target_with_literal_arguments_and_options() -> None:
    done = run_cli(
        "summary",
        "torch.nn:Linear(12, 5, bias=False)",
        "--input-size",
        "3,12",
        "--columns",
        "input_size,output_size,num_params,trainable",
        "--rows",
        "var_names,depth",
        "--col-width",
        "18",
    )
    assert done.returncode == 0, done.stderr
    expected = api_table(
        nn.Linear(12, 5, bias=False),
        input_size=(3, 12),
        col_names=("input_size", "output_size", "num_params", "trainable"),
        row_settings=("var_names", "depth"),
        col_width=18,
    )
    assert done.stdout == expected


def test_several_inputs_with_dtypes_batch_dim_and_mode() -> None:
    done = run_cli(
        "summary", target("Pair"), "--input-size", "7", "--input-size", "4", "--dtypes", "long,float32",
        "--batch-dim", "0", "--mode", "eval", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["settings"]["run"] == {
        "target": target("Pair"),
        "device": None,
        "dtypes": ["long", "float32"],
        "batch_dim": 0,
        "mode": "eval",
        "train_step": None,
        "measure_memory": False,
    }
    embed = next(r for r in data["rows"] if r["name"] == "embed")
    assert embed["input_size"] == [1, 7] and embed["output_size"] == [1, 7, 6]


def test_train_step_memory_estimate() -> None:
    done = run_cli("summary", target("CliNet"), "--input-size", "4,3,16,16", "--train-step", "adamw")
    assert done.returncode == 0, done.stderr
    assert "Training step (adamw) peak, estimated (kB): " in done.stdout
    assert "Optimizer state" in done.stdout and "Activations and temporaries" in done.stdout


def test_every_estimated_optimizer_is_offered(  # the CLI's list is written out so that --help needs no torch
) -> None:
    from summarytool.capture.memory import OPTIMIZERS
    from summarytool.commands import summary_cmd

    assert summary_cmd.OPTIMIZERS == OPTIMIZERS
    done = run_cli("summary", target("CliNet"), "--input-size", "4,3,16,16", "--train-step", "adafactor")
    assert done.returncode == 0, done.stderr
    assert "Training step (adafactor) peak, estimated (kB): " in done.stdout


def test_measure_memory_runs_a_real_step_and_exports_it() -> None:
    done = run_cli(
        "summary", target("CliNet"), "--input-size", "4,3,16,16", "--device", "cpu", "--train-step", "sgd",
        "--measure-memory", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    measured = data["measured_memory"]
    assert measured["device"] == "cpu" and measured["forward_peak_bytes"] > 0
    step, estimate = measured["train_step"], data["memory"]
    assert abs(step["peak_bytes"] - estimate["peak_bytes"]) <= 0.05 * step["peak_bytes"]
    assert data["settings"]["run"]["measure_memory"] is True


def test_meta_device_is_a_dry_run() -> None:
    done = run_cli("summary", target("CliNet(width=64)"), "--input-size", "256,3,224,224", "--device", "meta")
    assert done.returncode == 0, done.stderr
    assert "[256, 64, 222, 222]" in done.stdout


def test_static_summary_without_input_size() -> None:
    done = run_cli("summary", target("CliNet"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == api_table(CliNet())


def test_a_fresh_interpreter_runs_the_command() -> None:
    """The one subprocess smoke test: `python -m summarytool` prints the same table as the Python API."""
    done = run_process("summary", "torch.nn:Linear(12, 5)", "--input-size", "3,12")
    assert done.returncode == 0, done.stderr
    assert done.stdout == api_table(nn.Linear(12, 5), input_size=(3, 12))
    assert done.stderr == ""


def test_help_has_examples() -> None:
    done = run_cli("summary", "--help")
    assert done.returncode == 0
    assert "examples:" in done.stdout and "--input-size 1,3,224,224" in done.stdout
    assert "exit codes: 0 done, 1 the model failed, 2 bad usage" in done.stdout
    top = run_cli("--help")
    assert "summary" in top.stdout and "diff" in top.stdout


# ----- exit 1: the model failed ----------------------------------------------------------------


def test_a_failing_model_exits_1_naming_the_module_and_shapes_with_the_rows_that_ran() -> None:
    done = run_cli("summary", target("Mismatch"), "--input-size", "1,3,10,10")
    assert done.returncode == 1
    assert done.stdout == ""
    err = done.stderr
    assert "Linear (head.1) raised RuntimeError on input shapes [[1, 32]]" in err
    assert "The rows that ran before the failure:" in err
    assert "Layer (type:depth-idx)" in err and "Conv2d: 2-1" in err
    assert "Traceback" not in err


# ----- exit 2: bad usage, each with a one-line fix ---------------------------------------------


USAGE_ERRORS = {
    "missing file": (["summary", "nowhere/models.py:Net"], "no such file: 'nowhere/models.py'"),
    "unknown name": (["summary", target("Nope")], "has no 'Nope'"),
    "not a model": (["summary", target("NOT_A_MODEL")], "NOT_A_MODEL in"),
    "no colon": (["summary", "CliNet"], "is not a TARGET"),
    "unknown module": (["summary", "no_such_pkg.models:Net"], "no module named 'no_such_pkg'"),
    "bad shape": (["summary", target("CliNet"), "--input-size", "1,3,x"], "'x' is not a positive whole number"),
    "zero size": (["summary", target("CliNet"), "--input-size", "1,0,4"], "'0' is not a positive whole number"),
    "empty size": (["summary", target("CliNet"), "--input-size", "1,,4"], "'' is not a positive whole number"),
    "bad dtype": (["summary", target("CliNet"), "--input-size", "1,3,8,8", "--dtypes", "floaty"], "'floaty' is not a torch dtype"),
    "dtype count": (["summary", target("Pair"), "--input-size", "1,7", "--input-size", "1,4", "--dtypes", "long"], "1 entries for 2 --input-size"),
    "bad column": (["summary", target("CliNet"), "--columns", "output_size,speed"], "unknown 'speed'"),
    "column needs input": (["summary", target("CliNet"), "--columns", "output_size"], "need a forward pass"),
    "bad row setting": (["summary", target("CliNet"), "--rows", "colour"], "unknown 'colour'"),
    "bad device": (["summary", target("CliNet"), "--device", "toaster"], "is not a device"),
    "bad arguments": (["summary", target("CliNet(depth=3)"), "--input-size", "1,3,8,8"], "unexpected keyword argument 'depth'"),
    "instance with arguments": (["summary", target("READY(3)")], "already a model instance"),
    "unclosed call": (["summary", target("CliNet(width=3")], "does not close it"),
    "train step without input": (["summary", target("CliNet"), "--train-step", "sgd"], "--train-step needs --input-size"),
    "measure without input": (["summary", target("CliNet"), "--measure-memory"], "--measure-memory needs --input-size"),
    "measure a dry run": (["summary", target("CliNet"), "--input-size", "1,3,8,8", "--device", "meta", "--measure-memory"], "dry run on 'meta'"),
    "missing output folder": (["summary", target("CliNet"), "--output", "/nonexistent/dir/x.json"], "does not exist"),
}  # fmt: skip


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_bad_usage_exits_2_with_a_one_line_fix(case: str) -> None:
    args, message = USAGE_ERRORS[case]
    done = run_cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("summarytool summary: error: ")
    assert len(lines) == 2 and lines[1].startswith("fix: ") and len(lines[1]) > len("fix: ") + 10
    assert done.stdout == ""


def test_arguments_are_literals_never_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    done = run_cli("summary", target(f"CliNet(width=open({str(marker)!r}, 'w').write('x'))"))
    assert done.returncode == 2
    assert "is not a literal" in done.stderr and "fix: only numbers, strings" in done.stderr
    assert not marker.exists()


def test_a_model_failing_in_training_mode_is_pointed_at_mode_eval() -> None:
    done = run_cli("summary", target("NeedsTargets"), "--input-size", "2,4")
    assert done.returncode == 1 and "targets should not be None" in done.stderr
    assert "ran in training mode" in done.stderr and "--mode eval" in done.stderr
    evaluated = run_cli("summary", target("NeedsTargets"), "--input-size", "2,4", "--mode", "eval")
    assert evaluated.returncode == 0, evaluated.stderr
    other = run_cli("summary", target("CliNet"), "--input-size", "1,4,9,9")  # (4 channels for its 3)
    assert other.returncode == 1 and "training mode" not in other.stderr


def test_argparse_errors_are_exit_2_too() -> None:
    done = run_cli("summary", target("CliNet"), "--depth", "deep")
    assert done.returncode == 2 and "invalid int value: 'deep'" in done.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed here"
)
def test_missing_optional_package_names_the_install_command() -> None:
    done = run_cli("summary", "torchvision:resnet18", "--input-size", "1,3,32,32")
    assert done.returncode == 2
    assert "needs the optional package 'torchvision'" in done.stderr
    assert "fix: pip install torchvision" in done.stderr


# ----- torchvision / timm / transformers: the calls we make, through stand-in packages -----------
# The real packages are heavy (and torchvision must match the torch build), so these tests put
# small stand-ins first on PYTHONPATH that fail loudly if weights would be downloaded.

FAKES = {
    "torchvision/__init__.py": "",
    "torchvision/models/__init__.py": """
        from torch import nn

        def tiny(*, weights="DEFAULT", num_classes=1000):
            if weights is not None:
                raise RuntimeError("would download weights")
            return nn.Sequential(nn.Flatten(), nn.Linear(12, num_classes))

        def tiny_detector(*, weights="DEFAULT", weights_backbone="DEFAULT", num_classes=91):
            # (torchvision's detection and segmentation builders: ImageNet backbone weights by default)
            if weights is not None or weights_backbone is not None:
                raise RuntimeError("would download weights")
            return nn.Sequential(nn.Flatten(), nn.Linear(12, num_classes))

        def get_model_builder(name):
            if name not in ("tiny", "tiny_detector"):
                raise ValueError(f"Unknown model {name}")
            return {"tiny": tiny, "tiny_detector": tiny_detector}[name]
    """,
    "timm/__init__.py": """
        import fnmatch
        from torch import nn

        def list_models(pattern="*"):
            return fnmatch.filter(["tiny_vit"], pattern)

        def create_model(name, pretrained=True, num_classes=1000):
            if pretrained:
                raise RuntimeError("would download weights")
            return nn.Sequential(nn.Linear(12, 7), nn.Linear(7, num_classes))
    """,
    "transformers/__init__.py": """
        import os
        import types
        from torch import nn

        class AutoConfig:
            @staticmethod
            def for_model(model_type, **values):
                assert model_type == "toy", model_type
                return types.SimpleNamespace(model_type=model_type, **values)

            @staticmethod
            def from_pretrained(path, local_files_only=False):
                assert local_files_only, "must not reach the hub"
                import json
                with open(os.path.join(path, "config.json")) as f:
                    values = json.load(f)
                return AutoConfig.for_model(values.pop("model_type"), **values)

        class AutoModel:
            @staticmethod
            def from_config(config):
                assert os.environ.get("HF_HUB_OFFLINE") == "1", "the hub must be offline"
                return nn.Sequential(nn.Embedding(config.vocab_size, config.hidden_size),
                                     nn.Linear(config.hidden_size, config.hidden_size))
    """,
}


@pytest.fixture
def fake_packages(tmp_path: Path) -> dict:
    for rel, body in FAKES.items():
        path = tmp_path / "site" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body), encoding="utf-8")
    return {"PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_torchvision_target_never_asks_for_weights(fake_packages: dict) -> None:
    done = run_process(
        "summary",
        "torchvision:tiny(num_classes=5)",
        "--input-size",
        "1,3,2,2",
        "--format",
        "json",
        env=fake_packages,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["total_params"] == 12 * 5 + 5
    asks = run_process("summary", "torchvision:tiny(weights='IMAGENET1K_V1')", env=fake_packages)
    assert asks.returncode == 2 and "never downloads" in asks.stderr
    unknown = run_process("summary", "torchvision:huge", env=fake_packages)
    assert unknown.returncode == 2 and "torchvision has no model 'huge'" in unknown.stderr


def test_torchvision_detector_target_never_asks_for_backbone_weights(fake_packages: dict) -> None:
    """Detection and segmentation builders download ImageNet backbone weights unless told weights_backbone=None."""
    done = run_process(
        "summary", "torchvision:tiny_detector(num_classes=3)", "--input-size", "1,3,2,2", env=fake_packages
    )
    assert done.returncode == 0, done.stderr
    asks = run_process(
        "summary", "torchvision:tiny_detector(weights_backbone='IMAGENET1K_V1')", env=fake_packages
    )
    assert asks.returncode == 2 and "never downloads" in asks.stderr and "weights_backbone" in asks.stderr


def test_timm_target_is_built_with_pretrained_false(fake_packages: dict) -> None:
    done = run_process(
        "summary",
        "timm:tiny_vit(num_classes=2)",
        "--input-size",
        "1,12",
        "--format",
        "json",
        env=fake_packages,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["total_params"] == 12 * 7 + 7 + 7 * 2 + 2
    unknown = run_process("summary", "timm:nothing_like_it", env=fake_packages)
    assert unknown.returncode == 2 and "timm has no model" in unknown.stderr


def test_hf_target_builds_from_a_local_config_offline(fake_packages: dict, tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "toy", "vocab_size": 11, "hidden_size": 4}))
    for spec in (f"hf:{folder / 'config.json'}", f"hf:{folder}"):
        done = run_process(
            "summary", spec, "--input-size", "1,5", "--dtypes", "long", "--format", "json", env=fake_packages
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["totals"]["total_params"] == 11 * 4 + 4 * 4 + 4
    (folder / "bad.json").write_text(json.dumps({"vocab_size": 3}))
    bad = run_process("summary", f"hf:{folder / 'bad.json'}", env=fake_packages)
    assert bad.returncode == 2 and 'has no "model_type"' in bad.stderr
