# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""BTS-style training augmentation on numpy arrays, driven by an explicit RNG (reproducible)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    crop: Tuple[int, int]
    rotation_deg: float = 2.5
    flip: bool = True
    color_jitter: bool = True

    def __call__(self, image: np.ndarray, depth: np.ndarray,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8, (H, W) metres -> cropped/rotated/flipped/jittered copies."""
        if self.rotation_deg > 0:
            angle = float(rng.uniform(-self.rotation_deg, self.rotation_deg))
            h, w = depth.shape
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR)
            # Nearest for depth: interpolating across an edge invents depths that do not exist.
            depth = cv2.warpAffine(depth, m, (w, h), flags=cv2.INTER_NEAREST)
        image, depth = random_crop(image, depth, self.crop, rng)
        if self.flip and rng.random() < 0.5:
            image, depth = image[:, ::-1], depth[:, ::-1]
        if self.color_jitter and rng.random() < 0.5:
            image = jitter(image, rng)
        return np.ascontiguousarray(image), np.ascontiguousarray(depth)


def random_crop(image: np.ndarray, depth: np.ndarray, size: Tuple[int, int],
                rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    h, w = depth.shape
    ch, cw = size
    if h < ch or w < cw:
        raise ValueError(f'image {w}x{h} is smaller than the training crop {cw}x{ch}')
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    return image[top:top + ch, left:left + cw], depth[top:top + ch, left:left + cw]


def jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma, brightness and per-channel colour, as BTS does."""
    x = image.astype(np.float32) / 255.0
    x = x ** float(rng.uniform(0.9, 1.1))
    x = x * float(rng.uniform(0.75, 1.25))
    x = x * rng.uniform(0.9, 1.1, size=3).astype(np.float32)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
