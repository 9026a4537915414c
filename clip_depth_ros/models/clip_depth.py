# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""CLIP2Depth: frozen CLIP + mirror + compact decoder -> metric depth."""

from __future__ import annotations

from typing import Dict, Optional

from clip_depth_ros.config import ModelConfig
from clip_depth_ros.engine.transforms import logits_to_depth
from clip_depth_ros.models.backbone import BackboneError, FrozenClip
from clip_depth_ros.models.decoder import DepthDecoder
from clip_depth_ros.models.mirror import Mirror
import torch
from torch import nn
import torch.nn.functional as F

BACKBONE_PREFIX = 'backbone.'


class ClipDepth(nn.Module):
    """Metric depth from a frozen CLIP; only `mirror` and `decoder` hold trainable weights."""

    def __init__(self, config: ModelConfig, backbone: FrozenClip) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.mirror: Optional[Mirror] = None
        if not config.prompt:
            # Refused here, at build (and checkpoint load), not at the first prediction.
            positions = config.mirror_tokens + (2 if config.mirror_sos_eos else 0)
            if positions > backbone.context_length:
                raise BackboneError(
                    f'mirror_tokens: {config.mirror_tokens}'
                    + (' + SOS/EOS' if config.mirror_sos_eos else '')
                    + f' exceed the text context of {backbone.name!r} '
                    f'({backbone.context_length} positions)')
            if config.mirror_sos_eos and backbone.special_token_ids is None:
                raise BackboneError(
                    f'mirror_sos_eos: the tokenizer of {backbone.name!r} has no start/end-of-'
                    'text tokens; set mirror_sos_eos to false (mirror only, pooled at its '
                    'last token)')
            self.mirror = Mirror(config.mirror_tokens, backbone.text_width,
                                 config.mirror_init_std)
        self.decoder = DepthDecoder(
            backbone.vision_width, backbone.embed_dim, len(config.taps),
            width=config.decoder_width, heads=config.decoder_heads,
            ffn_dim=config.decoder_ffn_dim)

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    def query(self) -> torch.Tensor:
        """Run the mirror through the frozen text tower -> (1, embed_dim); image-independent."""
        if self.mirror is None:
            return self.backbone.encode_text([self.config.prompt])
        tokens = self.mirror().unsqueeze(0)
        if self.config.mirror_sos_eos:
            sos, eos = self.backbone.special_token_embeddings()
            tokens = torch.cat([sos.view(1, 1, -1), tokens, eos.view(1, 1, -1)], dim=1)
        return self.backbone.encode_embeddings(tokens, pool_index=tokens.shape[1] - 1)

    def logits(self, images: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, 3, H, W) normalised -> (B, 1, H, W) pre-activation depth logits."""
        if query is None:
            query = self.query()
        taps, grid = self.backbone.image_taps(images)
        out = self.decoder(taps, query.to(taps[0].dtype).expand(images.shape[0], -1), grid)
        if out.shape[-2:] != images.shape[-2:]:
            out = F.interpolate(out, size=images.shape[-2:], mode='bilinear', align_corners=False)
        return out

    @property
    def random_clip_weights(self) -> bool:
        """Tell whether the frozen CLIP has random weights (its depth means nothing)."""
        return self.backbone.random_weights

    def depth_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> canonical metres in [min_depth_m, max_depth_m], float32, at their size."""
        return logits_to_depth(logits, tuple(logits.shape[-2:]), self.config.max_depth_m,
                               self.config.min_depth_m)

    def forward(self, images: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, 3, H, W) normalised -> (B, 1, H, W) metres; pass a cached `query` at inference."""
        return self.depth_from_logits(self.logits(images, query))

    def trainable_state_dict(self) -> Dict[str, torch.Tensor]:
        """Mirror and decoder tensors only: what a checkpoint stores."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(BACKBONE_PREFIX)}

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
