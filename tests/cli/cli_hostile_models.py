"""The models tests/cli/test_cli_hostile.py summarises through the CLI (TARGET is `<this file>:NAME`)."""

from __future__ import annotations

import sys

import torch
from torch import nn


class Small(nn.Module):
    """Linear(4, 2): --input-size 1,4."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class AnyShape(nn.Module):
    """Takes an input of any shape (for the property test's dry runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class Broken(nn.Module):
    """Fails in `fc.1` (Linear expects 9 features, gets 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Identity(), nn.Linear(9, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class Quitter(nn.Module):
    """Its forward pass calls sys.exit(0)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sys.exit(0)
