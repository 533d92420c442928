"""The dry-run corpus of issue 16: every model whose CPU summary works also dry-runs and estimates a step.

For each model of tests/corpus_models.py (torchvision classification, detection, segmentation and video;
timm; Hugging Face encoders, decoders, MoE, seq2seq, speech and vision models from tiny configs; custom
modules that broke dry runs before), three checks:

- ``cpu``: ``summary(model, ..., verbose=0)`` works on the CPU.
- ``meta``: ``summary(model, ..., device="meta")`` prints the same table and totals as the CPU run. Where a
  size depends on the data, the dry run shows a symbol (``[u0, 4]``): those rows are compared with their
  shape cells left out, and the symbol must be there; the footer must then say "Sizes incomplete", and the
  size totals it says leave those rows out (mult-adds, pass size) are compared by their labels. A count the
  model's Python reads as a number (Faster R-CNN's ``len(rois)``) is such a symbol too (``[Min(1000, u2),
  1024]``) in every row computed from it, so the same rule covers it; the rows before it (backbone, FPN, RPN
  head) and all parameter counts must equal the CPU run's.
- ``train``: ``summary(model, ..., train_step=True)`` works and its ``memory.parameters`` is the bytes of
  all the model's parameters.

torchvision and timm do not install beside the main venv's torch, so their cases are skipped there;
``make test-corpus`` runs the whole corpus in ``.venv-vision``. A case that fails today is an
``xfail(strict=True)`` with its cause (see ``xfail`` in corpus_models.py): a fix turns it into a failure,
and then the mark goes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from corpus_models import CASES, Case
from torch import nn

from summarytool import summary

CHECKS = ("cpu", "meta", "train")
# A data-dependent size in a shape cell: [u0, 4], [s1], [2, u3 + 1] ...
SYMBOL = re.compile(r"\b[us]\d+\b")
SHAPE_CELL = re.compile(r"\[[^\[\]]*\]")

_built: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
_cpu: dict[str, Any] = {}


def _params(case: Case) -> list[Any]:
    out = []
    for check in CHECKS:
        marks = []
        if case.slow:
            marks.append(pytest.mark.slow)
        if check in case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail[check]))
        out.append(pytest.param(case, check, marks=marks, id=f"{case.id}-{check}"))
    return out


def _importorskip(name: str) -> None:
    try:
        pytest.importorskip(name, reason=f"needs {name}: make test-corpus runs it in .venv-vision")
    except pytest.skip.Exception:
        raise
    except Exception as error:  # noqa: BLE001 - a torchvision built for another torch fails to import
        pytest.skip(f"{name} does not import here ({type(error).__name__}): make test-corpus runs it")


def _build(case: Case) -> tuple[nn.Module, dict[str, Any]]:
    if case.id not in _built:
        _built[case.id] = case.build()
    return _built[case.id]


def _cpu_summary(case: Case) -> Any:
    """The CPU summary (or the exception it raised), computed once per case."""
    if case.id not in _cpu:
        model, kwargs = _build(case)
        try:
            _cpu[case.id] = summary(model, **kwargs, verbose=0)
        except Exception as error:  # noqa: BLE001 - reported by the cpu check, skipped by the others
            _cpu[case.id] = error
    return _cpu[case.id]


def _masked(line: str) -> str:
    return " ".join(SHAPE_CELL.sub("[?]", line).split())


# Footer totals that add up output sizes: rows whose sizes the data decides count 0 in them on meta.
SIZE_TOTALS = ("Total mult-adds", "Forward/backward pass size", "Estimated Total Size")
INCOMPLETE = "Sizes incomplete:"


def _label(line: str) -> str:
    return line.split("(")[0].split(":")[0].strip()


def assert_same_table(cpu: str, meta: str) -> None:
    """The same text; where the dry run shows a data-dependent symbol, that row's shape cells are left out,
    the footer must say "Sizes incomplete", and the totals it names may differ (those rows count 0)."""
    if not SYMBOL.search(meta):
        assert meta == cpu
        return
    meta_lines = meta.splitlines()
    assert sum(line.startswith(INCOMPLETE) for line in meta_lines) == 1, "no 'Sizes incomplete' footer"
    meta_lines = [line for line in meta_lines if not line.startswith(INCOMPLETE)]
    cpu_lines = cpu.splitlines()
    for lines in (cpu_lines, meta_lines):
        lines[:] = [_label(line) if _label(line) in SIZE_TOTALS else line for line in lines]
    assert len(meta_lines) == len(cpu_lines), f"{len(meta_lines)} lines on meta, {len(cpu_lines)} on CPU"
    symbolic = 0
    for c, m in zip(cpu_lines, meta_lines, strict=True):
        if c == m:
            continue
        assert SYMBOL.search(m), f"differs without a symbol:\n  cpu:  {c}\n  meta: {m}"
        assert _masked(m) == _masked(c), f"differs beyond the shape cells:\n  cpu:  {c}\n  meta: {m}"
        symbolic += 1
    assert symbolic > 0


def _parameter_bytes(model: nn.Module, kwargs: dict[str, Any], case: Case) -> int:
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        model, kwargs = case.build()  # a fresh twin, initialised by one forward pass
        with torch.no_grad():
            model(torch.randn(kwargs["input_size"]))
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize(("case", "check"), [p for c in CASES for p in _params(c)])
def test_corpus(case: Case, check: str) -> None:
    if case.needs:
        _importorskip(case.needs)
    model, kwargs = _build(case)
    cpu = _cpu_summary(case)
    if check == "cpu":
        if isinstance(cpu, Exception):
            raise cpu
        assert cpu.total_params > 0
        return
    if isinstance(cpu, Exception):
        pytest.skip(f"the CPU summary fails ({type(cpu).__name__}); the cpu check reports it")
    if check == "meta":
        meta = summary(model, **kwargs, device="meta", verbose=0)
        assert_same_table(str(cpu), str(meta))
        assert meta.total_params == cpu.total_params
        assert meta.trainable_params == cpu.trainable_params
    else:
        stats = summary(model, **kwargs, train_step=True, verbose=0)
        assert stats.memory is not None and stats.memory.peak_bytes > 0
        assert stats.memory.parameters == _parameter_bytes(model, kwargs, case)


def test_the_corpus_is_large_and_covers_every_family() -> None:
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
    families = {c.family for c in CASES}
    assert {"torchvision", "detection", "segmentation", "timm", "hf", "custom"} <= families
