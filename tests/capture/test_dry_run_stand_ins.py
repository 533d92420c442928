"""Stand-ins for library functions that size their work by tensor values (capture/stand_ins.py).

A small library written here plays torchvision's part: ``boxlib.post.paste`` reads box coordinates as
numbers to size an interpolation, as ``paste_masks_in_image`` does, and ``boxlib.api`` imports it by
name, as torchvision's transform.py does. The real torchvision models (Mask R-CNN, Keypoint R-CNN) are
in the dry-run corpus (``make test-corpus``).
"""

from __future__ import annotations

import sys
import threading
import types
import warnings
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from summarytool import summary
from summarytool.capture import stand_ins


def _paste(masks: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each mask resized to its box (sizes the box values decide), then put in a size x size image."""
    out = []
    for mask, box in zip(masks, boxes, strict=True):
        w = max(int(box[2] - box[0]) + 1, 1)
        resized = F.interpolate(mask[None], size=(w, w), mode="bilinear")[0]
        image = torch.zeros(mask.shape[0], size, size, dtype=mask.dtype)
        image[:, : min(w, size), : min(w, size)] = resized[:, :size, :size]
        out.append(image)
    return torch.stack(out) if out else masks.new_zeros(0, masks.shape[1], size, size)


def _paste_stand_in(masks: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    return masks[:, :, :1, :1].expand(masks.shape[0], masks.shape[1], size, size).clone()


@pytest.fixture
def boxlib(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.SimpleNamespace]:
    package, post, api = (types.ModuleType(n) for n in ("boxlib", "boxlib.post", "boxlib.api"))
    post.paste = _paste
    api.paste = _paste  # (``from boxlib.post import paste``)
    for module in (package, post, api):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(stand_ins.STAND_INS, ("boxlib.post", "paste"), _paste_stand_in)
    yield types.SimpleNamespace(post=post, api=api)


class _Detector(nn.Module):
    def __init__(self, during: object = None) -> None:
        super().__init__()
        self.score = nn.Linear(16, 1)
        self.box = nn.Linear(1, 4)
        self.mask = nn.Conv2d(1, 2, 1)
        self.during = during  # called inside forward, after the paste

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = x[self.score(x.flatten(1))[:, 0] > 0]  # [u0, 1, 4, 4]
        boxes = (self.box(kept.mean((2, 3))).abs() * 3).round()  # (torch 2.8 cannot flatten [u0, ...])
        pasted = sys.modules["boxlib.api"].paste(self.mask(kept), boxes, 8)
        if self.during is not None:
            self.during()
        return pasted


def _x() -> torch.Tensor:
    return torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))


def test_without_a_stand_in_the_dry_run_stops_where_the_box_is_read(
    boxlib: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(stand_ins.STAND_INS, ("boxlib.post", "paste"))
    with pytest.raises(Exception, match="real tensor values") as info:
        summary(_Detector(), input_data=[_x()], device="meta", verbose=0)
    assert "test_dry_run_stand_ins.py:" in str(info.value)


def test_a_stand_in_gives_the_real_functions_shape_with_the_count_as_a_symbol(
    boxlib: types.SimpleNamespace,
) -> None:
    torch.manual_seed(0)
    cpu = summary(_Detector(), input_data=[_x()], verbose=0)
    assert cpu.summary_list[0].output_size[1:] == [2, 8, 8]  # (the real paste ran)
    meta = summary(
        _Detector(), input_data=[_x()], device="meta", verbose=0, col_names=("output_size", "flops")
    )
    top = meta.summary_list[0].output_size
    assert isinstance(top[0], torch.SymInt) and top[1:] == [2, 8, 8]
    text = str(meta)
    assert "FLOPs incomplete: 1 calls of boxlib paste (box sizes decide) not counted" in text
    assert "Sizes incomplete" in text
    assert meta.summary_list[0].flops_uncounted  # (the row that called it is marked)
    # The library is as it was, in both modules that hold the function.
    assert boxlib.post.paste is _paste and boxlib.api.paste is _paste


def test_the_training_step_estimate_runs_through_the_stand_in(boxlib: types.SimpleNamespace) -> None:
    stats = summary(_Detector(), input_data=[_x()], train_step=True, verbose=0)
    assert stats.memory.parameters == sum(p.numel() * 4 for p in _Detector().parameters())
    assert any("upper bound" in note for note in stats.memory.notes)


def _torchvision_inputs() -> tuple[torch.Tensor, ...]:
    """Three detections' mask logits [N, 1, 28, 28], boxes, keypoint heatmaps [N, K, 56, 56] (K = 5)."""
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(3, 1, 28, 28, generator=g, requires_grad=True)
    boxes = torch.tensor(
        [[2.0, 3.0, 20.0, 30.0], [0.0, 0.0, 63.0, 63.0], [10.0, 5.0, 12.0, 9.0]], requires_grad=True
    )
    maps = torch.rand(3, 5, 56, 56, generator=g, requires_grad=True)
    return masks, boxes, maps


def _shapes(out: object) -> list[tuple[tuple[int, ...], torch.dtype]]:
    outs = out if isinstance(out, tuple) else (out,)
    return [(tuple(t.shape), t.dtype) for t in outs]


def test_torchvisions_stand_ins_return_its_shapes_and_reach_their_inputs_gradients() -> None:
    """The shapes and dtypes torchvision's functions return (checked against them in
    test_torchvisions_stand_ins_match_its_functions), and a backward reaches the heads' outputs."""
    masks, boxes, maps = _torchvision_inputs()
    pasted = stand_ins._paste_masks_in_image(masks, boxes, (64, 48))
    keypoints = stand_ins._heatmaps_to_keypoints(maps, boxes)
    assert _shapes(pasted) == [((3, 1, 64, 48), torch.float32)]
    assert _shapes(keypoints) == [((3, 5, 3), torch.float32), ((3, 5), torch.float32)]
    (pasted.sum() + keypoints[0].sum() + keypoints[1].sum()).backward()
    assert masks.grad is not None and boxes.grad is not None and maps.grad is not None
    empty = stand_ins._paste_masks_in_image(masks[:0], boxes[:0], (64, 48))
    assert empty.shape == (0, 1, 64, 48)


def test_torchvisions_stand_ins_match_its_functions() -> None:
    roi_heads = pytest.importorskip(
        "torchvision.models.detection.roi_heads", reason="make test-corpus runs it"
    )
    masks, boxes, maps = _torchvision_inputs()
    assert _shapes(stand_ins._paste_masks_in_image(masks, boxes, (64, 48))) == _shapes(
        roi_heads.paste_masks_in_image(masks, boxes, (64, 48))
    )
    assert _shapes(stand_ins._heatmaps_to_keypoints(maps, boxes)) == _shapes(
        roi_heads.heatmaps_to_keypoints(maps, boxes)
    )
    for module, name in stand_ins.STAND_INS:
        assert module == roi_heads.__name__ and callable(getattr(roi_heads, name))


def test_other_threads_get_the_library_function_during_a_dry_run(boxlib: types.SimpleNamespace) -> None:
    seen: list[torch.Tensor] = []

    def paste_there() -> None:  # (its tensors made there: this thread is in the dry run's fake mode)
        masks, boxes = torch.ones(1, 1, 2, 2), torch.tensor([[0.0, 0.0, 3.0, 3.0]])
        seen.append(boxlib.api.paste(masks, boxes, 8))

    def elsewhere() -> None:  # another thread's call, while the dry run has its wrapper in place
        assert boxlib.api.paste is not _paste
        worker = threading.Thread(target=paste_there)
        worker.start()
        worker.join()

    summary(_Detector(during=elsewhere), input_data=[_x()], device="meta", verbose=0)
    assert len(seen) == 1
    assert seen[0][0, 0, :4, :4].eq(1).all() and seen[0][0, 0, 4:, :].eq(0).all()  # the real paste's values


def test_a_function_replaced_during_the_dry_run_stays_replaced(boxlib: types.SimpleNamespace) -> None:
    def mine(*args: object) -> None:
        raise AssertionError("not called")

    def replace() -> None:
        boxlib.api.paste = mine

    summary(_Detector(during=replace), input_data=[_x()], device="meta", verbose=0)
    assert boxlib.api.paste is mine  # (the user's, left alone)
    assert boxlib.post.paste is _paste


def test_a_detectors_dry_run_does_not_pass_on_torchvisions_deprecation_warning() -> None:
    """torchvision's fake NMS kernel calls a torch API that newer torch deprecates (a FutureWarning on every
    detection dry run, about code the user never wrote): the pass leaves it out."""
    pytest.importorskip("torchvision.models.detection", reason="make test-corpus runs it")
    import corpus_models

    model, kwargs = corpus_models.build("detection/fasterrcnn_mobilenet_v3_large_320_fpn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary(model, **kwargs, device="meta", verbose=0)
    assert not [w for w in caught if "create_unbacked_symint" in str(w.message)]
