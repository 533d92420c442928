"""The one walker over nested inputs and outputs (inputs.leaves, on torch.utils._pytree) keeps torchinfo's rules.

Each case is compared with the hand-written recursive walkers it replaced (kept here as the reference).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch

from summarytool.inputs import iter_tensors, leaves, map_tensors, normalize_input_size
from summarytool.shapes import all_shapes

Point = collections.namedtuple("Point", "x y")


class Frozen(Mapping):
    """A Mapping that is not a dict (pytree keeps it whole; torchinfo walks its values)."""

    def __init__(self, **items: Any) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Batch(list):
    pass


class Pair(tuple):
    pass


class ImageList:
    def __init__(self, tensors: Any) -> None:
        self.tensors = tensors


def t(*shape: int) -> torch.Tensor:
    return torch.zeros(shape)


def cases() -> list[Any]:
    return [
        t(2),
        None,
        [t(1), (t(2, 3), [t(4)]), {"b": t(5), "a": t(6)}],
        collections.OrderedDict(z=t(1), y=[t(2), None]),
        collections.defaultdict(list, {"k": (t(3),)}),
        Point(t(1, 2), [t(3), 4]),
        torch.max(t(2, 3), dim=1),  # a structseq: a tuple subclass without _fields
        Batch([t(1), Pair((t(2), t(3)))]),
        collections.deque([t(9)]),
        Frozen(a=t(1), b=[t(2), Frozen(c=t(3))]),
        [ImageList([t(7), t(8)]), ImageList(None), np.zeros((2, 2))],
        {"x": [1, 2.5, "s", None], "y": {"z": (t(1),)}},
        [],
        {},
    ]


def old_iter_tensors(x: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []

    def walk(v: Any) -> None:
        if isinstance(v, torch.Tensor):
            found.append(v)
        elif isinstance(v, Mapping):
            for item in v.values():
                walk(item)
        elif isinstance(v, (list, tuple)):
            for item in v:
                walk(item)

    walk(x)
    return found


def old_all_shapes(obj: Any) -> list[list[int]]:
    found: list[list[int]] = []

    def walk(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            found.append(list(x.shape))
        elif isinstance(x, np.ndarray):
            found.append(list(x.shape))
        elif isinstance(x, Mapping):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif hasattr(x, "tensors"):
            walk(x.tensors)

    walk(obj)
    return found


def old_map_tensors(x: Any, fn: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, Mapping):
        return {k: old_map_tensors(v, fn) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(old_map_tensors(v, fn) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(old_map_tensors(v, fn) for v in x)
    return x


def _same(a: Any, b: Any) -> bool:
    """Equal values and container types, tensors by shape and value."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape
    return a is b or a == b or isinstance(a, (collections.deque, ImageList))


@pytest.mark.parametrize("case", cases(), ids=lambda c: type(c).__name__)
def test_the_walker_finds_what_the_old_walkers_found(case: Any) -> None:
    assert [id(v) for v in iter_tensors(case)] == [id(v) for v in old_iter_tensors(case)]
    assert all_shapes(case) == old_all_shapes(case)
    assert _same(map_tensors(case, lambda v: v + 1), old_map_tensors(case, lambda v: v + 1))


def test_leaves_keep_none_and_numbers_in_order() -> None:
    assert leaves([1, None, (2.5, torch.Size([3, 4])), {"b": "s", "a": 5}]) == [1, None, 2.5, 3, 4, "s", 5]


def test_input_size_with_a_none_or_a_torch_size_inside() -> None:
    with pytest.raises(TypeError, match="found None"):
        normalize_input_size([(1, None)])
    assert normalize_input_size([torch.Size([1, 3]), (2,)]) == [(1, 3), (2,)]
