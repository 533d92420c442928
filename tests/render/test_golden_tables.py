"""Printed tables, character for character, for models written for these tests.

Every number in tests/render/golden/*.txt was checked by hand against torchinfo main's rules (see the
notes per case). Only the "Input size" and "Estimated Total Size" lines depend on the Python
version (CPython's storage object overhead), so they are filled in from the known byte counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from models import DigitNet, Reuse, Tagger, TiedLM, Tower, TwoHeads
from support import STORAGE_OVERHEAD

from summarytool import summary

GOLDEN = Path(__file__).parent / "golden"


def _bytes(n: int) -> str:
    for limit, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            value = n / limit
            return f" ({unit}B): {value:,.2f}" if not value.is_integer() else f" ({unit}B): {int(value):,}"
    return f": {n:,}"


def expected(name: str, input_nbytes: int = 0, n_inputs: int = 0, fwd: int = 0, params: int = 0) -> str:
    text = (GOLDEN / f"{name}.txt").read_text().rstrip("\n")
    input_bytes = input_nbytes + n_inputs * STORAGE_OVERHEAD
    text = text.replace("@INPUT@", _bytes(input_bytes))
    return text.replace("@TOTAL@", _bytes(input_bytes + fwd + params))


ALL_COLUMNS = [
    "kernel_size",
    "groups",
    "input_size",
    "output_size",
    "num_params",
    "params_percent",
    "mult_adds",
    "trainable",
]

# name: (call, input bytes, number of inputs, forward/backward bytes, param bytes)
CASES = {
    # conv 80 + grouped conv 592 + 12,832 + 330 = 13,834 params; mult-adds 31,360 + 29,600 + 25,664 + 660.
    "digitnet_all_columns": (
        lambda: summary(DigitNet(), (2, 1, 16, 16), col_names=ALL_COLUMNS, depth=1, verbose=0),
        2 * 16 * 16 * 4,
        1,
        32_160,
        55_336,
    ),
    # GRU: 3*24*(16+24) + 2*72 = 3,024 params, mult-adds 21 tokens * 3,024; per-parameter rows (verbose=2).
    "tagger_verbose_var_names": (
        lambda: summary(
            Tagger(),
            (3, 7),
            dtypes=[torch.long],
            verbose=0,
            row_settings=["var_names", "depth"],
            col_names=["output_size", "num_params", "mult_adds"],
        ),
        3 * 7 * 8,
        1,
        7_560,
        15_796,
    ),
    # The root owns `scale` (6): its leftover shows on the root row; the ModuleList never runs.
    "tower_depth3": (
        lambda: summary(
            Tower(),
            (4, 3),
            depth=3,
            col_names=["output_size", "num_params", "params_percent", "mult_adds"],
            verbose=0,
        ),
        48,
        1,
        960,
        552,
    ),
    # At max depth the ModuleList row shows its full count (108) and its leaves' mult-adds
    # (2 * (48 + 168) = 432), so the columns still add up to the totals; its children are hidden.
    "tower_depth1": (
        lambda: summary(
            Tower(),
            (4, 3),
            depth=1,
            col_names=["output_size", "num_params", "params_percent", "mult_adds"],
            verbose=0,
        ),
        48,
        1,
        960,
        552,
    ),
    # Repeated calls are rows of their own ("(recursive)"; a parameter-free repeat shows "--"),
    # the iterated Sequential gets a row that never ran; every call's mult-adds count (5 * 40).
    "reuse_ascii": (
        lambda: summary(
            Reuse(),
            (2, 4),
            row_settings=["ascii_only", "depth"],
            col_names=["num_params", "mult_adds"],
            verbose=0,
        ),
        32,
        1,
        320,
        240,
    ),
    # The tied projection owns no parameter of its own: a repeat; the weight counts once (240).
    "tied_lm": (lambda: summary(TiedLM(), (1, 6), dtypes=[torch.long], verbose=0), 48, 1, 1_824, 960),
    # Two inputs; a dict output shows its last value, a namedtuple its first field.
    "two_heads": (
        lambda: summary(
            TwoHeads(), [(2, 5), (2, 7)], col_names=["input_size", "output_size", "num_params"], verbose=0
        ),
        96,
        2,
        80,
        136,
    ),
    # Without input: modules listed statically, parameter columns only, no size footer.
    "tower_no_input": (lambda: summary(Tower(), verbose=0), 0, 0, 0, 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_table_matches_golden(name: str) -> None:
    call, input_nbytes, n_inputs, fwd, params = CASES[name]
    stats = call()
    if name == "tagger_verbose_var_names":
        stats.formatting.verbose = 2  # users may change formatting and print again
    assert str(stats) == expected(name, input_nbytes, n_inputs, fwd, params)
    assert repr(stats) == str(stats)


def test_verbose_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    stats = summary(Tower(), (4, 3), verbose=1)
    assert capsys.readouterr().out == str(stats) + "\n"
    summary(Tower(), (4, 3), verbose=0)
    assert capsys.readouterr().out == ""


def test_verbose_none_is_quiet_in_a_repl(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    summary(Tower(), (4, 3))
    assert capsys.readouterr().out == ""
    monkeypatch.delattr(sys, "ps1")
    summary(Tower(), (4, 3))
    assert "Total params: 138" in capsys.readouterr().out
