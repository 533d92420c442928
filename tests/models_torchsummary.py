"""Models for the torchsummary-style tests: ones where torchsummary 1.5.1 is right, and ones where it is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class SimpleCNN(nn.Module):
    """The seed design's CNN: two conv blocks, then Flatten into a 401,408 -> 512 Linear (at 3x224x224)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 56 * 56, 512),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ConvBlock(nn.Module):
    """A custom container: torchsummary shows it (after its layers, since its hook fires last)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class BlockCNN(nn.Module):
    """Custom blocks in a ModuleList, a frozen stem and a pooled head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.stem.requires_grad_(False)
        self.blocks = nn.ModuleList([ConvBlock(8, 16), ConvBlock(16, 16)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(28 * 28, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10), nn.LogSoftmax(1)
    )


class TwoInputs(nn.Module):
    """An image and a smaller image of the same rank, merged after pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.b = nn.Sequential(nn.Conv2d(3, 4, 5), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.out = nn.Linear(32, 2)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.a(a), self.b(b)], dim=1))


class Splitter(nn.Module):
    """Returns a tuple of two tensors: torchsummary lists both shapes."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, :2], x[:, 2:]


class Halves(nn.Module):
    """Splits the features in two halves (a tuple output)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.chunk(x, 2, dim=1)


class SplitNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.split = Splitter()
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.split(self.fc(x))
        return self.head(right) + left.sum(dim=1, keepdim=True)


class LastStep(nn.Module):
    """An LSTM (output ``(out, (h_n, c_n))``) and a Linear on the last time step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(10, 20, batch_first=True)
        self.fc = nn.Linear(20, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


class TwiceFC(nn.Module):
    """One Linear called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.fc(x)))


class Scaled(nn.Module):
    """A parameter named neither weight nor bias."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


class ScaledNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.scale = Scaled(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.fc(x))


class Returns(nn.Module):
    """Returns whatever it was built with (a dict, a string, None, ...) in place of its input."""

    def __init__(self, make: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.make = make

    def forward(self, x: torch.Tensor) -> Any:
        return self.make(x)


class OddOutputNet(nn.Module):
    """A Linear, then a layer with an odd output; the model itself returns the Linear's output."""

    def __init__(self, make: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.odd = Returns(make)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        self.odd(y)
        return y


class DictModel(nn.Module):
    """The root returns a dict (torchsummary has no root row, so that is fine)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.fc(x)}


class Attention(nn.Module):
    """MultiheadAttention without weights returns (output, None); its out_proj is never called."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(x, x, x, need_weights=False)
        return out


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids)


class SharedTwice(nn.Module):
    """One Linear registered under two parents (a Sequential and a ModuleList) and called twice."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(4, 4)
        self.a = nn.Sequential(shared, nn.ReLU())
        self.b = nn.ModuleList([shared])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b[0](self.a(x))


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("boom")


class OddThenBoom(nn.Module):
    """A dict output (fine for the engine), then a layer that raises: the raise is what to report."""

    def __init__(self) -> None:
        super().__init__()
        self.odd = Returns(lambda x: {"y": x})
        self.boom = Boom()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.odd(x)
        return self.boom(x)
