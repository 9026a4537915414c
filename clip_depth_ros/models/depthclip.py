# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
DepthCLIP (Zhang et al., "Can Language Understand Depth?", ACM MM 2022): zero-shot depth.

As the original (github.com/Adonis-galaxy/DepthCLIP, monoclip.py): one prompt per distance
word, "This object is {word}"; each patch's similarity with the seven unit prompt embeddings,
times 100 and divided by the temperature 0.1, softmax over the words, and the depth is the
probability-weighted sum of the fixed bins; the evaluation averages with the prediction of the
flipped image. What differs: the original uses ResNet-50 CLIP's last feature map (1/32 of the
input), unit-normalised and then halved to the text width by interpolation over channels, so
its vectors have norm about 0.71 (about 707 x cosine); here the patch tokens of an open_clip
ViT after ln_post and the projection (1/16 of the input), unit-normalised: 1000 x cosine.
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
TEMPLATE = 'This object is {}'
# The original: 100 * (feature . prompt), then / temperature 0.1.
LOGIT_SCALE = 100.0
TEMPERATURE = 0.1


class DepthClip(nn.Module):
    """Zero-shot depth: (B, 3, H, W) normalised -> (B, 1, h, w) metres on the patch grid."""

    def __init__(self, backbone: FrozenClip, bins_m: Sequence[float] = NYU_BINS_M,
                 words: Sequence[str] = DISTANCE_WORDS, template: str = TEMPLATE,
                 temperature: float = TEMPERATURE) -> None:
        super().__init__()
        if len(bins_m) != len(words):
            raise ValueError(f'{len(bins_m)} depth bins for {len(words)} distance words')
        self.backbone = backbone
        self.prompts = tuple(template.format(w) for w in words)
        self.scale = LOGIT_SCALE / temperature
        self.register_buffer('bins', torch.tensor(bins_m, dtype=torch.float32))
        with torch.no_grad():
            text = F.normalize(backbone.encode_text(list(self.prompts)).float(), dim=-1)
        self.register_buffer('text', text)

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1, H/16, W/16) metres: softmax(1000 cos) . bins per patch."""
        feats, (h, w) = self.backbone.patch_embeddings(images)
        feats = F.normalize(feats.float(), dim=-1)
        probs = (self.scale * feats @ self.text.t()).softmax(dim=-1)
        return (probs @ self.bins).reshape(-1, 1, h, w)
