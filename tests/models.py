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
