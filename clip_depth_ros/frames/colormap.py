# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Depth to a colour image for people to look at (turbo map, near = red, invalid = black)."""

from __future__ import annotations

import cv2
import numpy as np


def colorize_depth(depth_m: np.ndarray, min_m: float, max_m: float) -> np.ndarray:
    """(H, W) float metres, NaN invalid -> (H, W, 3) uint8 RGB; values clipped to [min, max]."""
    if not max_m > min_m:
        raise ValueError(f'colormap range needs max > min, got {min_m}..{max_m}')
    valid = np.isfinite(depth_m)
    scaled = (max_m - np.where(valid, depth_m, max_m)) / (max_m - min_m)
    index = np.clip(scaled * 255.0, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(index, cv2.COLORMAP_TURBO)
    bgr[~valid] = 0
    return np.ascontiguousarray(bgr[..., ::-1])
