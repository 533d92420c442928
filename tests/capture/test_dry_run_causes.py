"""Dry runs and training-step estimates on the models that used to break them (issue 16).

Each case: the dry run (device="meta") prints the same table as the CPU summary, and the
training-step estimate runs. Models are written here or built from tiny Hugging Face configs.
"""

from __future__ import annotations

import warnings

import corpus_models
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from summarytool import summary
from summarytool.capture.dry_run import meta_copy
from summarytool.capture.value_shadows import ValueShadows


def _pruned() -> nn.Module:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    prune.l1_unstructured(model[0], "weight", 0.5)
    return model


def _old_weight_norm() -> nn.Module:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of parametrizations, still common
        nn.utils.weight_norm(model[0])
    return model


class PlainAttribute(nn.Module):
    """A tensor kept as a plain attribute (not a buffer)."""

    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = torch.ones(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale[:8]


class Packed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 4, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return out.data


CASES = {
    "pruned": (_pruned, {"input_size": (2, 8)}),
    "old_weight_norm": (_old_weight_norm, {"input_size": (2, 8)}),
    "lazy": (lambda: nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2)), {"input_size": (2, 8)}),
    "batchnorm_momentum_none_train": (
        lambda: nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=None)),
        {"input_size": (2, 8), "mode": "train"},
    ),
    "plain_tensor_attribute": (PlainAttribute, {"input_size": (2, 8)}),
    "packed_sequence": (Packed, {"input_data": [torch.randn(2, 5, 8), torch.tensor([5, 3])]}),
}


def _table(stats: object) -> str:
    return str(stats).split("Total params")[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_dry_run_gives_the_cpu_table(name: str) -> None:
    factory, kwargs = CASES[name]
    cpu = summary(factory(), **kwargs, verbose=0)
    meta = summary(factory(), **kwargs, device="meta", verbose=0)
    assert _table(meta) == _table(cpu)
    assert meta.total_params == cpu.total_params


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_step_estimate_runs(name: str) -> None:
    factory, kwargs = CASES[name]
    stats = summary(factory(), **kwargs, train_step=True, verbose=0)
    trainable = sum(p.numel() * p.element_size() for p in factory().parameters() if not _lazy(p))
    assert stats.memory.peak_bytes > 0
    if name != "lazy":
        assert stats.memory.parameters >= trainable


def _lazy(p: torch.Tensor) -> bool:
    return isinstance(p, nn.parameter.UninitializedParameter)


def test_a_lazy_models_estimate_equals_its_eager_twins() -> None:
    lazy = summary(
        nn.Sequential(nn.LazyLinear(8), nn.Linear(8, 2)), input_size=(2, 8), train_step=True, verbose=0
    )
    eager = summary(
        nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2)), input_size=(2, 8), train_step=True, verbose=0
    )
    assert lazy.memory == eager.memory


def test_a_big_plain_tensor_attribute_is_not_copied_for_real() -> None:
    model = PlainAttribute(size=1_000_000)
    copy = meta_copy(model)
    assert copy.scale.device.type == "meta" and copy.fc.weight.device.type == "meta"
    assert model.scale.device.type == "cpu"  # the caller's model is untouched


class _Anchored(nn.Module):
    """Tensors kept in a list and a dict attribute, as torchvision's AnchorGenerator keeps its cell anchors."""

    def __init__(self, size: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.anchors = [torch.ones(size, 4), torch.zeros(2, 4)]
        self.tables = {"scale": torch.full((size,), 2.0)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.tables["scale"].to(x.device)[:4]
        return self.fc(x) * scale + self.anchors[0].to(x.device)[:1]


def test_tensors_in_container_attributes_are_copied_and_a_mixed_estimate_runs() -> None:
    """On meta they are real copies (code mixes them with CPU tensors it makes, as torchvision's SSD box
    generator does); a mixed-precision estimate could not copy such a model at all (a real tensor
    deep-copied under fake tensors)."""
    model = _Anchored()
    copy = meta_copy(model)
    assert [t.device.type for t in copy.anchors] == ["cpu", "cpu"] and copy.anchors[0] is not model.anchors[0]
    assert copy.fc.weight.device.type == "meta"
    for precision in ("fp32", "bf16-mixed"):
        stats = summary(_Anchored(), input_size=(2, 4), train_step=True, precision=precision, verbose=0)
        assert stats.memory.parameters == 80


def test_scalar_buffers_stay_real_in_the_copy_and_the_caller_keeps_its_own() -> None:
    model = nn.BatchNorm1d(4, momentum=None).train()
    copy = meta_copy(model)
    assert copy.num_batches_tracked.device.type == "cpu" and copy.running_mean.device.type == "meta"
    summary(model, input_size=(2, 4), device="meta", mode="train", verbose=0)
    assert int(model.num_batches_tracked) == 0


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.head = nn.Linear(16, 2)
        self.head.weight = nn.Parameter(torch.randn(2, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
@pytest.mark.parametrize("compile_with", [torch.jit.script, lambda m: torch.jit.trace(m, torch.randn(3, 8))])
def test_scriptmodule_estimate_matches_the_eager_modules_and_leaves_it_alone(compile_with, precision) -> None:
    torch.manual_seed(0)
    eager = _Block()
    scripted = compile_with(_Block())
    before = {k: v.clone() for k, v in scripted.state_dict().items()}
    meta = summary(scripted, input_size=(4, 8), device="meta", verbose=0)
    assert meta.total_params == sum(p.numel() for p in eager.parameters())
    kwargs = {"input_size": (4, 8), "mode": "train", "precision": precision, "verbose": 0}
    got = summary(scripted, train_step="adamw", **kwargs).memory
    want = summary(eager, train_step="adamw", **kwargs).memory
    assert (got.parameters, got.gradients, got.optimizer_state) == (
        want.parameters,
        want.gradients,
        want.optimizer_state,
    )
    # TorchScript's interpreter keeps its own saved tensors (a BatchNorm counter, its autodiff
    # graphs), so activations may differ from the eager module's by a few tensors, not more.
    assert got.activations > 0 and got.peak_bytes == pytest.approx(want.peak_bytes, rel=0.1)
    # The caller's ScriptModule: weights on the CPU, unchanged, no gradients.
    assert all(p.device.type == "cpu" and p.grad is None for p in scripted.parameters())
    assert all(torch.equal(v, before[k]) for k, v in scripted.state_dict().items())


def test_scriptmodule_copy_holds_no_real_weights_and_keeps_tied_ones_tied() -> None:
    model = _Block()
    model.body[0].weight = nn.Parameter(torch.randn(16, 8))
    model.extra = nn.Linear(8, 16)
    model.extra.weight = model.body[0].weight  # tied across submodules
    scripted = torch.jit.script(model)
    copy = meta_copy(scripted)
    assert all(t.device.type == "meta" for t in copy.parameters())
    assert copy.extra.weight is getattr(copy.body, "0").weight
    assert all(p.device.type == "cpu" for p in scripted.parameters())


class PackedRoundTrip(nn.Module):
    """Unsorted lengths: the permutation goes to meta, is inverted there, and comes back with .cpu()."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        padded, lengths = pad_packed_sequence(out, batch_first=True)
        return self.head(padded), lengths


def test_pad_packed_sequence_reads_the_permutation_it_made_on_meta() -> None:
    data = [torch.randn(3, 5, 8), torch.tensor([3, 5, 2])]
    cpu = summary(PackedRoundTrip(), input_data=data, verbose=0)
    meta = summary(PackedRoundTrip(), input_data=data, device="meta", verbose=0)
    assert str(meta) == str(cpu)
    stats = summary(PackedRoundTrip(), input_data=data, train_step=True, verbose=0)
    assert stats.memory.parameters == sum(p.numel() * 4 for p in PackedRoundTrip().parameters())
    # The values read back are the real ones: the lengths come back in the caller's order.
    x, lengths = data[0].to("meta"), data[1]
    with ValueShadows():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        assert packed.unsorted_indices.is_meta
        padded, back = pad_packed_sequence(packed, batch_first=True)
    assert padded.is_meta and padded.shape == (3, 5, 8)
    assert back.tolist() == [3, 5, 2]


def test_value_shadows_never_make_up_values() -> None:
    """Values come only from real tensors and deterministic ops; anything else stays without values."""
    with ValueShadows():
        known = torch.tensor([2, 0, 1]).to("meta")
        assert (known * 2 + torch.arange(3, device="meta")).cpu().tolist() == [4, 1, 4]
        unknown = [
            torch.empty(3, dtype=torch.long, device="meta"),  # never written
            torch.randint(0, 9, (3,), device="meta"),  # random
            torch.arange(3, device="meta").float(),  # not an index
            known + torch.empty(3, dtype=torch.long, device="meta"),  # from an unknown value
        ]
        partly = torch.empty(3, dtype=torch.long, device="meta")
        partly[:2].fill_(1)  # (a write through a view covers only part of it)
        unknown.append(partly)
        view = known[1:]
        known.add_(torch.empty(3, dtype=torch.long, device="meta"))  # a write of unknown values
        unknown += [known, view]
        for t in unknown:
            with pytest.raises(NotImplementedError, match="meta"):
                t.cpu()


def test_transformer_encoder_fast_paths_are_summarised_as_their_layers() -> None:
    """Eval mode: torch's fused paths (the nested tensor with a padding mask, the fused layer kernel)
    would skip the layers' modules, on the CPU only. Every summary takes the ordinary path: its rows and
    totals are the layers', padded positions counted as the shapes show them, as in a training pass."""
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the nested-tensor prototype warning)
        encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)
    x, mask = torch.randn(2, 6, 16), torch.zeros(2, 6, dtype=torch.bool)
    mask[1, 3:] = True
    cols = ("output_size", "num_params", "mult_adds")
    for extra in ({"src_key_padding_mask": mask}, {}):
        kwargs = {"input_data": [x], "depth": 6, "col_names": cols, "verbose": 0, **extra}
        cpu = summary(encoder, mode="eval", **kwargs)
        assert str(cpu) == str(summary(encoder, mode="eval", device="meta", **kwargs))
        train = summary(encoder, mode="train", **kwargs)
        assert len(cpu.summary_list) == len(train.summary_list) == 20  # each layer's 8 modules are rows
        assert cpu.total_mult_adds == train.total_mult_adds
        assert cpu.total_output_bytes == train.total_output_bytes
        # Two layers: their Linears over all 12 positions and their LayerNorms (torchinfo's leaf rule).
        assert cpu.total_mult_adds == 2 * (12 * (544 + 528) + 2 * 64)
    # Outside a summary the model keeps its fast path: the nested one leaves zeros where the padding was.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = encoder.eval()(x, src_key_padding_mask=mask)
    assert bool((out[1, 3:] == 0).all())


# ---- a data-dependent count that Python reads as a number (issue 16: the R-CNN family) ----------------


def _nms_like(scores: torch.Tensor, top: int) -> torch.Tensor:
    """A stand-in for torchvision's NMS then ``keep[:top]``: indices of some boxes, how many the data decides."""
    return torch.nonzero(scores > 0)[:, 0][:top]


class _Pooled(nn.Module):
    """torchvision's MultiScaleRoIAlign in small: ``num_rois = len(rois)``, then a tensor of that many rows."""

    def forward(self, feats: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        num_rois = len(rois)  # Python needs the number: a data-decided count
        out = torch.zeros((num_rois, feats.shape[1]), dtype=feats.dtype, device=feats.device)
        return out + feats.mean()


class _TwoStage(nn.Module):
    def __init__(self, read: str = "len") -> None:
        super().__init__()
        self.backbone = nn.Linear(4, 8)
        self.score = nn.Linear(8, 1)
        self.pool = _Pooled()
        self.head = nn.Linear(8, 3)
        self.read = read

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        keep = _nms_like(self.score(feats)[:, 0], top=5)
        rois = feats[keep]
        if self.read == "numel":  # int(keep.numel()) in Python, then a factory op of that size
            rois = rois + feats.new_zeros(int(keep.numel()), 8)
            return self.head(rois)
        return self.head(self.pool(feats, rois))


@pytest.mark.parametrize("read", ["len", "numel"])
def test_a_count_python_reads_as_a_number_stays_a_bounded_symbol(read: str) -> None:
    """len(keep) / int(keep.numel()) of a data-decided count: the dry run gives it its upper bound (at most
    5 kept, the ``[:5]``), and the tensor made from it gets the symbol back, so the rows after it show
    the size as data-decided, not as 5; what the data does not decide equals the CPU run."""
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    cpu = summary(_TwoStage(read), input_data=[x], verbose=0)
    meta = summary(_TwoStage(read), input_data=[x], device="meta", verbose=0)
    rows = {r.class_name + ":" + r.var_name: r for r in meta.summary_list}
    head = rows["Linear:head"].output_size
    assert head[1] == 3 and isinstance(head[0], torch.SymInt) and "5" in str(head[0])  # Min(5, u0)
    assert rows["Linear:backbone"].output_size == [12, 8]  # the data decides nothing here
    assert "Sizes incomplete" in str(meta) and meta.total_params == cpu.total_params
    stats = summary(_TwoStage(read), input_data=[x], train_step=True, verbose=0)
    assert stats.memory.parameters == sum(p.numel() * 4 for p in _TwoStage().parameters())
    # The estimate takes the count at its upper bound (5 rows kept) and says it is an upper bound.
    assert any("upper bound" in note for note in stats.memory.notes)


def test_a_count_read_as_a_number_and_used_otherwise_stops_the_dry_run() -> None:
    """A number no tensor size takes back (a loop count, arithmetic on it) would pass for a known size:
    the dry run stops, and says where Python read it."""

    class Looped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            kept = x[x[:, 0] > 0]
            return self.fc(x.new_zeros(len(kept) * 2, 4))  # 2 * the bound: not a size the dry run knows

    with pytest.raises(Exception, match="real tensor values") as info:
        summary(Looped(), input_data=[torch.randn(6, 4)], device="meta", verbose=0)
    assert "took its upper bound, 6" in str(info.value) and "test_dry_run_causes.py:" in str(info.value)


def test_a_value_the_data_decides_read_as_a_number_still_stops_with_the_meta_error() -> None:
    """A box coordinate read with int() (Mask R-CNN's mask pasting): no bound exists, so no number is
    made up; the error says where the fake-tensor pass stopped."""

    class Pasted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            boxes = self.fc(x[x[:, 0] > 0])
            width = int(boxes[0, 2] - boxes[0, 0] + 1)
            return torch.zeros(width, 4)

    with pytest.raises(Exception, match="real tensor values") as info:
        summary(Pasted(), input_data=[torch.randn(6, 4)], device="meta", verbose=0)
    assert "With fake tensors" in str(info.value) and "test_dry_run_causes.py:" in str(info.value)


class _Upsampled(nn.Module):
    """Mask and Keypoint R-CNN's heads in small: F.interpolate and F.pad of a data-decided count of RoIs."""

    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(32, 1)
        self.head = nn.Conv2d(2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rois = x[self.score(x.flatten(1))[:, 0] > 0]
        up = F.interpolate(self.head(rois), scale_factor=2.0, mode="bilinear", recompute_scale_factor=False)
        return F.pad(up, (1, 1, 1, 1))


def test_composite_ops_keep_a_data_decided_count_a_symbol() -> None:
    """torch's C++ F.interpolate and F.pad asked for the count as a number; their Python decompositions
    (torch's Python dispatcher, on during the fake pass) keep it a symbol."""
    _assert_dry_run_shows(_Upsampled, "[u0, 3, 10, 10]")


def _assert_dry_run_shows(model: type[nn.Module], shown: str) -> None:
    """The dry run shows `shown` (a data-decided count as a symbol) and the CPU run's parameters, and the
    training-step estimate runs through it."""
    x = torch.randn(6, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    cpu = summary(model(), input_data=[x], verbose=0)
    meta = summary(model(), input_data=[x], device="meta", verbose=0)
    assert shown in str(meta) and "Sizes incomplete" in str(meta)
    assert meta.total_params == cpu.total_params
    stats = summary(model(), input_data=[x], train_step=True, verbose=0)
    assert stats.memory.parameters == sum(p.numel() * 4 for p in model().parameters())


class _Flattened(nn.Module):
    """Faster R-CNN's box head in small: ``flatten(start_dim=1)`` and a reshape of a data-decided count."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rois = x[x[:, 0, 0, 0] > 0]
        out = self.head(rois.flatten(start_dim=1))
        return out.reshape(rois.shape[0], -1, 1)


def test_a_view_of_a_data_decided_count_keeps_it_a_symbol() -> None:
    """torch 2.8's C++ meta kernel of view asked for the count as a number ("SymIntArrayRef expected to
    contain only concrete integers"), so every torchvision detector's dry run failed on the image's torch;
    its Python meta keeps the symbol."""
    _assert_dry_run_shows(_Flattened, "[u0, 3]")


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "distilbert", "mixtral_moe"])
def test_hugging_face_models_whose_mask_code_reads_values(name: str) -> None:
    """Their attention-mask code calls .item(); the estimate falls back to fake tensors, as the dry run does.
    Mixtral's fp32 _grouped_mm has no meta kernel for fp32: it runs on bf16 stand-ins. (The corpus's
    tiny configs, with one padded row in the attention mask.)"""
    pytest.importorskip("transformers")
    model, kwargs = corpus_models.build(f"hf/{name}")
    cpu = summary(model, **kwargs, verbose=0)
    meta = summary(model, **kwargs, device="meta", verbose=0)
    assert _table(meta) == _table(cpu)
    stats = summary(model, **kwargs, train_step=True, verbose=0)
    assert stats.memory.parameters == sum(p.numel() * 4 for p in model.parameters())


def test_sizes_the_data_decides_are_said_in_the_footer() -> None:
    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.out = nn.Linear(2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(x[x[:, 0] > 0])

    x = torch.randn(6, 2)
    meta = str(summary(Masked(), input_data=[x], device="meta", verbose=0))
    assert "Sizes incomplete: 2 rows have sizes the data decides" in meta
    assert "Sizes incomplete" not in str(summary(Masked(), input_data=[x], verbose=0))


class _Gated(nn.Module):
    """Post-processing that branches on a data-dependent size, as torchvision's box ops do."""

    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = x[self.score(x)[:, 0] > 0]
        if kept.numel() == 0:  # a Python condition on a size the data decides
            return kept.new_zeros(0, 2)
        return self.head(kept)


def test_a_condition_on_a_data_dependent_size_is_decided_at_its_largest() -> None:
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    meta = summary(_Gated(), input_data=[x], device="meta", verbose=0)
    text = str(meta)
    assert "[u0, 2]" in text  # the size stays a symbol: the head ran, as when something is kept
    assert "Sizes incomplete" in text
    stats = summary(_Gated(), input_data=[x], train_step=True, verbose=0)
    # The estimate is an upper bound: every one of the 6 rows kept, and it says so.
    assert isinstance(stats.memory.peak_bytes, int) and stats.memory.peak_bytes > 0
    assert any("taken at their largest" in note for note in stats.memory.notes)
