"""Real architectures, built from tiny configs, against PyPI torchinfo 1.8.0 where 1.8.0 and main agree.

Hugging Face T5, BART, Whisper and GPT-2 (with its lm_head tied to the token embedding) are the dry-run
corpus's (tests/corpus_models.py), built from configs with a few thousand parameters: no weights are
downloaded and nothing reaches a model hub.

1.8.0 differs from torchinfo main (which summarytool follows) in the footer units, tied/shared weights
(1.8.0 counts them once per module that holds them), Linear mult-adds on 3-D outputs, "Params size" of
params owned by non-leaf modules, and the default mode (both are called with mode="eval"). So this compares
what agrees: the row sequence, every leaf's params, the rows' recursion where no tied weight is involved,
and, on models without tied weights, the totals and the printed table above the footer. On every model the
Param # column of summarytool's table adds up to the total, at depth 3 and at every depth.
"""

from __future__ import annotations

import math

import corpus_models
import pytest
import torch
from support import column_sum
from torch import nn

from summarytool import summary

torchinfo = pytest.importorskip("torchinfo", reason="the differential oracle is PyPI torchinfo==1.8.0")
pytest.importorskip("transformers")

# name -> (the corpus case it is built as, whether some parameter is held by more than one module)
ARCHS: dict[str, tuple[str, bool]] = {
    # encoder and decoder T5Stacks each hold the shared token embedding's weight
    "t5": ("hf/t5", True),
    # likewise BART's encoder/decoder embed_tokens and `shared`
    "bart": ("hf/bart", True),
    # WhisperModel has no output projection, so nothing is tied
    "whisper": ("hf/whisper", False),
    # lm_head.weight is transformer.wte.weight
    "gpt2_lm_head": ("hf/gpt2", True),
}
DEPTHS = [3, math.inf]


def _build(name: str) -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model, kwargs = corpus_models.build(ARCHS[name][0])
    return model, kwargs["input_data"]


def _holders(model: nn.Module) -> dict[int, int]:
    """id(parameter) -> how many modules hold it directly."""
    count: dict[int, int] = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            count[id(p)] = count.get(id(p), 0) + 1
    return count


def _holds_tied(module: nn.Module, holders: dict[int, int]) -> bool:
    return any(holders[id(p)] > 1 for p in module.parameters())


def _both(name: str, depth: float, **kwargs):
    model, inputs = _build(name)
    ours = summary(model, input_data=inputs, depth=depth, mode="eval", verbose=0, **kwargs)
    their_depth = 10**6 if depth == math.inf else depth  # 1.8.0 is given an int for "every level"
    theirs = torchinfo.summary(model, input_data=inputs, depth=their_depth, mode="eval", verbose=0, **kwargs)
    return model, ours, theirs


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_tied_weights_are_where_the_cases_say(name: str) -> None:
    model, _ = _build(name)
    holders = _holders(model)
    assert any(n > 1 for n in holders.values()) is ARCHS[name][1]


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_rows_and_leaf_params_agree_with_torchinfo_1_8_0(name: str, depth: float) -> None:
    model, ours, theirs = _both(name, depth)
    holders = _holders(model)
    assert len(ours.summary_list) == len(theirs.summary_list)
    for a, b in zip(ours.summary_list, theirs.summary_list, strict=True):
        for attr in (
            "class_name",
            "var_name",
            "depth",
            "depth_index",
            "is_leaf_layer",
            "input_size",
            "output_size",
            "kernel_size",
        ):
            assert getattr(a, attr) == getattr(b, attr), (repr(a), a.var_name, attr)
        if a.is_leaf_layer:
            assert (a.num_params, a.trainable_params) == (b.num_params, b.trainable_params), (
                repr(a),
                a.var_name,
            )
            if not isinstance(a.module, nn.Linear):  # 1.8.0: numel x batch only, on 3-D outputs
                assert a.macs == b.macs, (repr(a), a.var_name)
        if not _holds_tied(a.module, holders):
            assert a.is_recursive == b.is_recursive, (repr(a), a.var_name)
    for field in ("total_input", "total_output_bytes"):
        assert getattr(ours, field) == getattr(theirs, field), field


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", sorted(n for n, (_, tied) in ARCHS.items() if not tied))
def test_untied_model_has_torchinfo_1_8_0s_totals_and_table(name: str, depth: float) -> None:
    columns = ("input_size", "output_size", "num_params", "params_percent", "trainable")
    model, ours, theirs = _both(name, depth, col_names=columns)
    for field in ("total_params", "trainable_params", "total_param_bytes"):
        assert getattr(ours, field) == getattr(theirs, field), field
    for a, b in zip(ours.summary_list, theirs.summary_list, strict=True):
        assert (a.num_params, a.is_recursive, a.leftover_params()) == (
            b.num_params,
            b.is_recursive,
            b.leftover_params(),
        ), (repr(a), a.var_name)
    # Everything above the footer's mult-adds line (which 1.8.0 prints in other units).
    assert str(ours).split("Total mult-adds")[0] == str(theirs).split("Total mult-adds")[0]


@pytest.mark.parametrize("name", sorted(n for n, (_, tied) in ARCHS.items() if tied))
def test_tied_weight_is_recursive_in_its_later_holders(name: str) -> None:
    # torchinfo main: a row is recursive when every param it owns directly was already seen (1.8.0: never).
    model, inputs = _build(name)
    holders = _holders(model)
    ours = summary(model, input_data=inputs, mode="eval", verbose=0)
    seen: set[int] = set()
    tied_rows = 0
    for row in ours.summary_list:
        own = [id(p) for p in row.module.parameters(recurse=False)]
        if row.is_leaf_layer and own and any(holders[i] > 1 for i in own):
            tied_rows += 1
            assert row.is_recursive is all(i in seen for i in own), (repr(row), row.var_name)
        seen.update(own)
    assert tied_rows >= 2
    assert ours.total_params == sum(p.numel() for p in model.parameters())
    assert (
        ours.total_params < torchinfo.summary(model, input_data=inputs, mode="eval", verbose=0).total_params
    )


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_param_column_adds_up_to_total_params(name: str, depth: float) -> None:
    model, inputs = _build(name)
    stats = summary(
        model, input_data=inputs, depth=depth, col_names=("output_size", "num_params"), mode="eval", verbose=0
    )
    text = str(stats)
    assert column_sum(text, "Param #") == stats.total_params == sum(p.numel() for p in model.parameters())
