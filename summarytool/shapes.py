"""Shapes and element sizes of whatever a module takes or returns (tensors, nested containers, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from summarytool.inputs import leaves

try:  # numpy is optional; ndarrays are only recognised when it is installed
    import numpy as _np
except ImportError:  # pragma: no cover - numpy ships with most torch installs
    _np = None


class UnsupportedIOTypeError(TypeError):
    """A module took or returned something that has no shape (a string, an arbitrary object)."""


def _is_ndarray(obj: Any) -> bool:
    return _np is not None and isinstance(obj, _np.ndarray)


def _distribution_shape(obj: Any) -> tuple[list[int], int] | None:
    if not isinstance(obj, torch.distributions.Distribution):
        return None
    shape = list(obj.batch_shape) + list(obj.event_shape)
    try:
        elem = obj.mean.element_size()
    except (NotImplementedError, AttributeError, RuntimeError):
        elem = torch.get_default_dtype().itemsize if hasattr(torch.dtype, "itemsize") else 4
    return shape, elem


def tensor_shape(t: torch.Tensor) -> list[int]:
    """A tensor's shape; a nested (jagged) tensor shows its padded shape, as it has no sizes of its own.

    torch's TransformerEncoder fast path (eval mode with a padding mask) passes nested tensors
    between its layers; ``.shape`` raises on them.
    """
    if t.is_nested and t.layout == torch.strided:  # (a jagged-layout one has a shape, symbolic inside)
        sizes = t._nested_tensor_size()
        if sizes.numel() == 0:
            return [t.size(0)]
        return [sizes.shape[0], *(int(v) for v in sizes.max(dim=0).values.tolist())]
    return list(t.shape)


def _leaf_shape(obj: Any) -> tuple[list[int], int] | None:
    """A tensor's, a distribution's or an ndarray's shape and element size (None for anything else)."""
    if isinstance(obj, torch.Tensor):
        return tensor_shape(obj), obj.element_size()
    dist = _distribution_shape(obj)
    if dist is not None:
        return dist
    if _is_ndarray(obj):
        return list(obj.shape), int(obj.itemsize)
    return None


def _first_shape(obj: Any) -> tuple[list[int], int]:
    """The shape of the first tensor-like leaf of a nested structure (torchinfo's rule).

    Not the first pytree leaf: torchinfo goes into a list's first element but a dict's *last*
    value, and stops there (an empty one shows []); it runs on every module call, so it descends
    one path instead of flattening the whole output.
    """
    if hasattr(obj, "tensors") and not isinstance(obj, torch.Tensor):
        return _first_shape(obj.tensors)
    leaf = _leaf_shape(obj)
    if leaf is not None:
        return leaf
    if isinstance(obj, Mapping):
        return _first_shape(list(obj.values())[-1]) if obj else ([], 0)
    if isinstance(obj, (list, tuple)):
        return _first_shape(obj[0]) if obj else ([], 0)
    return [], 0


def io_shape(obj: Any, batch_dim: int | None = None) -> tuple[list[int], int]:
    """Shape shown for a module's inputs or outputs, and the byte size of one element.

    Lists and tuples show their first element, dicts their last value, objects with
    ``.tensors`` and packed sequences (``.data``) the wrapped tensor. Anything without a
    shape (a string, an arbitrary object) is an error, as it is in torchinfo.
    """
    if obj is None:
        return [], 0
    if isinstance(obj, torch.Tensor):
        return tensor_shape(obj), obj.element_size()
    if type(obj) is tuple and obj and isinstance(obj[0], torch.Tensor):  # the usual (args) tuple: fast path
        first = obj[0]
        size = tensor_shape(first)
        if batch_dim is not None and batch_dim < len(size):
            size[batch_dim] = 1
        return size, first.element_size()
    leaf = _leaf_shape(obj)
    if leaf is not None:
        return leaf
    if isinstance(obj, (list, tuple)) and obj and isinstance(getattr(obj[0], "data", None), torch.Tensor):
        data = obj[0].data
        size = list(data.shape)
        if batch_dim is not None and batch_dim < len(size):
            size = size[:batch_dim] + [1] + size[batch_dim + 1 :]
        return size, data.element_size()
    if isinstance(obj, Mapping):
        if not obj:
            return [], 0
        size, elem = _first_shape(list(obj.values())[-1])
        if batch_dim is not None:
            # torchinfo main's form for a dict with batch_dim: the shape in a list of its own.
            return [[*size[:batch_dim], 1, *size[batch_dim + 1 :]]], elem
        return size, elem
    if isinstance(obj, (list, tuple)) or hasattr(obj, "tensors"):
        return _first_shape(obj)
    if isinstance(obj, (int, float, bool, complex)):
        return [], 0
    raise UnsupportedIOTypeError(
        f"Model contains a layer with an unsupported input or output type: {obj!r}, type: {type(obj)}. "
        "Modules must take and return tensors or (nested) lists, tuples, dicts of them."
    )


def all_shapes(obj: Any) -> list[list[int]]:
    """Every tensor shape in a nested structure, in traversal order (for the all-outputs view)."""
    found: list[list[int]] = []
    for leaf in leaves(obj, _wrapped_tensors):
        if isinstance(leaf, torch.Tensor):
            found.append(tensor_shape(leaf))
        elif _is_ndarray(leaf):
            found.append(list(leaf.shape))
    return found


def _wrapped_tensors(leaf: Any) -> Any:
    """What an object holding ``.tensors`` (torchvision's ImageList, ...) stands for."""
    return None if isinstance(leaf, torch.Tensor) else getattr(leaf, "tensors", None)


def is_concrete(shape: list[Any]) -> bool:
    """True when every size is a plain int (not a symbol from a data-dependent op or a jagged size).

    A dict output's ``[[shape]]`` (torchinfo's form with batch_dim) is looked into. (A shape, not
    module data: it runs on every call, where a pytree flatten would cost more than the check.)
    """
    return all(is_concrete(v) if isinstance(v, list) else type(v) is int for v in shape)
