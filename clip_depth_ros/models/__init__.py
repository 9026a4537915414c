# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Model code: frozen CLIP backbone, mirror, decoder and their composition."""

from clip_depth_ros.models.clip_depth import ClipDepth
from clip_depth_ros.models.factory import build_model

__all__ = ['ClipDepth', 'build_model']
