"""A multilayer perceptron of 98,945 parameters (64 inputs, one output)."""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 64


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(FEATURES, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 64),
            nn.ReLU(),
            nn.Linear(64, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def make_model(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP().eval()
