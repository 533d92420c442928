"""The CLI's dry runs build their target on meta (issue 16): no weights, any size; --seq-len, --hf-task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import cli

MODEL_FILE = """
import torch
from torch import nn

class Recorder(nn.Module):
    def __init__(self, where):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        with open(where, "w") as f:
            f.write(self.fc.weight.device.type)

    def forward(self, x):
        return self.fc(x)

def build(where):
    return Recorder(where)
"""


@pytest.mark.parametrize(
    ("options", "built_on"),
    [
        (["--device", "meta"], "meta"),
        (["--train-step", "adam"], "meta"),
        ([], "cpu"),
        (["--train-step", "sgd", "--measure-memory"], "cpu"),  # a measured step needs real weights
    ],
)
def test_a_dry_run_builds_the_target_on_meta(
    tmp_path: Path, capsys, options: list[str], built_on: str
) -> None:
    models = tmp_path / "models.py"
    models.write_text(MODEL_FILE)
    where = tmp_path / "built_on.txt"
    code, out, err = cli(
        capsys, "summary", f"{models}:build({str(where)!r})", "--input-size", "2,4", *options
    )
    assert code == 0, err
    assert where.read_text() == built_on
    assert "Total params: 20" in out


transformers = pytest.importorskip("transformers")


def _config(tmp_path: Path, **values: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    return path


LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "vocab_size": 64,
}


def test_hf_config_gets_the_head_its_architectures_name(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, **LLAMA)
    code, out, err = cli(
        capsys, "summary", f"hf:{config}", "--device", "meta", "--seq-len", "8", "--batch", "2"
    )
    assert code == 0, err
    assert out.splitlines()[3].startswith("LlamaForCausalLM")
    assert any(line.startswith("├─Linear") and "[2, 8, 64]" in line for line in out.splitlines())  # lm_head


@pytest.mark.parametrize(("task", "root"), [("base", "LlamaModel"), ("causal-lm", "LlamaForCausalLM")])
def test_hf_task_picks_the_head(tmp_path: Path, capsys, task: str, root: str) -> None:
    config = _config(tmp_path, **LLAMA)
    code, out, err = cli(
        capsys, "summary", f"hf:{config}", "--hf-task", task, "--device", "meta", "--seq-len", "4"
    )
    assert code == 0, err
    assert out.splitlines()[3].split()[0] == root


def test_hf_task_that_does_not_exist_is_a_usage_error(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, **LLAMA)
    code, out, err = cli(capsys, "summary", f"hf:{config}", "--hf-task", "poetry", "--seq-len", "4")
    assert code == 2 and "--hf-task 'poetry'" in err and "Traceback" not in err


def test_seq_len_gives_an_encoder_decoder_its_decoder_inputs(tmp_path: Path, capsys) -> None:
    config = _config(
        tmp_path,
        model_type="t5",
        architectures=["T5ForConditionalGeneration"],
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        vocab_size=64,
        decoder_start_token_id=0,
    )
    code, out, err = cli(capsys, "summary", f"hf:{config}", "--device", "meta", "--seq-len", "6")
    assert code == 0, err
    assert out.splitlines()[3].startswith("T5ForConditionalGeneration")


def test_seq_len_and_input_size_together_is_a_usage_error(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, **LLAMA)
    code, out, err = cli(capsys, "summary", f"hf:{config}", "--seq-len", "4", "--input-size", "1,4")
    assert code == 2 and "--seq-len and --input-size" in err
