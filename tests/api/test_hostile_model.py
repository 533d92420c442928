"""The model and the user's other work are never harmed, and failures name the right module (issue 15)."""

from __future__ import annotations

import gc
import threading
import warnings

import pytest
import torch
from torch import nn

from summarytool import SummaryError, summary


class Normed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(x))


def _state(model: nn.Module) -> dict:
    return {
        "buffers": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
    }


def _same_state(a: dict, b: dict) -> bool:
    return (
        a["training"] == b["training"]
        and a["requires_grad"] == b["requires_grad"]
        and all(torch.equal(a["buffers"][k], b["buffers"][k]) for k in a["buffers"])
    )


def test_changes_made_by_another_thread_during_the_summary_are_kept() -> None:
    """Item 1: BatchNorm steps, eval() and a frozen weight from a training thread all survive."""
    torch.manual_seed(0)
    model = Normed().train()
    started, go_on = threading.Event(), threading.Event()

    class Paused(nn.Module):  # lets the training thread work while the summary's pass is under way
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            started.set()
            assert go_on.wait(10)
            return x

    model.pause = Paused()
    original_forward = model.forward
    model.forward = lambda x: model.pause(original_forward(x))  # type: ignore[method-assign]
    data = [torch.randn(8, 4) for _ in range(5)]

    def train() -> None:
        assert started.wait(10)
        for x in data:
            original_forward(x)  # five BatchNorm steps
        model.eval()
        model.fc.weight.requires_grad_(False)
        go_on.set()

    worker = threading.Thread(target=train)
    worker.start()
    summary(model, input_size=(2, 4), mode="train", verbose=0)
    worker.join()

    torch.manual_seed(0)
    expected = Normed().train()  # the same weights, trained the same way, without a summary
    for x in data:
        expected(x)
    assert int(model.bn.num_batches_tracked) == 5
    assert torch.equal(model.bn.running_mean, expected.bn.running_mean)
    assert torch.equal(model.bn.running_var, expected.bn.running_var)
    assert not model.training and not model.bn.training
    assert model.fc.weight.requires_grad is False


def test_a_training_loop_in_another_thread_ends_as_it_would_without_the_summary() -> None:
    def run(with_summary: bool) -> dict:
        torch.manual_seed(1)
        model = Normed().train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        batches = [torch.randn(8, 4) for _ in range(40)]
        stop = threading.Event()

        def summarise() -> None:
            while not stop.is_set():
                summary(model, input_size=(2, 4), mode="train", verbose=0)

        other = threading.Thread(target=summarise) if with_summary else None
        if other:
            other.start()
        try:
            for x in batches:
                opt.zero_grad()
                model(x).pow(2).mean().backward()
                opt.step()
        finally:
            stop.set()
            if other:
                other.join()
        return _state(model)

    assert _same_state(run(False), run(True))


def test_a_pending_backward_still_works_after_a_summary() -> None:
    """Item 2: nothing the pass did not write is written (autograd's saved versions stay valid)."""
    model = Normed().eval()
    out = model(torch.randn(3, 4))
    summary(model, input_size=(2, 4), verbose=0)
    out.sum().backward()  # raised "modified by an inplace operation" before
    assert model.fc.weight.grad is not None


def test_every_restore_step_runs_even_when_one_fails() -> None:
    """Item 3: a forward that resizes a buffer in place; the other buffers and flags still come back."""

    class Resizes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("grows", torch.zeros(3))
            self.register_buffer("counter", torch.zeros(()))
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.grows.resize_(5).fill_(1.0)
            self.counter.add_(1)
            return self.fc(x)

    model = Resizes().train()
    before = _state(model)
    summary(model, input_size=(2, 3), mode="eval", verbose=0)
    assert model.grows.shape == (3,) and torch.equal(model.grows, torch.zeros(3))
    assert _same_state(before, _state(model))


def test_garbage_collection_runs_during_the_pass() -> None:
    """Item 5: a forward that makes reference cycles frees them as it would without summarytool."""
    collections: list[int] = []

    class Cycles(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for _ in range(2000):
                a: list = []
                a.append(a)  # a reference cycle the collector must free
            collections.append(gc.get_count()[0])
            return x

    gc.collect()
    summary(Cycles(), input_size=(1, 2), verbose=0)
    assert gc.isenabled()
    # With the collector paused, generation 0 would hold all 2,000 cycles at the end of the pass.
    assert collections[0] < 2000


def test_a_child_whose_error_the_parent_caught_is_not_blamed() -> None:
    """Item 6a."""

    class Flaky(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("child fails")

    class Parent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flaky = Flaky()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            try:
                x = self.flaky(x)
            except ValueError:
                x = self.fc(x)
            return x @ torch.ones(5, 5)  # the parent's own mistake

    class Root(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parent = Parent()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.parent(x)

    with pytest.raises(SummaryError) as info:
        summary(Root(), input_size=(2, 4), verbose=0)
    assert info.value.module_name == "parent"
    assert info.value.module_class == "Parent"


def test_a_users_forward_hook_that_raises_blames_its_module() -> None:
    """Item 6b."""
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def bad_hook(module: nn.Module, args: object, output: object) -> None:
        raise RuntimeError("hook fails")

    model[1].register_forward_hook(bad_hook)
    with pytest.raises(SummaryError) as info:
        summary(model, input_size=(2, 4), verbose=0)
    assert info.value.module_name == "1"
    assert "hook fails" in str(info.value)


def test_transformer_encoder_fast_path_with_a_padding_mask() -> None:
    """Item 7: nested tensors between the layers (eval mode, padding mask)."""
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = nn.TransformerEncoder(layer, 2).eval()
    x = torch.randn(2, 5, 8)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 3:] = True
    stats = summary(enc, input_data=[x], src_key_padding_mask=mask, verbose=0)
    assert stats.summary_list[0].output_size == [2, 5, 8]
    assert stats.total_params == sum(p.numel() for p in enc.parameters())


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"batch_dim": 7}, ValueError, "batch_dim=7"),
        ({"batch_dim": "0"}, TypeError, "batch_dim must be an int"),
        ({"dtypes": torch.float}, TypeError, "dtypes must be a list"),
        ({"dtypes": ["float32"]}, TypeError, "use torch.float32"),
        ({"dtypes": [None]}, TypeError, "dtypes[0] is None"),
        ({"input_size": [[[2, 4]]]}, TypeError, "nests shapes too deeply"),
    ],
)
def test_argument_mistakes_name_the_argument(kwargs: dict, error: type, names: str) -> None:
    """Item 9."""
    call = {"input_size": (2, 4), **kwargs}
    if "batch_dim" in kwargs:
        call["input_size"] = (4,)
    with pytest.raises(error) as info:
        summary(nn.Linear(4, 3), **call, verbose=0)
    assert names in str(info.value)


def test_a_meta_model_on_a_real_device_is_told_to_dry_run() -> None:
    with pytest.raises(ValueError, match="device='meta'") as info:
        summary(nn.Linear(4, 3, device="meta"), input_size=(2, 4), device="cpu", verbose=0)
    assert "use device='cpu'" not in str(info.value)


@pytest.mark.parametrize("kwargs", [{}, {"mode": "train"}, {"device": "meta"}, {"train_step": True}])
def test_a_model_built_under_inference_mode(kwargs: dict) -> None:
    """Item 4: its parameters and buffers are inference tensors (no version counter)."""
    with torch.inference_mode():
        model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    before = model[1].running_mean.clone()
    stats = summary(model, input_size=(2, 4), verbose=0, **kwargs)
    assert stats.total_params == 28
    assert torch.equal(model[1].running_mean, before)


@pytest.mark.parametrize("kwargs", [{}, {"device": "meta"}, {"train_step": True}])
def test_summary_inside_inference_mode(kwargs: dict) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    with torch.inference_mode():
        stats = summary(model, input_size=(2, 4), verbose=0, **kwargs)
    assert stats.total_params == 28


def test_measured_training_step_under_no_grad() -> None:
    """Item 8: the measured step turns autograd on for itself."""
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        stats = summary(model, input_size=(2, 4), train_step=True, measure_memory=True, verbose=0)
    assert stats.measured_memory.train_step.gradients == sum(p.numel() * 4 for p in model.parameters())


def test_a_measured_step_that_cannot_fit_is_refused_before_copying(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 8: the weights alone exceed what is free: refused before the copy is made."""
    from summarytool.capture import measured

    monkeypatch.setattr(measured, "available_bytes", lambda device: 1000)
    with pytest.raises(torch.OutOfMemoryError, match="weights alone are"):
        summary(nn.Linear(64, 64), input_size=(2, 64), train_step=True, measure_memory=True, verbose=0)


def test_the_cpu_allocators_failure_is_a_clear_out_of_memory_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from summarytool.capture import measured

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(measured, "_measure", refuse)
    with pytest.raises(torch.OutOfMemoryError, match="out of memory while measuring a training step"):
        summary(nn.Linear(4, 4), input_size=(2, 4), train_step=True, measure_memory=True, verbose=0)
