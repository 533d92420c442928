"""Special models and inputs: scripted, compiled, meta, lazy, pruned, 0-d, distributions, nested I/O."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.utils.prune as prune
from models import Reuse, Tagger, Tower, TwoHeads
from torch import nn

from summarytool import summary


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))  # 40 + 18 params


def test_scripted_model_lists_modules_with_params_but_no_shapes() -> None:
    stats = summary(torch.jit.script(mlp()), (3, 4), verbose=0)
    assert [r.class_name for r in stats.summary_list] == ["Sequential", "Linear", "ReLU", "Linear"]
    assert stats.total_params == 58
    assert all(r.output_size == [] for r in stats.summary_list)
    assert stats.total_mult_adds == 0 and stats.total_output_bytes == 0


def test_compiled_model_shows_the_wrapper_above_the_model() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = summary(torch.compile(mlp()), (3, 4), verbose=0)
    assert not [w for w in caught if "global hooks" in str(w.message)]  # ours stay internal
    names = [(r.class_name, r.depth) for r in stats.summary_list]
    assert names == [("OptimizedModule", 0), ("Sequential", 1), ("Linear", 2), ("ReLU", 2), ("Linear", 2)]
    assert stats.summary_list[2].output_size == [3, 8]
    assert stats.total_params == 58 and stats.total_mult_adds == 3 * 40 + 3 * 18


@pytest.mark.parametrize("how", ["input_size", "input_data"])
def test_meta_model(how: str) -> None:
    with torch.device("meta"):
        model = mlp()
    kwargs = (
        {"input_size": (3, 4)} if how == "input_size" else {"input_data": torch.empty(3, 4, device="meta")}
    )
    stats = summary(model, verbose=0, **kwargs)
    assert stats.total_params == 58
    assert stats.summary_list[-1].output_size == [3, 2]
    assert stats.total_mult_adds == 3 * 58


def test_lazy_modules_before_and_after_their_first_call() -> None:
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
    before = summary(model, verbose=0)
    assert before.summary_list[1].class_name == "LazyLinear"
    assert before.summary_list[1].num_params_to_str(False) == "--"
    assert before.total_params == 18
    after = summary(model, (3, 4), verbose=0)
    assert after.summary_list[1].class_name == "Linear"
    assert after.summary_list[1].num_params == 40
    assert after.total_params == 58


def test_pruned_weights_count_the_mask() -> None:
    model = nn.Sequential(nn.Linear(10, 10))
    prune.l1_unstructured(model[0], "weight", amount=0.3)  # 30 of 100 weights removed
    stats = summary(model, (1, 10), verbose=0)
    assert stats.total_params == 70 + 10
    assert stats.summary_list[1].num_params == 80
    assert stats.summary_list[1].macs == 80  # Linear on a [1, 10] output: params x 1
    stats.formatting.verbose = 2
    assert "└─weight" in str(stats) and "└─70" in str(stats)


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return x * self.gain


def test_zero_dim_input() -> None:
    stats = summary(Scale(), [], verbose=0)
    assert stats.input_size == [()]
    assert stats.summary_list[0].input_size == []
    assert stats.total_params == 1


class Gaussian(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.loc = nn.Linear(3, 4)

    def forward(self, x):
        return torch.distributions.Independent(torch.distributions.Normal(self.loc(x), 1.0), 1)


def test_distribution_output_shape_is_batch_plus_event() -> None:
    stats = summary(Gaussian(), (2, 3), verbose=0)
    assert stats.summary_list[0].output_size == [2, 4]


class KeywordModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, bias=None, scale=1.0):
        out = self.fc(x) * scale
        return out if bias is None else out + bias


def test_dict_input_data_goes_to_keywords_and_sizes_mirror_it() -> None:
    data = {"x": torch.randn(5, 3), "bias": torch.zeros(2)}
    stats = summary(KeywordModel(), input_data=data, verbose=0)
    assert stats.input_size == {"x": torch.Size([5, 3]), "bias": torch.Size([2])}
    assert stats.summary_list[1].output_size == [5, 2]


def test_kwargs_reach_forward() -> None:
    seen = []
    model = KeywordModel()
    model.register_forward_hook(lambda m, i, o: seen.append(o))
    summary(model, (5, 3), scale=0.0, verbose=0)
    assert torch.count_nonzero(seen[0]) == 0


def test_ndarray_and_list_input_data() -> None:
    stats = summary(KeywordModel(), input_data=np.zeros((4, 3), dtype=np.float32), verbose=0)
    assert stats.input_size == torch.Size([4, 3])
    stats = summary(TwoHeads(), input_data=[torch.zeros(2, 5), torch.zeros(2, 7)], verbose=0)
    assert stats.input_size == [torch.Size([2, 5]), torch.Size([2, 7])]
    assert stats.summary_list[0].output_size == [2, 3]


def test_batch_dim_adds_a_batch_of_one() -> None:
    stats = summary(Tower(), (3,), batch_dim=0, mode="eval", verbose=0)
    assert stats.summary_list[0].output_size == [1, 6]


def test_integer_inputs_from_dtypes() -> None:
    stats = summary(Tagger(), (2, 9), dtypes=[torch.long], verbose=0)
    assert stats.summary_list[-1].output_size == [2, 9, 5]


class Packed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4)

    def forward(self, x):
        packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([5, 3]))
        out, _ = self.rnn(packed)
        return out


def test_packed_sequence_output_shows_the_packed_data() -> None:
    stats = summary(Packed(), (5, 2, 3), verbose=0)
    assert stats.summary_list[1].output_size == [8, 4]  # 5 + 3 time steps


def test_cache_forward_pass_reuses_rows_by_class_name() -> None:
    from summarytool import clear_cached_forward_pass

    first = summary(Tower(), (4, 3), cache_forward_pass=True, verbose=0)
    second = summary(Tower(width=6), (9, 3), cache_forward_pass=True, verbose=0)
    assert second.summary_list is first.summary_list  # not re-run: the cache is keyed by class name
    clear_cached_forward_pass()
    third = summary(Tower(), (9, 3), cache_forward_pass=True, verbose=0)
    assert third.summary_list[0].output_size == [9, 6]


def test_hide_recursive_layers() -> None:
    stats = summary(Reuse(), (2, 4), row_settings=["hide_recursive_layers"], verbose=0)
    body = str(stats)
    assert body.count("Linear") == 3 and body.count("Tanh") == 1


def _column_sum(stats, header: str) -> int:
    lines = str(stats).splitlines()
    head = next(line for line in lines if line.startswith("Layer (type"))
    start = head.index(header)
    total = 0
    for line in lines[3:]:
        if line.startswith("="):
            break
        cell = line[start : start + stats.formatting.col_width].strip()
        if cell and cell[0].isdigit():
            total += int(cell.replace(",", ""))
    return total


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("model_fn", [Tower, Reuse, Tagger])
def test_param_and_mult_add_columns_sum_to_the_totals(depth: int, model_fn) -> None:
    dtypes = [torch.long] if model_fn is Tagger else None
    size = (2, 7) if model_fn is Tagger else ((4, 3) if model_fn is Tower else (2, 4))
    stats = summary(
        model_fn(), size, dtypes=dtypes, depth=depth, col_names=["num_params", "mult_adds"], verbose=0
    )
    assert _column_sum(stats, "Param #") == stats.total_params
    assert _column_sum(stats, "Mult-Adds") == stats.total_mult_adds


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(3, 4, num_layers=2)

    def forward(self, x):
        return self.rnn(x)


def test_all_output_shapes_row_setting() -> None:
    stats = summary(Recurrent(), (5, 2, 3), row_settings=["depth", "all_output_shapes"], verbose=0)
    lstm = stats.summary_list[1]
    assert lstm.output_size == [5, 2, 4]  # the torchinfo column value is unchanged
    assert lstm.output_shapes == [[5, 2, 4], [2, 2, 4], [2, 2, 4]]
    # Wider than the column: the cell wraps between shapes onto a continuation line.
    assert "├─LSTM: 1-1                              [5, 2, 4], [2, 2, 4],     304\n" in str(stats)
    assert "\n" + " " * 41 + "[2, 2, 4]\n" in str(stats)
    plain = str(summary(Recurrent(), (5, 2, 3), verbose=0))
    assert "[2, 2, 4]" not in plain


def test_jagged_nested_tensor_input() -> None:
    class Pool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x)

    x = torch.nested.nested_tensor([torch.randn(2, 4), torch.randn(3, 4)], layout=torch.jagged)
    stats = summary(Pool(), input_data=[x], verbose=0)
    proj = stats.summary_list[1]
    assert proj.output_size[0] == 2 and proj.output_size[-1] == 4  # the middle size is jagged
    assert proj.macs == 0  # no mult-adds for a size the data decides, as for symbolic sizes
