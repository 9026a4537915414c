# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
DepthCLIP (Zhang et al., CVPR 2022): zero-shot depth from CLIP, no training.

Each patch is compared with "This object is {distance word}" prompts; the softmax over the
distance classes weights a fixed depth per class. The baseline the paper's table starts from.
"""

from __future__ import annotations

from typing import Sequence

from clip_depth_ros.models.backbone import FrozenClip
import torch
from torch import nn
import torch.nn.functional as F

DISTANCE_WORDS = ('giant', 'extremely close', 'close', 'not in distance', 'a little remote',
                  'far', 'unseen')
NYU_BINS_M = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
TEMPLATES = ('This {} is {}', 'There is {} object which is {}', 'This {} looks {}')
OBJECTS = ('object', 'thing', 'stuff')


class DepthClip(nn.Module):
    """Zero-shot depth: (B, 3, H, W) normalised -> (B, 1, H, W) metres."""

    def __init__(self, backbone: FrozenClip, bins_m: Sequence[float] = NYU_BINS_M,
                 temperature: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        self.temperature = temperature
        self.register_buffer('bins', torch.tensor(bins_m, dtype=torch.float32))
        with torch.no_grad():
            classes = []
            for word in DISTANCE_WORDS:
                prompts = [t.format(o, word) for t in TEMPLATES for o in OBJECTS]
                emb = F.normalize(backbone.encode_text(prompts), dim=-1).mean(0)
                classes.append(F.normalize(emb, dim=-1))
        self.register_buffer('text', torch.stack(classes))

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feats, (h, w) = self.backbone.patch_embeddings(images)
        feats = F.normalize(feats.float(), dim=-1)
        probs = (feats @ self.text.t() / self.temperature).softmax(dim=-1)
        depth = (probs @ self.bins).reshape(-1, 1, h, w)
        return F.interpolate(depth, size=images.shape[-2:], mode='bilinear',
                             align_corners=False)
