# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The mirror: a learned embedding matrix fed to CLIP's text tower in place of word tokens."""

from __future__ import annotations

import torch
from torch import nn


class Mirror(nn.Module):
    """One (tokens, text_width) parameter, initialised N(0, std)."""

    def __init__(self, tokens: int, text_width: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(tokens, text_width) * init_std)

    def forward(self) -> torch.Tensor:
        """() -> (tokens, text_width)."""
        return self.embedding
