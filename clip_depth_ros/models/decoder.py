# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CLIPSeg-style compact decoder: tapped ViT tokens + a query vector -> one dense map."""

from __future__ import annotations

from typing import Sequence, Tuple

from clip_depth_ros.models.layers import FiLM, UpsampleHead
import torch
from torch import nn


class DepthDecoder(nn.Module):
    """Reduce each tap to `width`, FiLM the deepest by the query, fuse deepest first, upsample."""

    def __init__(self, vision_width: int, query_dim: int, num_taps: int, width: int = 64,
                 heads: int = 4, ffn_dim: int = 2048) -> None:
        super().__init__()
        self.reduces = nn.ModuleList(nn.Linear(vision_width, width) for _ in range(num_taps))
        self.film = FiLM(query_dim, width)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, dim_feedforward=ffn_dim, dropout=0.1,
                                       batch_first=True)
            for _ in range(num_taps))
        self.head = UpsampleHead(width)

    def forward(self, taps: Sequence[torch.Tensor], query: torch.Tensor,
                grid: Tuple[int, int]) -> torch.Tensor:
        """taps: shallow to deep, each (B, h*w, C_vis); query (B, D) -> logits (B, 1, 16h, 16w)."""
        x = None
        # Deepest first, as CLIPSeg does: the query conditions the most semantic features.
        for i in reversed(range(len(taps))):
            reduced = self.reduces[i](taps[i])
            if x is None:
                x = self.film(reduced, query)
            else:
                x = x + reduced
            x = self.blocks[i](x)
        b, n, c = x.shape
        h, w = grid
        return self.head(x.transpose(1, 2).reshape(b, c, h, w))
