"""Stand-ins for library functions that size their work by tensor values (capture/stand_ins.py).

A small library written here plays torchvision's part: ``boxlib.post.paste`` reads box coordinates as
numbers to size an interpolation, as ``paste_masks_in_image`` does, and ``boxlib.api`` imports it by
name, as torchvision's transform.py does. The real torchvision models (Mask R-CNN, Keypoint R-CNN) are
in the dry-run corpus (``make test-corpus``).
"""

from __future__ import annotations

import importlib
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
        assert callable(getattr(importlib.import_module(module), name))


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


# ---- torchvision's batched_nms: its class loop (torch.unique) once it has many boxes ----------------------


def _many_boxes(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Whole-pixel boxes: the class offsets of torchvision's other path round nothing then.
    g = torch.Generator().manual_seed(seed)
    corners = torch.randint(0, 100, (count, 2), generator=g).float()
    boxes = torch.cat([corners, corners + torch.randint(1, 20, (count, 2), generator=g)], dim=1)
    return boxes, torch.rand(count, generator=g), torch.randint(0, 30, (count,), generator=g)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_batched_nms_stand_in_keeps_the_boxes_torchvision_keeps(seed: int) -> None:
    """6,000 boxes (24,000 coordinates: torchvision loops over the classes on every device there); its
    other path, the stand-in, keeps the same boxes (whole-pixel boxes: with fractions,
    the offset coordinates can round an overlap at the threshold either way, as on a GPU)."""
    ops = pytest.importorskip("torchvision.ops", reason="make test-corpus runs it")
    boxes, scores, classes = _many_boxes(6000, seed)
    kept = ops.batched_nms(boxes, scores, classes, 0.5)
    assert 0 < len(kept) < 6000
    mine = stand_ins._batched_nms(boxes, scores, classes, 0.5)
    assert torch.equal(mine.sort().values, kept.sort().values)  # (equal scores may come in either order)


class _ManyBoxes(nn.Module):
    """A detector's last step in small: NMS per class over more boxes than torchvision's class-offset path
    takes (Faster R-CNN's detections at 800 x 800 are 1,000 proposals x 90 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.refine = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import boxes as box_ops

        sure = scores > 0.05  # (as torchvision's detectors do first: how many, the data decides)
        boxes, scores = boxes[sure] + self.refine(boxes[sure]) * 0.01, scores[sure]
        classes = (scores * 30).long()
        kept = box_ops.batched_nms(boxes, scores, classes, 0.5)
        return self.head(boxes[kept])


def test_a_dry_run_through_batched_nms_of_many_boxes() -> None:
    pytest.importorskip("torchvision.ops", reason="make test-corpus runs it")
    inputs = list(_many_boxes(6000, 0)[:2])
    cpu = summary(_ManyBoxes(), input_data=inputs, verbose=0)
    meta = summary(_ManyBoxes(), input_data=inputs, device="meta", verbose=0)
    head = [r for r in meta.summary_list if r.var_name == "head"][0].output_size
    assert isinstance(head[0], torch.SymInt) and head[1] == 2  # [u0, 2]: how many, the data decides
    assert meta.total_params == cpu.total_params and "FLOPs incomplete" not in str(meta)
    stats = summary(_ManyBoxes(), input_data=inputs, train_step=True, verbose=0)
    assert stats.memory.parameters == sum(p.numel() * 4 for p in _ManyBoxes().parameters())


@pytest.mark.slow
def test_faster_rcnn_dry_runs_at_its_own_image_size() -> None:
    """At 800 x 800 (its default) Faster R-CNN's detections are up to 1,000 x 90 boxes: torchvision's
    batched_nms took its class loop, and the dry run stopped there (boxes.py, ``torch.unique``)."""
    detection = pytest.importorskip("torchvision.models.detection", reason="make test-corpus runs it")
    with torch.device("meta"):
        model = detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    stats = summary(model, input_size=(1, 3, 800, 800), device="meta", verbose=0, depth=2)
    assert stats.total_params == sum(p.numel() for p in model.parameters())
    assert "Sizes incomplete" in str(stats)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "retinanet_resnet50_fpn",
        "fcos_resnet50_fpn",
        "ssdlite320_mobilenet_v3_large",
        "maskrcnn_resnet50_fpn",
        "keypointrcnn_resnet50_fpn",
    ],
)
def test_mixed_precision_estimates_of_torchvisions_detectors(name: str) -> None:
    """A bf16-mixed estimate runs on fake CPU tensors: torchvision's CPU branch of batched_nms (its class
    loop), NMS counts without a bound and F.interpolate of a data-decided count stopped it before."""
    pytest.importorskip("torchvision.models.detection", reason="make test-corpus runs it")
    import corpus_models

    model, kwargs = corpus_models.build(f"detection/{name}")
    fp32 = summary(model, **kwargs, train_step=True, verbose=0)
    mixed = summary(model, **kwargs, train_step=True, precision="bf16-mixed", verbose=0)
    assert mixed.memory.parameters == fp32.memory.parameters  # (fp32 master weights)
    assert 0 < mixed.memory.peak_bytes
    # Adam keeps state for each parameter the backward reached: the same ones, in fp32, as fp32's step.
    # (The gradients live at the peak may differ: SSDlite's mixed peak is in its forward pass.)
    assert mixed.memory.persistent_optimizer_state == fp32.memory.persistent_optimizer_state > 0
