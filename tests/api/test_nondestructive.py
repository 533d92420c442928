"""summary() leaves the model exactly as it found it, also when the forward pass raises."""

from __future__ import annotations

import pytest
import torch
from models import Broken, Tower
from torch import nn

from summarytool import SummaryError, summary


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
        "devices": {k: p.device for k, p in model.named_parameters()},
        "param_ids": {k: id(p) for k, p in model.named_parameters()},
        "hooks": {
            k: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for k, m in model.named_modules()
        },
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["state"].keys() == after["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), f"{k} changed"
    for key in ("requires_grad", "training", "devices", "param_ids", "hooks"):
        assert before[key] == after[key], key


def global_hook_counts() -> tuple[int, int]:
    from torch.nn.modules import module as m

    return len(m._global_forward_pre_hooks), len(m._global_forward_hooks)


def mixed_tower() -> nn.Module:
    model = Tower(width=6, blocks=3)
    model.train()
    model.blocks[1].eval()  # a frozen, eval-mode block inside a training model
    model.blocks[1].norm.weight.requires_grad_(False)
    model.register_forward_hook(lambda *a: None)
    return model


@pytest.mark.parametrize("mode", ["train", "eval", "same"])
def test_state_is_unchanged(mode: str) -> None:
    model = mixed_tower()
    before = snapshot(model)
    rng = torch.get_rng_state()
    hooks = global_hook_counts()
    summary(model, (8, 3), mode=mode, verbose=0)
    assert_same(before, snapshot(model))
    assert torch.equal(rng, torch.get_rng_state())
    assert global_hook_counts() == hooks


def test_train_mode_really_ran_in_train_mode_yet_batchnorm_stats_are_restored() -> None:
    """The pass must see train mode (BatchNorm updates its statistics) and still leave no trace."""
    model = mixed_tower()
    seen = []
    model.blocks[0].norm.register_forward_hook(lambda mod, i, o: seen.append(mod.training))
    before = model.blocks[0].norm.running_mean.clone()
    summary(model, (8, 3), mode="eval", verbose=0)
    summary(model, (8, 3), mode="train", verbose=0)
    assert seen == [False, True]
    assert torch.equal(model.blocks[0].norm.running_mean, before)
    assert int(model.blocks[0].norm.num_batches_tracked) == 0


def test_state_is_unchanged_when_the_forward_pass_raises() -> None:
    model = Broken()
    model.train()
    model.stages[0].eval()
    before = snapshot(model)
    rng = torch.get_rng_state()
    hooks = global_hook_counts()
    with pytest.raises(SummaryError):
        summary(model, (2, 4), mode="eval", verbose=0)
    assert_same(before, snapshot(model))
    assert torch.equal(rng, torch.get_rng_state())
    assert global_hook_counts() == hooks


def test_model_moved_for_the_pass_comes_back() -> None:
    """device= moves generated inputs and the model for the pass; the model returns afterwards."""
    model = Tower()
    before = snapshot(model)
    stats = summary(model, (4, 3), device="meta", verbose=0)
    assert stats.total_params == 138
    assert_same(before, snapshot(model))
    assert all(p.device.type == "cpu" for p in model.parameters())
