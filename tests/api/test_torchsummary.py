"""summarytool.torchsummary: pytorch-summary's table from summarytool's engine.

Golden tables below were checked by hand (parameter arithmetic and the MB formulas) and, where
torchsummary 1.5.1 is right, against it: the differential tests at the end run PyPI
``torchsummary==1.5.1`` on the same models and compare the printed text character for character.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from typing import Any

import models_torchsummary as tm
import pytest
import torch
from torch import nn

from summarytool import SummaryError
from summarytool import summary as torchinfo_style
from summarytool.torchsummary import summary, summary_string

RULE = "-" * 64
DOUBLE = "=" * 64
HEADER = f"{RULE}\n        Layer (type)               Output Shape         Param #\n{DOUBLE}\n"


def footer(total: str, trainable: str, non_trainable: str, mb: tuple[str, str, str, str]) -> str:
    return (
        f"{DOUBLE}\nTotal params: {total}\nTrainable params: {trainable}\n"
        f"Non-trainable params: {non_trainable}\n{RULE}\n"
        f"Input size (MB): {mb[0]}\nForward/backward pass size (MB): {mb[1]}\n"
        f"Params size (MB): {mb[2]}\nEstimated Total Size (MB): {mb[3]}\n{RULE}\n"
    )


def table(rows: list[tuple[str, str, str]], foot: str) -> str:
    return HEADER + "".join(f"{n:>20}  {s:>25} {p:>15}\n" for n, s, p in rows) + foot


def names(text: str) -> list[str]:
    """The layer names of a table, in order."""
    body = text.split(DOUBLE)[1]
    return [line.split()[0] for line in body.strip("\n").splitlines()]


# SimpleCNN at 3x224x224. Params: 3*64*9+64 = 1,792; 64*128*9+128 = 73,856; 401,408*512+512 =
# 205,521,408; 512*10+10 = 5,130; total 205,602,186 (x4 / 1024**2 = 784.31 MB). Output values per
# sample: 2*3,211,264 + 802,816 + 2*1,605,632 + 401,408 + 401,408 + 3*512 + 10 = 11,240,970
# (x2 x4 / 1024**2 = 85.76 MB). Input 150,528 values = 0.57 MB. Sum 870.65 MB.
SIMPLE_CNN = table(
    [
        ("Conv2d-1", "[-1, 64, 224, 224]", "1,792"),
        ("ReLU-2", "[-1, 64, 224, 224]", "0"),
        ("MaxPool2d-3", "[-1, 64, 112, 112]", "0"),
        ("Conv2d-4", "[-1, 128, 112, 112]", "73,856"),
        ("ReLU-5", "[-1, 128, 112, 112]", "0"),
        ("MaxPool2d-6", "[-1, 128, 56, 56]", "0"),
        ("Flatten-7", "[-1, 401408]", "0"),
        ("Linear-8", "[-1, 512]", "205,521,408"),
        ("ReLU-9", "[-1, 512]", "0"),
        ("Dropout-10", "[-1, 512]", "0"),
        ("Linear-11", "[-1, 10]", "5,130"),
    ],
    footer("205,602,186", "205,602,186", "0", ("0.57", "85.76", "784.31", "870.65")),
)

# LSTM(10, 20): 4*20*(10+20) weights + 2*4*20 biases = 2,560; Linear(20, 5) = 105. The LSTM returns
# (out, (h_n, c_n)): out [2, 5, 20], h_n and c_n [1, 2, 20] (num_layers, batch, hidden), each shown
# with its first dimension as the batch. Values: 100 + 40 + 40 + 5 -> 0.00 MB; params 0.01 MB.
LSTM_TABLE = table(
    [
        ("LSTM-1", "[[-1, 5, 20], [-1, 2, 20], [-1, 2, 20]]", "2,560"),
        ("Linear-2", "[-1, 5]", "105"),
    ],
    footer("2,665", "2,665", "0", ("0.00", "0.00", "0.01", "0.01")),
)


@pytest.fixture(scope="module")
def simple_cnn() -> nn.Module:
    torch.manual_seed(0)
    return tm.SimpleCNN()


def test_simple_cnn_table(simple_cnn: nn.Module) -> None:
    text, totals = summary_string(simple_cnn, (3, 224, 224))
    assert text == SIMPLE_CNN
    assert totals == (205_602_186, 205_602_186)
    assert all(type(v) is int for v in totals)


def test_summary_prints_the_table_and_returns_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    # pytorch-summary's current source returns (total_params, trainable_params); 1.5.1 returned None.
    totals = summary(tm.LastStep(), (5, 10))
    assert totals == summary_string(tm.LastStep(), (5, 10))[1]
    assert all(type(v) is int for v in totals) and totals[0] > 0
    assert capsys.readouterr().out == LSTM_TABLE


def test_lstm_counts_every_weight_and_lists_every_output() -> None:
    text, totals = summary_string(tm.LastStep(), (5, 10))
    assert text == LSTM_TABLE
    assert totals == (2665, 2665)


def test_rows_follow_call_completion_and_skip_containers() -> None:
    # Custom blocks come after their layers; the root, ModuleList and Sequential have no row.
    text, _ = summary_string(tm.BlockCNN(), (3, 32, 32))
    assert names(text) == [
        "Conv2d-1",
        "Conv2d-2",
        "BatchNorm2d-3",
        "ReLU-4",
        "ConvBlock-5",
        "Conv2d-6",
        "BatchNorm2d-7",
        "ReLU-8",
        "ConvBlock-9",
        "AdaptiveAvgPool2d-10",
        "Flatten-11",
        "Linear-12",
    ]
    # The stem (224 params) is frozen; every other parameter trains.
    assert "Total params: 3,812\nTrainable params: 3,588\nNon-trainable params: 224\n" in text


def test_batch_size_is_shown_and_scales_the_sizes() -> None:
    text, _ = summary_string(tm.mlp(), (1, 28, 28), batch_size=16)
    assert f"{'Linear-2':>20}  {'[16, 64]':>25} {'50,240':>15}" in text
    # Input: 16 * 784 values * 4 bytes = 0.05 MB. Outputs per sample: 784 + 3*64 + 2*10 = 996,
    # x16 x2 x4 bytes = 0.12 MB.
    assert "Input size (MB): 0.05\nForward/backward pass size (MB): 0.12\n" in text


def test_tuple_outputs_show_the_batch_size_too() -> None:
    text, _ = summary_string(tm.SplitNet(), (6,), batch_size=3)
    assert f"{'Splitter-2':>20}  {'[[3, 2], [3, 4]]':>25} {'0':>15}" in text


def test_tuple_output_values_are_added() -> None:
    # Two halves of 1,024 values: 2 * 2,048 * 4 bytes = 0.02 MB (a product would be 8.00 MB).
    text, _ = summary_string(nn.Sequential(tm.Halves()), (2048,))
    assert text == table(
        [("Halves-1", "[[-1, 1024], [-1, 1024]]", "0")],
        footer("0", "0", "0", ("0.01", "0.02", "0.00", "0.02")),
    )


def test_none_items_of_a_tuple_output_are_skipped() -> None:
    # in_proj 3*8*8 + 3*8 = 216 on the row; out_proj (72) never runs but counts in the totals.
    text, _ = summary_string(tm.Attention(), (5, 8))
    assert f"{'MultiheadAttention-1':>20}  {'[[-1, 5, 8]]':>25} {'216':>15}" in text
    assert "Total params: 288\n" in text


# ----- documented differences from torchsummary 1.5.1 ------------------------------------------


def test_reused_module_counts_once() -> None:
    text, totals = summary_string(tm.TwiceFC(), (10,))
    assert text == table(
        [("Linear-1", "[-1, 10]", "110"), ("Linear-2", "[-1, 10]", "(recursive)")],
        footer("110", "110", "0", ("0.00", "0.00", "0.00", "0.00")),
    )
    assert totals == (110, 110)


def test_module_registered_twice_has_one_row_per_call() -> None:
    text, totals = summary_string(tm.SharedTwice(), (4,))
    assert names(text) == ["Linear-1", "ReLU-2", "Linear-3"]
    assert totals == (20, 20)


def test_parameters_of_any_name_count() -> None:
    text, totals = summary_string(tm.ScaledNet(), (8,))
    assert f"{'Scaled-2':>20}  {'[-1, 4]':>25} {'4':>15}" in text
    assert totals == (40, 40)


def test_parameters_of_the_root_count_in_the_totals() -> None:
    # The root has no row, but its own parameter is part of the model.
    text, totals = summary_string(tm.Scaled(4), (4,))
    assert totals == (4, 4)
    assert text == table([], footer("4", "4", "0", ("0.00", "0.00", "0.00", "0.00")))


def test_trainable_is_per_parameter() -> None:
    model = nn.Sequential(nn.Linear(8, 4))
    model[0].bias.requires_grad_(False)
    text, totals = summary_string(model, (8,))
    assert totals == (36, 32)
    assert "Total params: 36\nTrainable params: 32\nNon-trainable params: 4\n" in text


def test_model_without_parameters() -> None:
    text, totals = summary_string(nn.Sequential(nn.ReLU()), (4,))
    assert totals == (0, 0)
    assert text == table(
        [("ReLU-1", "[-1, 4]", "0")], footer("0", "0", "0", ("0.00", "0.00", "0.00", "0.00"))
    )


def test_several_inputs_add_their_sizes() -> None:
    # (3*64*64 + 3*32*32) values * 4 bytes = 61,440 bytes = 0.06 MB.
    text, _ = summary_string(tm.TwoInputs(), [(3, 64, 64), (3, 32, 32)])
    assert "Input size (MB): 0.06\n" in text
    assert names(text)[:4] == ["Conv2d-1", "AdaptiveAvgPool2d-2", "Flatten-3", "Conv2d-4"]


def test_default_device_is_the_parameters_device() -> None:
    # A model on "meta" runs on "meta": nothing is allocated and the table is the same.
    with torch.device("meta"):
        model = tm.SimpleCNN()
    text, _ = summary_string(model, (3, 224, 224))
    assert text == SIMPLE_CNN
    assert next(model.parameters()).device.type == "meta"


def test_cpu_model_needs_no_device_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    # With no device given nothing asks for CUDA, even on a machine that has it.
    def no_cuda(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("CUDA was touched")

    monkeypatch.setattr(torch.cuda, "is_available", no_cuda)
    text, _ = summary_string(tm.ScaledNet(), (8,))
    assert "Total params: 40\n" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_cuda_without_cuda_falls_back_to_cpu_with_a_warning() -> None:
    model = tm.ScaledNet()
    with pytest.warns(UserWarning, match="CUDA is not available"):
        text, _ = summary_string(model, (8,), device="cuda")
    assert text == summary_string(model, (8,), device="cpu")[0]


def test_explicit_device_leaves_the_model_where_it_was() -> None:
    with torch.device("meta"):
        model = tm.ScaledNet()
    text, _ = summary_string(model, (8,), device=torch.device("meta"))
    assert "Total params: 40\n" in text
    assert next(model.parameters()).device.type == "meta"


def test_dict_input_size_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"input_size is a dict.*input_data=\{\.\.\.\}"):
        summary_string(tm.ScaledNet(), {"x": (8,)})


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda x: {"y": x}, "returned a dict"),
        (lambda x: "text", "returned a str"),
        (lambda x: None, "returned None"),
        (lambda x: (x, 3), "returned a tuple holding an int"),
        (lambda x: (), "returned a tuple without tensors"),
    ],
)
def test_non_tensor_output_is_a_clear_error(make: Callable[[torch.Tensor], Any], said: str) -> None:
    with pytest.raises(TypeError, match=rf"Layer Returns-2 {said};.*summarytool\.summary") as info:
        summary_string(tm.OddOutputNet(make), (4,))
    # Raised by summarytool.torchsummary itself, after the pass, not from inside a hook.
    assert info.traceback[-1].path.name == "torchsummary.py"


def test_a_layer_that_raises_is_reported_as_such() -> None:
    with pytest.raises(SummaryError, match=r"Boom \(boom\) raised ValueError"):
        summary_string(tm.OddThenBoom(), (4,))


def test_root_output_may_be_anything() -> None:
    text, _ = summary_string(tm.DictModel(), (4,))
    assert names(text) == ["Linear-1"]


# ----- inputs ------------------------------------------------------------------------------------


def test_input_size_forms() -> None:
    model = tm.ScaledNet()
    expected = summary_string(model, (8,))[0]
    assert summary_string(model, [8])[0] == expected
    assert summary_string(model, torch.Size([8]))[0] == expected
    assert summary_string(model, [(8,)])[0] == expected
    two = tm.TwoInputs()
    assert summary_string(two, [[3, 64, 64], (3, 32, 32)]) == summary_string(two, ((3, 64, 64), (3, 32, 32)))


@pytest.mark.parametrize(
    ("input_size", "error", "match"),
    [
        ([(3, 8), 4], TypeError, "mixes sizes and shapes"),
        ((3, 0), ValueError, "positive int"),
        ([], ValueError, "empty list"),
        ("3x8", TypeError, "got str"),
        ((3.0, 8), TypeError, "mixes sizes and shapes"),
    ],
)
def test_bad_input_size(input_size: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        summary_string(tm.ScaledNet(), input_size)


def test_bad_batch_size() -> None:
    with pytest.raises(TypeError, match="batch_size must be an int"):
        summary_string(tm.ScaledNet(), (8,), batch_size=True)


def test_dtypes_accept_dtypes_and_tensor_types() -> None:
    by_type = summary_string(tm.Tokens(), (7,), dtypes=[torch.LongTensor])[0]
    assert by_type == summary_string(tm.Tokens(), (7,), dtypes=[torch.long])[0]
    assert f"{'Embedding-1':>20}  {'[-1, 7, 4]':>25} {'40':>15}" in by_type


def test_the_model_is_left_as_it_was() -> None:
    model = tm.BlockCNN().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    summary_string(model, (3, 32, 32))
    assert model.training
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_totals_are_the_engines() -> None:
    # The totals are summarytool.summary's (every parameter once), not a sum over the rows.
    model = tm.BlockCNN()
    stats = torchinfo_style(model, input_size=(2, 3, 32, 32), verbose=0)
    assert summary_string(model, (3, 32, 32))[1] == (stats.total_params, stats.trainable_params)


# ----- differential: PyPI torchsummary 1.5.1 on models where it is right ----------------------------


def oracle(model: nn.Module, input_size: Any, **kwargs: Any) -> str:
    ts = pytest.importorskip("torchsummary", reason="the oracle is PyPI torchsummary==1.5.1")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ts.summary(model, input_size, device="cpu", **kwargs)
    return out.getvalue()


CASES: dict[str, tuple[Callable[[], nn.Module], Any, dict[str, Any]]] = {
    "block-cnn": (tm.BlockCNN, (3, 32, 32), {}),
    "mlp": (tm.mlp, (1, 28, 28), {}),
    "mlp-batch-16": (tm.mlp, (1, 28, 28), {"batch_size": 16}),
    "split": (tm.SplitNet, (6,), {}),
    "block-cnn-eval-odd-size": (lambda: tm.BlockCNN().eval(), (3, 17, 23), {}),
}


@pytest.mark.parametrize("case", CASES)
def test_same_text_as_torchsummary(case: str) -> None:
    make, input_size, kwargs = CASES[case]
    torch.manual_seed(0)
    model = make()
    ours = summary_string(model, input_size, **kwargs)[0]
    assert ours == oracle(model, input_size, **kwargs)


def test_simple_cnn_same_text_as_torchsummary(simple_cnn: nn.Module) -> None:
    assert oracle(simple_cnn, (3, 224, 224)) == SIMPLE_CNN


def test_two_inputs_differ_only_in_the_input_size() -> None:
    model = tm.TwoInputs()
    sizes = [(3, 64, 64), (3, 32, 32)]
    ours = summary_string(model, sizes)[0].splitlines()
    theirs = oracle(model, sizes).splitlines()
    # torchsummary multiplies the shapes: 12,288 * 3,072 values * 4 bytes = 144.00 MB.
    assert "Input size (MB): 144.00" in theirs
    assert "Input size (MB): 0.06" in ours
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    assert [ours[i].split(":")[0] for i in differ] == ["Input size (MB)", "Estimated Total Size (MB)"]


def test_torchsummary_is_wrong_where_documented() -> None:
    """The differences the module docstring lists are real differences in 1.5.1."""
    assert "Total params: 220\n" in oracle(tm.TwiceFC(), (10,))  # reuse counted twice
    assert "Total params: 80\n" in oracle(tm.SharedTwice(), (4,))  # two rows per call, twice per row
    assert "[[-1, 2], [-1, 4]]" in oracle(tm.SplitNet(), (6,), batch_size=3)  # batch_size ignored
    assert re.search(r"Scaled-2 +\[-1, 4\] +0\n", oracle(tm.ScaledNet(), (8,)))  # `gain` missed
    # Halves' two outputs multiplied: (-2,048 + 1,024 * 1,024) * 2 * 4 bytes = 7.98 MB; ours adds them.
    halves = nn.Sequential(nn.BatchNorm1d(2048), tm.Halves())
    assert "Forward/backward pass size (MB): 7.98\n" in oracle(halves, (2048,))
    assert "Forward/backward pass size (MB): 0.03\n" in summary_string(halves, (2048,))[0]
    with pytest.raises(AttributeError):  # (h_n, c_n) is a tuple inside the output tuple
        oracle(tm.LastStep(), (5, 10))
    with pytest.raises(AttributeError):  # no parameters: int 0 has no .numpy()
        oracle(nn.Sequential(nn.ReLU()), (4,))
