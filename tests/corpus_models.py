"""The model corpus of issue 16: real models built from code and configs only (no weights, no hub).

Each case builds ``(model, summary_kwargs)``: torchvision models with ``weights=None``, timm models with
``pretrained=False``, Hugging Face models as ``XModel(XConfig(tiny sizes))``, and custom modules that have
broken dry runs or training-step estimates before. Sizes and inputs are tiny so the whole corpus stays fast.

``needs`` names the package a case imports (torchvision and timm do not install beside the main venv's
torch; ``make test-corpus`` runs them in ``.venv-vision``). ``xfail`` maps a check ("cpu", "meta",
"train") to the short cause of its current failure; the test marks it ``xfail(strict=True)`` so that a fix
flips it to a failure and the mark is removed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Built = tuple[nn.Module, dict[str, Any]]


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    build: Callable[[], Built]
    needs: str | None = None
    slow: bool = False
    # check -> why it fails today (strict xfail)
    xfail: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"


CASES: list[Case] = []


def case(family: str, needs: str | None = None, slow: bool = False, name: str | None = None, **xfail: str):
    def register(fn: Callable[[], Built]) -> Callable[[], Built]:
        CASES.append(Case(name or fn.__name__.lstrip("_"), family, fn, needs, slow, dict(xfail)))
        return fn

    return register


def build(case_id: str) -> Built:
    """The model and summary arguments of one case, by id ("hf/bert"): the zoo other tests share."""
    found = [c for c in CASES if c.id == case_id]
    if not found:
        raise KeyError(f"no corpus case {case_id!r}")
    return found[0].build()


def image(size: int = 64, batch: int = 1) -> dict[str, Any]:
    return {"input_size": (batch, 3, size, size)}


# ---- torchvision classification -------------------------------------------------------------------------


def _tv():
    import torchvision

    return torchvision.models


def _tv_classifier(name: str, size: int = 64, slow: bool = False, **kwargs: Any) -> None:
    def build() -> Built:
        return getattr(_tv(), name)(weights=None, **kwargs).eval(), image(size)

    CASES.append(Case(name, "torchvision", build, "torchvision", slow))


for _name, _size, _slow in [
    ("resnet18", 64, False),
    ("resnet50", 64, True),
    ("resnext50_32x4d", 64, True),
    ("wide_resnet50_2", 64, True),
    ("mobilenet_v2", 64, False),
    ("mobilenet_v3_small", 64, False),
    ("mobilenet_v3_large", 64, False),
    ("efficientnet_b0", 64, False),
    ("efficientnet_v2_s", 64, True),
    ("squeezenet1_0", 64, False),
    ("shufflenet_v2_x0_5", 64, False),
    ("mnasnet0_5", 64, False),
    ("densenet121", 64, True),
    ("regnet_y_400mf", 64, False),
    ("convnext_tiny", 64, True),
    ("alexnet", 64, True),
]:
    _tv_classifier(_name, _size, _slow)


@case("torchvision", "torchvision")
def _googlenet() -> Built:
    return _tv().googlenet(weights=None, aux_logits=False, init_weights=False).eval(), image(64)


@case("torchvision", "torchvision", slow=True)
def _inception_v3() -> Built:
    return _tv().inception_v3(weights=None, aux_logits=False, init_weights=False).eval(), image(80)


@case("torchvision", "torchvision")
def _vit_small_config() -> Built:
    from torchvision.models.vision_transformer import VisionTransformer

    model = VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    )
    return model.eval(), image(32)


@case("torchvision", "torchvision")
def _swin_small_config() -> Built:
    from torchvision.models.swin_transformer import SwinTransformer

    model = SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=[4, 4], num_classes=10
    )
    return model.eval(), image(32)


@case("torchvision", "torchvision", slow=True)
def _maxvit_t() -> Built:
    return _tv().maxvit_t(weights=None).eval(), image(224)


# ---- torchvision detection, segmentation, video ------------------------------------------------------------

DETECTION_SIZE = {"min_size": 64, "max_size": 64}


# Mask and Keypoint R-CNN: torch code reads the detection count (after NMS) as a number where no tensor size
# takes it back: F.pad in expand_masks (roi_heads.py:411), F.interpolate's output-size arithmetic in
# KeypointRCNNHeatmapPredictor (keypoint_rcnn.py:307); after those, their post-processing reads box
# coordinates as numbers (paste_mask_in_image, heatmaps_to_keypoints), values with no bound. (The count
# MultiScaleRoIAlign reads with len() is followed: see dry_run.py.)
@case("detection", "torchvision", slow=True)
def _fasterrcnn_mobilenet_v3_large_320_fpn() -> Built:
    model = _tv().detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3, **DETECTION_SIZE
    )
    return model.eval(), image(64)


@case("detection", "torchvision", slow=True)
def _fasterrcnn_resnet50_fpn() -> Built:
    model = _tv().detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, **DETECTION_SIZE
    )
    return model.eval(), image(64)


@case("detection", "torchvision", slow=True)
def _retinanet_resnet50_fpn() -> Built:
    model = _tv().detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, **DETECTION_SIZE
    )
    return model.eval(), image(64)


@case("detection", "torchvision", slow=True)
def _keypointrcnn_resnet50_fpn() -> Built:
    model = _tv().detection.keypointrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=2, num_keypoints=5, **DETECTION_SIZE
    )
    return model.eval(), image(64)


@case("detection", "torchvision", slow=True)
def _maskrcnn_resnet50_fpn() -> Built:
    model = _tv().detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, **DETECTION_SIZE
    )
    return model.eval(), image(64)


@case("detection", "torchvision", slow=True)
def _fcos_resnet50_fpn() -> Built:
    model = _tv().detection.fcos_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, **DETECTION_SIZE
    )
    return model.eval(), image(64)


@case("detection", "torchvision", slow=True)
def _ssdlite320_mobilenet_v3_large() -> Built:
    model = _tv().detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    return model.eval(), image(128)


@case("segmentation", "torchvision", slow=True)
def _fcn_resnet50() -> Built:
    model = _tv().segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=3)
    return model.eval(), image(64)


@case("segmentation", "torchvision", slow=True)
def _deeplabv3_resnet50() -> Built:
    model = _tv().segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=3)
    return model.eval(), image(64)


@case("segmentation", "torchvision")
def _deeplabv3_mobilenet_v3_large() -> Built:
    model = _tv().segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=3
    )
    return model.eval(), image(64)


@case("segmentation", "torchvision")
def _lraspp_mobilenet_v3_large() -> Built:
    model = _tv().segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    return model.eval(), image(64)


@case("video", "torchvision", slow=True)
def _r3d_18() -> Built:
    return _tv().video.r3d_18(weights=None).eval(), {"input_size": (1, 3, 4, 32, 32)}


@case("video", "torchvision", slow=True)
def _r2plus1d_18() -> Built:
    return _tv().video.r2plus1d_18(weights=None).eval(), {"input_size": (1, 3, 4, 32, 32)}


# ---- timm ----------------------------------------------------------------------------------------------------


def _timm_case(name: str, size: int, slow: bool = False, **kwargs: Any) -> None:
    def build() -> Built:
        import timm

        return timm.create_model(name, pretrained=False, num_classes=10, **kwargs).eval(), image(size)

    CASES.append(Case(name, "timm", build, "timm", slow))


for _name, _size, _slow, _kwargs in [
    ("vit_tiny_patch16_224", 32, True, {"img_size": 32}),
    ("deit_tiny_patch16_224", 32, False, {"img_size": 32}),
    ("convnext_atto", 64, False, {}),
    ("efficientnet_b0", 64, False, {}),
    ("mobilenetv3_small_050", 64, False, {}),
    ("resnet18", 64, False, {}),
    ("resnet10t", 64, False, {}),
    ("resnet26d", 64, True, {}),
    ("swin_tiny_patch4_window7_224", 64, True, {"img_size": 64, "window_size": 2}),
    ("mixer_s16_224", 64, False, {"img_size": 64}),
    ("regnetx_002", 64, False, {}),
    ("poolformer_s12", 64, True, {}),
    ("mobilevit_xxs", 64, False, {}),
    ("edgenext_xx_small", 64, False, {}),
    ("levit_128s", 64, False, {"img_size": 64}),
    ("xcit_nano_12_p16_224", 32, True, {"img_size": 32}),
    ("cait_xxs24_224", 32, True, {"img_size": 32}),
    ("fastvit_t8", 64, True, {}),
    ("ghostnet_100", 64, True, {}),
    ("dla34", 64, True, {}),
    ("densenet121", 64, True, {}),
]:
    _timm_case(_name, _size, _slow, **_kwargs)


# ---- Hugging Face from tiny configs --------------------------------------------------------------------------

VOCAB = 100
TOKENS = {"vocab_size": VOCAB, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}


def _t():
    import transformers

    return transformers


def ids(batch: int = 2, length: int = 6) -> torch.Tensor:
    return torch.randint(3, VOCAB, (batch, length), generator=torch.Generator().manual_seed(0))


def text(batch: int = 2, length: int = 6, mask: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"input_ids": ids(batch, length)}
    if mask:
        attention = torch.ones(batch, length, dtype=torch.long)
        attention[0, -2:] = 0  # one padded row
        data["attention_mask"] = attention
    return {"input_data": data}


def seq2seq() -> dict[str, Any]:
    return {"input_data": {"input_ids": ids(2, 5), "decoder_input_ids": ids(2, 3)}}


# The heavier Hugging Face cases (about 2 s or more for the three checks on a 2-core machine).
HF_SLOW = {"bart", "bart_lm", "marian", "pegasus", "mbart", "detr", "mixtral_moe", "qwen2_moe"}


def _hf_case(name: str, build: Callable[[], Built], **xfail: str) -> None:
    CASES.append(Case(name, "hf", build, "transformers", name in HF_SLOW, dict(xfail)))


def _encoder(model: str, config: str, **cfg: Any) -> Callable[[], Built]:
    def build() -> Built:
        t = _t()
        return getattr(t, model)(getattr(t, config)(**cfg)).eval(), text()

    return build


ENCODER = {**TINY, **TOKENS, "max_position_embeddings": 32}
_hf_case("bert", _encoder("BertModel", "BertConfig", **ENCODER))
_hf_case("bert_seq_cls", _encoder("BertForSequenceClassification", "BertConfig", **ENCODER, num_labels=3))
_hf_case("bert_mlm", _encoder("BertForMaskedLM", "BertConfig", **ENCODER))
_hf_case("roberta", _encoder("RobertaModel", "RobertaConfig", **ENCODER))
_hf_case("xlm_roberta", _encoder("XLMRobertaModel", "XLMRobertaConfig", **ENCODER))
_hf_case(
    "distilbert",
    _encoder(
        "DistilBertModel", "DistilBertConfig", vocab_size=VOCAB, dim=16, n_layers=1, n_heads=2, hidden_dim=32
    ),
)
_hf_case("albert", _encoder("AlbertModel", "AlbertConfig", **ENCODER, embedding_size=8))
_hf_case("electra", _encoder("ElectraModel", "ElectraConfig", **ENCODER, embedding_size=8))
_hf_case("deberta", _encoder("DebertaModel", "DebertaConfig", **ENCODER))
_hf_case("deberta_v2", _encoder("DebertaV2Model", "DebertaV2Config", **ENCODER))
_hf_case("mpnet", _encoder("MPNetModel", "MPNetConfig", **ENCODER))


def _decoder(model: str, config: str, **cfg: Any) -> Callable[[], Built]:
    def build() -> Built:
        t = _t()
        return getattr(t, model)(getattr(t, config)(**cfg)).eval(), text()

    return build


DECODER = {**TINY, **TOKENS, "max_position_embeddings": 32}
_hf_case(
    "gpt2",
    _decoder("GPT2LMHeadModel", "GPT2Config", **TOKENS, n_embd=16, n_layer=1, n_head=2, n_positions=32),
)
_hf_case("llama", _decoder("LlamaForCausalLM", "LlamaConfig", **DECODER, num_key_value_heads=1))
_hf_case("qwen2", _decoder("Qwen2ForCausalLM", "Qwen2Config", **DECODER, num_key_value_heads=1))
_hf_case("qwen3", _decoder("Qwen3ForCausalLM", "Qwen3Config", **DECODER, num_key_value_heads=1, head_dim=8))
_hf_case("mistral", _decoder("MistralForCausalLM", "MistralConfig", **DECODER, num_key_value_heads=1))
_hf_case(
    "mixtral_moe",
    _decoder(
        "MixtralForCausalLM",
        "MixtralConfig",
        **DECODER,
        num_key_value_heads=1,
        num_local_experts=4,
        num_experts_per_tok=2,
    ),
)
_hf_case(
    "qwen2_moe",
    _decoder(
        "Qwen2MoeForCausalLM",
        "Qwen2MoeConfig",
        **DECODER,
        num_key_value_heads=1,
        num_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=16,
    ),
)
_hf_case("phi", _decoder("PhiForCausalLM", "PhiConfig", **DECODER))
_hf_case("gemma", _decoder("GemmaForCausalLM", "GemmaConfig", **DECODER, num_key_value_heads=1, head_dim=8))
_hf_case(
    "opt",
    _decoder(
        "OPTForCausalLM",
        "OPTConfig",
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        word_embed_proj_dim=16,
        max_position_embeddings=32,
        pad_token_id=0,
    ),
)
_hf_case("gpt_neox", _decoder("GPTNeoXForCausalLM", "GPTNeoXConfig", **DECODER))
_hf_case("falcon", _decoder("FalconForCausalLM", "FalconConfig", **{**DECODER, "intermediate_size": None}))
_hf_case(
    "bloom",
    _decoder("BloomForCausalLM", "BloomConfig", vocab_size=VOCAB, hidden_size=16, n_layer=1, n_head=2),
)


def _s2s(model: str, config: str, **cfg: Any) -> Callable[[], Built]:
    def build() -> Built:
        t = _t()
        return getattr(t, model)(getattr(t, config)(**cfg)).eval(), seq2seq()

    return build


BART_LIKE = {
    "d_model": 16,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "max_position_embeddings": 32,
    "decoder_start_token_id": 1,
    **TOKENS,
}
T5_CFG = {
    "d_model": 16,
    "d_kv": 8,
    "d_ff": 32,
    "num_layers": 1,
    "num_decoder_layers": 1,
    "num_heads": 2,
    "decoder_start_token_id": 0,
    "vocab_size": VOCAB,
    "pad_token_id": 0,
    "eos_token_id": 1,
}
_hf_case("t5", _s2s("T5Model", "T5Config", **T5_CFG))
_hf_case("t5_lm", _s2s("T5ForConditionalGeneration", "T5Config", **T5_CFG))
_hf_case("bart", _s2s("BartModel", "BartConfig", **BART_LIKE))
_hf_case("bart_lm", _s2s("BartForConditionalGeneration", "BartConfig", **BART_LIKE))
_hf_case("marian", _s2s("MarianMTModel", "MarianConfig", **BART_LIKE))
_hf_case("pegasus", _s2s("PegasusModel", "PegasusConfig", **BART_LIKE))
_hf_case("mbart", _s2s("MBartModel", "MBartConfig", **BART_LIKE))

AUDIO = {
    **TINY,
    "conv_dim": (8, 8),
    "conv_kernel": (10, 3),
    "conv_stride": (5, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "vocab_size": 10,
}


def _audio(model: str, config: str) -> Callable[[], Built]:
    def build() -> Built:
        t = _t()
        return getattr(t, model)(getattr(t, config)(**AUDIO)).eval(), {"input_size": (1, 400)}

    return build


_hf_case("wav2vec2", _audio("Wav2Vec2Model", "Wav2Vec2Config"))
_hf_case("wav2vec2_ctc", _audio("Wav2Vec2ForCTC", "Wav2Vec2Config"))
_hf_case("hubert", _audio("HubertModel", "HubertConfig"))


def _whisper() -> Built:
    t = _t()
    config = t.WhisperConfig(
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=8,
        max_source_positions=10,
        max_target_positions=16,
        decoder_start_token_id=1,
        **TOKENS,
    )
    data = {"input_features": torch.randn(1, 8, 20), "decoder_input_ids": ids(1, 3)}
    return t.WhisperModel(config).eval(), {"input_data": data}


_hf_case("whisper", _whisper)

VISION = {**TINY, "image_size": 32, "patch_size": 8, "num_channels": 3}


def _pixels(model: str, config: str, size: int = 32, **cfg: Any) -> Callable[[], Built]:
    def build() -> Built:
        t = _t()
        return getattr(t, model)(getattr(t, config)(**cfg)).eval(), {
            "input_data": {"pixel_values": torch.randn(1, 3, size, size)}
        }

    return build


_hf_case("vit", _pixels("ViTModel", "ViTConfig", **VISION))
_hf_case("vit_cls", _pixels("ViTForImageClassification", "ViTConfig", **VISION, num_labels=3))
_hf_case("deit", _pixels("DeiTModel", "DeiTConfig", **VISION))
_hf_case(
    "swin",
    _pixels(
        "SwinModel",
        "SwinConfig",
        image_size=32,
        patch_size=4,
        embed_dim=8,
        depths=[1, 1],
        num_heads=[1, 2],
        window_size=4,
    ),
)
_hf_case(
    "convnext",
    _pixels("ConvNextModel", "ConvNextConfig", hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1]),
)
_hf_case(
    "clip_vision",
    _pixels("CLIPVisionModel", "CLIPVisionConfig", **VISION, projection_dim=16),
)


def _detr() -> Built:
    t = _t()
    backbone = t.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], out_features=["stage4"]
    )
    config = t.DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=backbone,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=5,
        num_labels=3,
    )
    return t.DetrForObjectDetection(config).eval(), {
        "input_data": {"pixel_values": torch.randn(1, 3, 64, 64)}
    }


_hf_case("detr", _detr)


# ---- custom modules that broke dry runs ---------------------------------------------------------------------


@case("custom")
def _pruned() -> Built:
    from torch.nn.utils import prune

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    prune.l1_unstructured(model[0], "weight", 0.5)
    return model, {"input_size": (2, 8)}


@case("custom")
def _old_weight_norm() -> Built:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.utils.weight_norm(model[0])
    return model, {"input_size": (2, 8)}


@case("custom")
def _parametrized_weight_norm() -> Built:
    model = nn.Sequential(nn.Conv1d(4, 8, 3), nn.ReLU(), nn.Conv1d(8, 2, 3))
    nn.utils.parametrizations.weight_norm(model[0])
    return model, {"input_size": (2, 4, 16)}


@case("custom")
def _lazy() -> Built:
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(8), nn.Linear(8, 2))
    return model, {"input_size": (2, 3, 8, 8)}


@case("custom")
def _batchnorm_momentum_none_train() -> Built:
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=None), nn.ReLU())
    return model, {"input_size": (4, 8), "mode": "train"}


class PlainAttribute(nn.Module):
    """A tensor kept as a plain attribute (not a buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = torch.linspace(0.5, 1.5, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale


@case("custom")
def _plain_tensor_attribute() -> Built:
    return PlainAttribute(), {"input_size": (2, 8)}


class Packed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        out, _ = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        padded, _ = pad_packed_sequence(out, batch_first=True)
        return self.head(padded)


@case("custom")
def _packed_sequence() -> Built:
    return Packed(), {"input_data": [torch.randn(2, 5, 8), torch.tensor([5, 3])]}


class PaddedEncoder(nn.Module):
    """nn.TransformerEncoder in eval mode with a padding mask: torch's nested-tensor fast path."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x, src_key_padding_mask=padding_mask))


@case("custom")
def _transformer_encoder_fast_path_padding() -> Built:
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[1, 3:] = True
    return PaddedEncoder().eval(), {"input_data": [torch.randn(2, 6, 16), mask]}


@case("custom")
def _built_under_inference_mode() -> Built:
    with torch.inference_mode():
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    return model, {"input_size": (2, 8)}


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.body = nn.Linear(16, 16)
        self.decoder = nn.Linear(16, 50, bias=False)
        self.decoder.weight = self.embed.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.tanh(self.body(self.embed(x))))


@case("custom")
def _tied_weights() -> Built:
    return Tied(), {"input_data": [torch.randint(0, 50, (2, 7))]}


class Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.GELU())
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = self.block(x) + x
        return self.out(x)


@case("custom")
def _module_reused() -> Built:
    return Reused(), {"input_size": (2, 8)}


@case("custom")
def _scripted() -> Built:
    return torch.jit.script(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))), {
        "input_size": (2, 8)
    }


@case("custom")
def _bidirectional_gru_lstm() -> Built:
    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(8, 8, num_layers=2, batch_first=True, bidirectional=True)
            self.lstm = nn.LSTM(16, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(self.gru(x)[0])[0]

    return Recurrent(), {"input_size": (2, 5, 8)}


@case("custom")
def _frozen_backbone() -> Built:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
    for p in model[:2].parameters():
        p.requires_grad_(False)
    return model, {"input_size": (2, 3, 8, 8)}


class DictIO(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> dict[str, torch.Tensor]:
        return {"sum": (self.a(x) + self.b(y)) * scale, "x": self.a(x)}


@case("custom")
def _dict_inputs_outputs() -> Built:
    return DictIO(), {"input_data": {"x": torch.randn(2, 8), "y": torch.randn(2, 6), "scale": 0.5}}


@case("custom")
def _bfloat16_model() -> Built:
    model = nn.Sequential(nn.Linear(8, 16), nn.SiLU(), nn.LayerNorm(16), nn.Linear(16, 2)).to(torch.bfloat16)
    return model, {"input_data": [torch.randn(2, 8, dtype=torch.bfloat16)]}


class BooleanMask(nn.Module):
    """An output whose size depends on the data (a boolean mask): the dry run shows a symbol."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return self.out(h[h[:, 0] > 0])


@case("custom")
def _boolean_mask() -> Built:
    return BooleanMask(), {"input_data": [torch.randn(6, 8, generator=torch.Generator().manual_seed(1))]}
