"""Models written for these tests (small, built from code, no downloads)."""

from __future__ import annotations

from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn


class DigitNet(nn.Module):
    """Two convs, a pooled head and two Linears: the classic MNIST shape, with our own sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 8, kernel_size=3)  # 1*8*9 + 8 = 80
        self.mix = nn.Conv2d(8, 16, kernel_size=3, groups=2)  # 8/2*16*9 + 16 = 592
        self.drop = nn.Dropout(0.2)
        self.hidden = nn.Linear(16 * 5 * 5, 32)  # 400*32 + 32 = 12,832
        self.out = nn.Linear(32, 10)  # 330

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (2, 1, 16, 16) -> conv 14x14 -> pool 7x7 -> conv 5x5
        x = F.max_pool2d(F.relu(self.features(x)), 2)
        x = self.drop(F.relu(self.mix(x)))
        x = torch.flatten(x, 1)
        return self.out(F.relu(self.hidden(x)))


class Tagger(nn.Module):
    """Embedding -> 1-layer batch-first GRU -> per-token Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)  # 800
        self.rnn = nn.GRU(16, 24, batch_first=True)  # 3*24*(16+24) + 2*3*24 = 3,024
        self.head = nn.Linear(24, 5)  # 125

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(width)
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(F.relu(self.norm(x)))


class Tower(nn.Module):
    """A stem, a ModuleList of blocks called in a loop, and a scale parameter owned by the root."""

    def __init__(self, width: int = 6, blocks: int = 2) -> None:
        super().__init__()
        self.stem = nn.Linear(3, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(blocks))
        self.scale = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x * self.scale


class Reuse(nn.Module):
    """One Linear and one activation applied three times; a Sequential iterated, not called."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.pair = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = self.act(self.shared(x))
        for layer in self.pair:
            x = layer(x)
        return x


class TiedLM(nn.Module):
    """Input embedding and output projection share one weight (as in GPT-2)."""

    def __init__(self, vocab: int = 30, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, vocab, bias=False)
        self.proj.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(self.embed(tokens))


Pair = namedtuple("Pair", ["left", "right"])


class TwoHeads(nn.Module):
    """Two inputs, a namedtuple output, and a dict-returning submodule."""

    class Router(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(5, 3)
            self.b = nn.Linear(7, 2)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"a": self.a(x), "b": self.b(y)}

    def __init__(self) -> None:
        super().__init__()
        self.router = TwoHeads.Router()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Pair:
        out = self.router(x, y)
        return Pair(out["a"], out["b"])


class Broken(nn.Module):
    """Its second stage expects 12 features but gets 8: fails inside `stages.1`."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.Sequential(nn.Linear(4, 8), nn.Linear(12, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


def binary_tree(depth: int) -> nn.Module:
    """A full binary tree of Sequentials with Identity leaves: 2**(depth+1) - 1 modules."""
    if depth == 0:
        return nn.Identity()
    return nn.Sequential(binary_tree(depth - 1), binary_tree(depth - 1))


class SharedActivationBlocks(nn.Module):
    """Blocks that keep their Linears in a ModuleList and share one activation across blocks.

    The ModuleList never runs; its Linears are called between calls of the shared activation,
    so the table shows the list again before each Linear (torchinfo's #327 case).
    """

    class Stage(nn.Module):
        def __init__(self, act: nn.Module) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])  # 12 each
            self.act = act

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = self.act(layer(x))
            return x

    def __init__(self, stages: int = 2) -> None:
        super().__init__()
        act = nn.GELU()
        self.stages = nn.ModuleList(SharedActivationBlocks.Stage(act) for _ in range(stages))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x


class SharedEmbeddingSeq2Seq(nn.Module):
    """An encoder and a decoder stack holding one embedding (as T5's two T5Stacks do)."""

    class Stack(nn.Module):
        def __init__(self, embed: nn.Embedding) -> None:
            super().__init__()
            self.embed = embed
            self.mix = nn.Linear(6, 6)  # 42

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.mix(self.embed(tokens))

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Embedding(20, 6)  # 120
        self.encoder = SharedEmbeddingSeq2Seq.Stack(self.shared)
        self.decoder = SharedEmbeddingSeq2Seq.Stack(self.shared)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(tokens) + self.encoder(tokens)


class TensorKernelConv(nn.Module):
    """A 1-d conv whose wrapper keeps kernel_size as a 0-d tensor (Hugging Face Encodec/Mimi)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 2, kernel_size=5, padding=2)  # 2*2*5 + 2 = 22
        self.kernel_size = torch.tensor(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DictOut(nn.Module):
    """Returns a dict; its last value is what torchinfo shows as the output shape."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"a": self.a(x), "b": self.b(x)}


# The shared model zoo: (name, factory, summary arguments). Properties that must hold on every
# model (the Param # column adds up to Total params, ...) are checked over all of it.
ZOO: list[tuple[str, object, dict]] = [
    ("digitnet", DigitNet, {"input_size": (2, 1, 16, 16)}),
    ("tagger", Tagger, {"input_data": torch.randint(0, 50, (2, 7))}),
    ("tower", Tower, {"input_size": (4, 3)}),
    ("reuse", Reuse, {"input_size": (2, 4)}),
    ("tied_lm", TiedLM, {"input_data": torch.randint(0, 30, (2, 5))}),
    ("two_heads", TwoHeads, {"input_size": [(2, 5), (2, 7)]}),
    ("shared_activation_blocks", SharedActivationBlocks, {"input_size": (1, 3)}),
    ("shared_embedding_seq2seq", SharedEmbeddingSeq2Seq, {"input_data": torch.randint(0, 20, (2, 4))}),
    ("tensor_kernel_conv", TensorKernelConv, {"input_size": (1, 2, 9)}),
    ("dict_out", DictOut, {"input_size": (2, 4)}),
    ("binary_tree", lambda: binary_tree(4), {"input_size": (1, 2)}),
    (
        "transformer_encoder",
        lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2),
        {"input_size": (3, 2, 8)},
    ),
    ("lstm_stack", lambda: nn.LSTM(4, 6, num_layers=2), {"input_size": (5, 2, 4)}),
]
