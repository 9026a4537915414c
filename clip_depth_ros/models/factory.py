# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build a ClipDepth from a ModelConfig."""

from __future__ import annotations

from typing import Optional

from clip_depth_ros.config import ModelConfig
from clip_depth_ros.models.backbone import create_clip, FrozenClip
from clip_depth_ros.models.clip_depth import ClipDepth


def build_model(config: ModelConfig, clip_weights: Optional[str]) -> ClipDepth:
    """
    Frozen CLIP with `clip_weights` (tag, file or None = random init) + fresh mirror/decoder.

    The weights are an explicit argument: a checkpoint resolves `config.pretrained` against its
    own directory, and `clip-depth-init` builds on random weights whatever the config names.
    """
    clip = create_clip(config.backbone, clip_weights)
    return ClipDepth(config, FrozenClip(clip, config.taps, config.backbone))
