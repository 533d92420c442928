"""Turn `input_size` / `input_data` into the arguments of the forward pass, and measure them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils._pytree import tree_leaves, tree_map

try:
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None


def _pytree_leaf(x: Any) -> bool:
    """What torch.utils._pytree is not to open itself: all but plain lists, tuples, dicts and namedtuples."""
    cls = x.__class__
    return not (
        cls is list or cls is tuple or cls is dict or (isinstance(x, tuple) and hasattr(cls, "_fields"))
    )


def leaves(x: Any, open_leaf: Callable[[Any], Any] | None = None) -> list[Any]:
    """Every leaf of a nested structure, in order: the one walker over nested inputs and outputs.

    torch.utils._pytree walks lists, tuples, namedtuples and dicts (in insertion order). torchinfo
    also walks any other Mapping (its values) and any list or tuple subclass (torch.Size too), which
    pytree keeps whole; those are opened here, as is a leaf for which `open_leaf` returns something
    (e.g. an object's ``.tensors``). Anything else (a deque, a custom object) is one leaf.
    """
    out: list[Any] = []
    for leaf in tree_leaves(x, is_leaf=_pytree_leaf):
        if isinstance(leaf, Mapping):
            out += leaves(list(leaf.values()), open_leaf)
        elif isinstance(leaf, (list, tuple)):
            out += leaves(list(leaf), open_leaf)
        else:
            inner = None if open_leaf is None else open_leaf(leaf)
            if inner is None:
                out.append(leaf)
            else:
                out += leaves(inner, open_leaf)
    return out


_flatten = leaves


def normalize_input_size(input_size: Any) -> list[tuple[int, ...]]:
    """One shape per model input, as a list of tuples.

    Accepts a shape (tuple, list or torch.Size), a list of shapes or a tuple of shapes.
    ``[]`` (or ``[[]]``) is one 0-d input.
    """
    if not isinstance(input_size, (list, tuple)):
        raise TypeError(
            f"input_size must be a tuple, list or torch.Size of ints (or a list of them), "
            f"got {type(input_size).__name__}: {input_size!r}. Example: input_size=(1, 3, 224, 224)."
        )
    if isinstance(input_size, list) and (not input_size or input_size == [[]]):
        return [()]
    if not input_size:
        raise ValueError(
            "input_size is empty. Give the shape of each input including the batch, e.g. (1, 3, 224, 224); "
            "use input_size=[] for a single 0-d tensor."
        )
    flat = _flatten(input_size)
    for v in flat:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"input_size must hold ints, found {v!r} ({type(v).__name__}) in {input_size!r}.")
    if any(v <= 0 for v in flat):
        raise ValueError(f"input_size holds a size <= 0: {input_size!r}. Every dimension must be at least 1.")
    if all(isinstance(v, int) for v in input_size):
        return [tuple(input_size)]
    shapes: list[tuple[int, ...]] = []
    for s in input_size:
        if isinstance(s, int):
            raise TypeError(
                f"input_size mixes ints and shapes: {input_size!r}. Give one shape or a list of shapes."
            )
        if not all(isinstance(v, int) for v in s):
            raise TypeError(
                f"input_size {input_size!r} nests shapes too deeply: give one shape per input, "
                "e.g. [(2, 4)] for one input or [(2, 4), (2, 8)] for two."
            )
        shapes.append(tuple(s))
    return shapes


def check_batch_dim(batch_dim: Any, shapes: Sequence[Sequence[int]] = ()) -> None:
    """`batch_dim` is None or an int that fits every shape once the batch is added there."""
    if batch_dim is None:
        return
    if isinstance(batch_dim, bool) or not isinstance(batch_dim, int):
        raise TypeError(
            f"batch_dim must be an int (where the batch of 1 is added to each input_size shape) or None, "
            f"got {batch_dim!r} ({type(batch_dim).__name__}). Example: batch_dim=0."
        )
    for shape in shapes:
        rank = len(shape) + 1
        if not -rank <= batch_dim < rank:
            raise ValueError(
                f"batch_dim={batch_dim} does not fit input_size {tuple(shape)}: with the batch added the input "
                f"has {rank} dimensions, so batch_dim must be from {-rank} to {rank - 1}."
            )


def check_dtypes(dtypes: Any) -> None:
    """`dtypes` is None or a list of torch dtypes (or legacy tensor types such as torch.LongTensor)."""
    if dtypes is None:
        return
    if not isinstance(dtypes, (list, tuple)):
        raise TypeError(
            f"dtypes must be a list with one dtype per input, e.g. dtypes=[torch.float32], "
            f"got {dtypes!r} ({type(dtypes).__name__})."
        )
    for i, d in enumerate(dtypes):
        if isinstance(d, torch.dtype) or isinstance(getattr(d, "dtype", None), torch.dtype):
            continue
        named = isinstance(d, str) and isinstance(getattr(torch, d, None), torch.dtype)
        hint = f" (use torch.{d})" if named else ""
        raise TypeError(
            f"dtypes[{i}] is {d!r} ({type(d).__name__}), not a torch dtype{hint}; "
            "pass torch dtypes, e.g. dtypes=[torch.float32, torch.long]."
        )


def make_inputs(
    shapes: list[tuple[int, ...]],
    batch_dim: int | None,
    dtypes: Sequence[Any] | None,
    device: torch.device,
) -> list[torch.Tensor]:
    """Random inputs like torchinfo's: ``torch.rand`` then cast (so integer inputs are zeros)."""
    if dtypes is None:
        dtypes = [torch.float] * len(shapes)
    if len(dtypes) < len(shapes):
        raise ValueError(
            f"dtypes has {len(dtypes)} entries but input_size has {len(shapes)} shapes; give one dtype per input."
        )
    tensors = []
    for shape, dtype in zip(shapes, dtypes, strict=False):
        # Made where they are used: a dry run on "meta" allocates nothing.
        t = torch.empty(shape, device=device) if device.type == "meta" else torch.rand(shape, device=device)
        if batch_dim is not None:
            t = t.unsqueeze(dim=batch_dim)
        t = t.type(dtype) if not isinstance(dtype, torch.dtype) else t.to(dtype)
        tensors.append(t)
    return tensors


def _as_tensor(x: Any) -> Any:
    if _np is not None and isinstance(x, _np.ndarray):
        return torch.from_numpy(x)
    return x


def prepare_input_data(input_data: Any) -> tuple[Any, Any]:
    """The forward arguments for `input_data`, and the mirror of its sizes shown as `input_size`.

    A tensor or ndarray is one positional input; a list or tuple is spread over the positional
    arguments; a dict is passed as keyword arguments. Data is never moved to another device.
    """
    if isinstance(input_data, torch.Tensor) or (_np is not None and isinstance(input_data, _np.ndarray)):
        x = _as_tensor(input_data)
        return [x], x.size()
    if isinstance(input_data, Mapping):
        x = {k: _as_tensor(v) for k, v in input_data.items()}
        return x, {k: _size_mirror(v) for k, v in x.items()}
    if isinstance(input_data, (list, tuple)):
        x = [_as_tensor(v) for v in input_data]
        return x, [_size_mirror(v) for v in x]
    raise TypeError(
        f"input_data must be a tensor, an ndarray, or a list/tuple/dict of them, got {type(input_data).__name__}."
    )


def _size_mirror(x: Any) -> Any:
    """Sizes in place of tensors, every container made a dict or a list (as torchinfo shows input_size).

    Not a pytree map: tree_map keeps each container's type, and this changes it (a tuple shows as a list).
    """
    if isinstance(x, torch.Tensor):
        return x.size()
    if isinstance(x, Mapping):
        return {k: _size_mirror(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_size_mirror(v) for v in x]
    return x


def iter_tensors(x: Any) -> list[torch.Tensor]:
    """The tensors of a nested structure, in order."""
    return [v for v in leaves(x) if isinstance(v, torch.Tensor)]


def total_input_bytes(x: Any) -> int:
    """torchinfo's "Input size": each input's whole storage, CPython object overhead included.

    Plain numbers among the inputs count as torchinfo main counts them: an int value of a dict
    (``input_data={"x": t, "scale_factor": 5}`` adds 5) and any number inside a list or tuple.
    Not a sum over pytree leaves: whether a number counts depends on the container holding it, and
    on whether the sums below it came out int or float (torchinfo's rule, kept to the byte).
    """

    def walk(d: Any) -> Any:
        if isinstance(d, torch.Tensor):
            return sys.getsizeof(d.untyped_storage())
        if isinstance(d, Mapping):
            return sum(v for v in map(walk, d.values()) if isinstance(v, int))
        if isinstance(d, (list, tuple)):
            return sum(v for v in map(walk, d) if isinstance(v, (int, float)))
        return d

    total = walk(x)
    return int(total) if isinstance(total, (int, float)) else 0


def shown_input_size(input_size: Any) -> Any:
    """`input_size` as torchinfo main keeps it on ModelStatistics: as given, in a list when one shape.

    A list of shapes stays the caller's own list, a tuple of shapes becomes a list, one shape given
    as a list becomes a tuple (``[1, 28]`` -> ``[(1, 28)]``) and any other one shape is wrapped as is.
    """
    if isinstance(input_size, list) and (not input_size or input_size == [[]]):
        return [()]
    if isinstance(input_size, list):
        return [tuple(input_size)] if isinstance(input_size[0], int) else input_size
    if isinstance(input_size, tuple) and input_size and isinstance(input_size[0], (tuple, list)):
        return list(input_size)
    return [input_size]


def map_tensors(x: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """A nested structure with `fn` applied to every tensor in it (torch.utils._pytree's tree_map).

    Containers pytree keeps whole are rebuilt as torchinfo does: any other Mapping as a dict,
    a namedtuple or list/tuple subclass as its own type; anything else is left as it is.
    """

    def one(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return fn(v)
        if isinstance(v, Mapping):
            return {k: map_tensors(item, fn) for k, item in v.items()}
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            return type(v)(*(map_tensors(item, fn) for item in v))
        if isinstance(v, (list, tuple)):
            return type(v)(map_tensors(item, fn) for item in v)
        return v

    return tree_map(one, x, is_leaf=_pytree_leaf)


def move_to(x: Any, device: torch.device) -> Any:
    """Tensors in a nested structure moved to `device` (used for forward kwargs with input_size)."""
    return map_tensors(x, lambda t: t.to(device))
