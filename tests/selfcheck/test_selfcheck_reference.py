"""The reference models summarised by the real engine: figures, the call-out and its advice."""

from __future__ import annotations

import pytest

from summarytool.selfcheck import reference
from summarytool.selfcheck.verdicts import Verdict


@pytest.fixture(scope="module")
def simplecnn() -> reference.ReferenceResult:
    return reference.summarise("simplecnn", "cpu")


@pytest.mark.slow
def test_simplecnn_figures(simplecnn: reference.ReferenceResult) -> None:
    assert simplecnn.total_params == simplecnn.counted_params == 205_602_186  # the corrected figure
    assert simplecnn.trainable_params == simplecnn.total_params
    # torchinfo's count: every weight and bias element once per output position.
    conv1 = (3 * 9 + 1) * 64 * 224 * 224
    conv2 = (64 * 9 + 1) * 128 * 112 * 112
    linears = (401_408 + 1) * 512 + (512 + 1) * 10
    assert simplecnn.total_mult_adds == conv1 + conv2 + linears
    assert "Total params: 205,602,186" in simplecnn.table
    assert simplecnn.device == "cpu"


@pytest.mark.slow
def test_simplecnn_calls_out_the_huge_linear(simplecnn: reference.ReferenceResult) -> None:
    heaviest = simplecnn.heaviest
    assert heaviest is not None
    assert heaviest.class_name == "Linear" and heaviest.num_params == 401_408 * 512 + 512
    assert heaviest.share > 0.99 and heaviest.detail == "401,408 -> 512"
    assert heaviest.advice is not None
    assert "nn.AdaptiveAvgPool2d(1)" in heaviest.advice and "nn.Linear(128, 512)" in heaviest.advice
    assert "146,826" in heaviest.advice  # what the model becomes: the gap-cnn count, checked below
    findings = reference.findings(simplecnn)
    assert [f.verdict for f in findings] == [Verdict.OK, Verdict.OK]
    assert "99.96%" in findings[1].message and findings[1].advice == heaviest.advice


def test_gap_cnn_is_the_advised_model() -> None:
    result = reference.summarise("gap-cnn", "cpu")
    assert result.total_params == result.counted_params == 146_826
    assert result.heaviest is not None and result.heaviest.class_name == "Conv2d"
    assert result.heaviest.advice is None  # nothing left to fix


def test_unknown_reference_names_the_choices() -> None:
    with pytest.raises(reference.UnknownReferenceError, match="choose one of: gap-cnn, simplecnn"):
        reference.get("resnet9000")


def test_a_miscount_is_a_fail() -> None:
    result = reference.ReferenceResult(
        name="x", description="", device="cpu", input_size=[1], total_params=10, trainable_params=10,
        total_mult_adds=0, counted_params=12, heaviest=None, table="", seconds=0.0,
    )  # fmt: skip
    (finding,) = reference.findings(result)
    assert finding.verdict is Verdict.FAIL and "miscounted" in finding.reason
