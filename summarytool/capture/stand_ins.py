"""Stand-ins, in a dry run's fake-tensor pass, for library functions that size their work by tensor values.

torchvision's Mask R-CNN pastes each detected mask into the image at its box (``paste_masks_in_image``),
and Keypoint R-CNN upsamples each keypoint heatmap to its box (``heatmaps_to_keypoints``). Both loop
over the detections in Python and read box coordinates as numbers (``int(box[2] - box[0] + 1)``,
``widths_ceil[i].item()``) to size an interpolation: values the data decides, with no bound a dry run
could take. What they return is sized by the detection count and the image alone, so a stand-in returns
that: tensors of the real function's shapes and dtypes (the count stays a symbol), computed from the
same inputs so that a training-step estimate's backward reaches the heads that made them. Their own
work, box-sized interpolations, is not counted: each call is a "FLOPs incomplete" note, its row is
marked, and the footer's "Sizes incomplete" names the symbolic rows. torchvision's ``batched_nms`` loops
over the classes the data holds once it has many boxes (Faster R-CNN's detections at 800 x 800): its
stand-in is torchvision's own other path, which keeps the same boxes, and its work is counted.

A stand-in acts only in a thread whose dry run is in its fake-tensor pass (`stand_ins`), and only on
fake tensors; every other call, in any thread, runs the library's function. The wrappers are put in
the library's modules while a pass needs them and taken out when the last one ends, where nobody has
replaced them since.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

from summarytool.capture.ops import FlopCounter


def _paste_masks_in_image(masks: torch.Tensor, boxes: torch.Tensor, img_shape: Any, padding: int = 1) -> Any:
    """[N, 1, H, W] masks of the image's size (the real one interpolates each to its box first)."""
    im_h, im_w = img_shape
    return masks[:, :1, :1, :1].expand(masks.shape[0], 1, im_h, im_w).clone()


def _heatmaps_to_keypoints(maps: torch.Tensor, rois: torch.Tensor) -> Any:
    """[N, K, 3] keypoints (from the boxes) and [N, K] scores (from the heatmaps), float32 as the real ones."""
    count, keypoints = rois.shape[0], maps.shape[1]
    xy = rois[:, None, :1].expand(count, keypoints, 3).to(torch.float32, copy=True)
    return xy, maps[:, :, 0, 0].to(torch.float32, copy=True)


def _batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> Any:
    """torchvision's own offset-per-class path, which it takes on a GPU up to 20,000 box coordinates.

    Above that (and on the CPU above 4,000) it loops over the classes the data holds (``torch.unique``):
    a loop count no dry run has. Both paths keep the same boxes (but for float rounding of the offset
    coordinates at the IoU threshold); a dry run needs only their shapes.
    """
    from torchvision.ops import boxes as box_ops

    trick = getattr(box_ops, "_batched_nms_coordinate_trick", None)
    return NotImplemented if trick is None else trick(boxes, scores, idxs, iou_threshold)


# (module, function) -> stand-in with the same signature (NotImplemented: call the function after all)
STAND_INS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torchvision.models.detection.roi_heads", "paste_masks_in_image"): _paste_masks_in_image,
    ("torchvision.models.detection.roi_heads", "heatmaps_to_keypoints"): _heatmaps_to_keypoints,
    ("torchvision.ops.boxes", "batched_nms"): _batched_nms,
}
# Stand-ins that compute what the function computes, by another of its own paths: their work is
# counted as it runs, with no "FLOPs incomplete" note.
SAME_WORK = frozenset({("torchvision.ops.boxes", "batched_nms")})

_LOCK = threading.Lock()
_INSTALLED: list[tuple[Any, str, Any, Any]] = []  # (module, name, original, wrapper)
_USERS = 0
_ACTIVE = threading.local()  # .depth > 0 while this thread's dry run is in its fake pass


@contextlib.contextmanager
def stand_ins() -> Iterator[None]:
    """Around a dry run's fake-tensor pass: the stand-ins act for this thread's calls on fake tensors."""
    global _USERS
    with _LOCK:
        if not _USERS:
            _install()
        _USERS += 1
    _ACTIVE.depth = getattr(_ACTIVE, "depth", 0) + 1
    try:
        yield
    finally:
        _ACTIVE.depth -= 1
        with _LOCK:
            _USERS -= 1
            if not _USERS:
                _uninstall()


def _install() -> None:
    for (module_name, name), stand_in in STAND_INS.items():
        home = sys.modules.get(module_name)
        original = getattr(home, name, None)
        if original is None:  # (the library is not imported, or has no such function in this version)
            continue
        label = None if (module_name, name) in SAME_WORK else f"{module_name.split('.')[0]} {name}"
        wrapper = _wrapper(original, stand_in, label)
        # Every loaded module of the library that holds the function under that name calls it
        # (torchvision's transform.py imports paste_masks_in_image from roi_heads).
        package = module_name.split(".")[0]
        for module in list(sys.modules.values()):
            mod_name = getattr(module, "__name__", "")
            if (mod_name == package or mod_name.startswith(package + ".")) and getattr(
                module, name, None
            ) is original:
                setattr(module, name, wrapper)
                _INSTALLED.append((module, name, original, wrapper))


def _uninstall() -> None:
    while _INSTALLED:
        module, name, original, wrapper = _INSTALLED.pop()
        if getattr(module, name, None) is wrapper:  # (left as it is if someone replaced it since)
            setattr(module, name, original)


def _wrapper(
    original: Callable[..., Any], stand_in: Callable[..., Any], label: str | None
) -> Callable[..., Any]:
    """`label` None: the stand-in's work is the function's (counted as it runs)."""

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not getattr(_ACTIVE, "depth", 0) or not any(_is_fake(a) for a in (*args, *kwargs.values())):
            return original(*args, **kwargs)
        out = stand_in(*args, **kwargs)
        if out is NotImplemented:
            return original(*args, **kwargs)
        if label is not None:
            for mode in _get_current_dispatch_mode_stack():
                if isinstance(mode, FlopCounter):
                    mode.uncounted_call(f"{label} (box sizes decide)")
        return out

    return call


def _is_fake(value: Any) -> bool:
    fake = sys.modules.get("torch._subclasses.fake_tensor")
    return fake is not None and isinstance(value, fake.FakeTensor)
