# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Small single-purpose blocks used by the decoder."""

from __future__ import annotations

import torch
from torch import nn


class FiLM(nn.Module):
    """Feature-wise linear modulation of tokens by one conditioning vector."""

    def __init__(self, cond_dim: int, width: int) -> None:
        super().__init__()
        self.gamma = nn.Linear(cond_dim, width)
        self.beta = nn.Linear(cond_dim, width)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(B, N, C), (B, D) or (D,) -> (B, N, C)."""
        if cond.dim() == 1:
            cond = cond.unsqueeze(0)
        return self.gamma(cond).unsqueeze(1) * tokens + self.beta(cond).unsqueeze(1)


class UpsampleHead(nn.Module):
    """Token grid to a one-channel map at 16x the grid's resolution (CLIPSeg's compact head)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        half = max(width // 2, 1)
        self.layers = nn.Sequential(
            nn.Conv2d(width, width, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, half, kernel_size=4, stride=4),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(half, 1, kernel_size=4, stride=4),
        )

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 1, 16h, 16w)."""
        return self.layers(grid)
