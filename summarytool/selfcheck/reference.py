"""Built-in reference models, summarised by our own engine, so the self-check exercises the tool as well.

The default, `simplecnn`, is the seed design's SimpleCNN: 205,602,186 params, of which one Linear (401,408 -> 512)
holds over 99%. That is the lesson the tool exists to teach, so the report calls the layer out and gives the
fix; `gap-cnn` is the same network after the fix (global average pooling before the classifier).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from summarytool.enums import DOMINANT_SHARE
from summarytool.selfcheck.verdicts import Finding, Verdict

DEFAULT = "simplecnn"
INPUT_SIZE = (1, 3, 224, 224)


class UnknownReferenceError(ValueError):
    """A --reference name we have no model for."""


def _conv_blocks() -> list[Any]:
    """The two conv blocks both reference models start with (64 then 128 channels, each pooled by 2)."""
    from torch import nn

    return [
        nn.Conv2d(3, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]


def simplecnn() -> Any:
    """The seed design's SimpleCNN: two conv blocks, then Flatten into a 401,408 -> 512 Linear."""
    from torch import nn

    return nn.Sequential(
        *_conv_blocks(),
        nn.Flatten(),
        nn.Linear(128 * 56 * 56, 512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, 10),
    )


def gap_cnn() -> Any:
    """SimpleCNN with global average pooling before the classifier: same features, 1/1400 of the params."""
    from torch import nn

    return nn.Sequential(
        *_conv_blocks(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 512),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(512, 10),
    )


@dataclass(frozen=True)
class ReferenceModel:
    name: str
    description: str
    input_size: tuple[int, ...]
    build: Callable[[], Any]


REFERENCES: dict[str, ReferenceModel] = {
    "simplecnn": ReferenceModel(
        "simplecnn",
        "the seed design's SimpleCNN (Flatten into a 401,408 -> 512 Linear)",
        INPUT_SIZE,
        simplecnn,
    ),
    "gap-cnn": ReferenceModel(
        "gap-cnn", "SimpleCNN with global average pooling before the classifier", INPUT_SIZE, gap_cnn
    ),
}


def get(name: str) -> ReferenceModel:
    """The reference model called `name`, or an error that lists the names there are."""
    try:
        return REFERENCES[name]
    except KeyError:
        names = ", ".join(sorted(REFERENCES))
        raise UnknownReferenceError(f"unknown reference model {name!r}; choose one of: {names}") from None


@dataclass
class HeaviestLayer:
    """The leaf layer holding the most params, and how to shrink it when it dominates."""

    name: str
    class_name: str
    detail: str  # "401,408 -> 512" for a Linear, "64 -> 128, kernel (3, 3)" for a conv
    num_params: int
    share: float
    advice: str | None
    # Where the table shows it: "1-8" of the row "Linear: 1-8" (depth, then index at that depth).
    depth_index: str = ""

    @property
    def row_name(self) -> str:
        """The layer as the table's row names it, with its qualified name: "Linear: 1-8 ('7')"."""
        row = f"{self.class_name}: {self.depth_index}" if self.depth_index else self.class_name
        return f"{row} ({self.name!r})" if self.name else row


@dataclass
class ReferenceResult:
    name: str
    description: str
    device: str
    input_size: list[int]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    counted_params: int  # sum of numel() over model.parameters(): what total_params must equal
    heaviest: HeaviestLayer | None
    table: str
    seconds: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_leaf(module: Any) -> bool:
    return not any(True for _ in module.children())


def heaviest_layer(rows: list[Any], total_params: int, model: Any) -> HeaviestLayer | None:
    """The leaf row with the most params (containers count their children, so only leaves compare fairly)."""
    from torch import nn

    names = {id(m): qualname for qualname, m in model.named_modules()}
    seen: set[int] = set()
    leaves = []
    for row in rows:
        if _is_leaf(row.module) and id(row.module) not in seen:
            seen.add(id(row.module))
            leaves.append(row)
    if not leaves or total_params <= 0:
        return None
    top = max(leaves, key=lambda r: r.num_params)
    if top.num_params == 0:
        return None
    share = top.num_params / total_params
    advice = None
    module = top.module
    if isinstance(module, nn.Linear) and share >= DOMINANT_SHARE:
        advice = _pooling_advice(leaves, top, total_params)
    return HeaviestLayer(
        name=names.get(id(module), top.var_name),
        class_name=top.class_name,
        detail=_layer_detail(module),
        num_params=int(top.num_params),
        share=share,
        advice=advice,
        depth_index=f"{top.depth}-{top.depth_index}" if top.depth_index is not None else str(top.depth),
    )


def _layer_detail(module: Any) -> str:
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{module.in_features:,} -> {module.out_features:,}"
    if hasattr(module, "in_channels") and hasattr(module, "out_channels"):
        return f"{module.in_channels} -> {module.out_channels}, kernel {tuple(module.kernel_size)}"
    return ""


def _pooling_advice(leaves: list[Any], top: Any, total_params: int) -> str | None:
    """For Flatten of a conv feature map into a huge Linear: global average pooling, with the figures."""
    from torch import nn

    index = leaves.index(top)
    before = leaves[:index]
    if not any(isinstance(r.module, nn.Flatten) for r in before):
        return None
    convs = [r.module for r in before if isinstance(r.module, nn.Conv2d)]
    if not convs:
        return None
    channels = convs[-1].out_channels
    linear = top.module
    new_params = channels * linear.out_features + (linear.out_features if linear.bias is not None else 0)
    new_total = total_params - top.num_params + new_params
    return (
        f"replace Flatten + Linear({linear.in_features}, {linear.out_features}) by global average pooling before "
        f"the classifier: nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear({channels}, {linear.out_features}). "
        f"That layer then holds {new_params:,} params instead of {top.num_params:,} and the model "
        f"{new_total:,} instead of {total_params:,}; it also accepts any input size "
        f"(see `summarytool selfcheck --reference gap-cnn`)"
    )


def summarise(name: str, device: str) -> ReferenceResult:
    """Build the model directly on `device` (fast init on a GPU) and summarise it with our engine."""
    import torch

    from summarytool import summary

    ref = get(name)
    start = time.perf_counter()
    note = ""
    try:
        with torch.device(device):
            model = ref.build()
    except torch.cuda.OutOfMemoryError:
        note = f"no room for the model on {device}; summarised on the CPU instead"
        device = "cpu"
        with torch.device(device):
            model = ref.build()
    stats = summary(model, input_size=ref.input_size, verbose=0, device=device)
    total = int(stats.total_params)
    return ReferenceResult(
        name=ref.name,
        description=ref.description,
        device=device,
        input_size=list(ref.input_size),
        total_params=total,
        trainable_params=int(stats.trainable_params),
        total_mult_adds=int(stats.total_mult_adds),
        counted_params=sum(p.numel() for p in model.parameters()),
        heaviest=heaviest_layer(list(stats.summary_list), total, model),
        table=str(stats),
        seconds=time.perf_counter() - start,
        note=note,
    )


def findings(result: ReferenceResult) -> list[Finding]:
    """The summary's headline figures, a consistency check of the engine, and the call-out."""
    out = []
    if result.total_params != result.counted_params:
        out.append(
            Finding(
                check="reference-summary",
                verdict=Verdict.FAIL,
                message=f"{result.name}: the summary counts {result.total_params:,} params, the model has "
                f"{result.counted_params:,}",
                reason="the summary engine miscounted a model whose true count is known",
                fix="report this as a summarytool bug, with this output",
            )
        )
    else:
        out.append(
            Finding(
                check="reference-summary",
                verdict=Verdict.OK,
                message=f"{result.name} on {result.device}: {result.total_params:,} params, "
                f"{result.total_mult_adds:,} mult-adds ({result.seconds:.2f} s)",
            )
        )
    if result.heaviest is not None:
        h = result.heaviest
        what = h.row_name + (f" ({h.detail})" if h.detail else "")
        out.append(
            Finding(
                check="reference-heaviest-layer",
                verdict=Verdict.OK,
                message=f"heaviest layer: {what} holds {h.num_params:,} params, {h.share:.2%} of all",
                advice=h.advice or "",
            )
        )
    return out
