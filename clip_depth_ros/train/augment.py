# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training samples at the scale of inference, then BTS-style augmentation, with an explicit RNG.

Each frame is first resized by the one input rule (`transforms.network_size`, with the resize
inference applies), so objects cover the same pixels as when the node runs; rotation and the
random crop then happen at that network scale. Targets become canonical depth: the depth a
camera with the checkpoint's canonical focal length would see at those pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from clip_depth_ros.engine.transforms import network_focal, resize_rgb_array
import cv2
import numpy as np

InputRule = Callable[[int, int], Tuple[int, int]]


@dataclass(frozen=True)
class Augment:
    # (height, width) of the random crop in NETWORK pixels (after the input rule's resize).
    crop: Tuple[int, int]
    rotation_deg: float = 2.5
    flip: bool = True
    color_jitter: bool = True

    def __call__(self, image: np.ndarray, depth: np.ndarray,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """(h, w, 3) uint8, (h, w) metres at network scale -> rotated/cropped/flipped/jittered."""
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


def to_network_scale(image: np.ndarray, depth: np.ndarray,
                     size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """
    Resize a frame as inference does (`resize_rgb`); depth by nearest neighbour on centres.

    `resize_rgb` maps pixel centres onto pixel centres; INTER_NEAREST_EXACT picks the source
    pixel whose centre is nearest each target centre, so depth edges stay on the image's
    edges (plain INTER_NEAREST samples top-left corners: edges land about half a pixel off).
    """
    image = resize_rgb_array(image, size)
    if depth.shape != tuple(size):
        depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST_EXACT)
    return image, depth


def prepare_sample(item: Dict, rule: InputRule, augment: Augment, rng: np.random.Generator,
                   canonical_focal_px: Optional[float]) -> Dict:
    """
    One dataset item -> the training sample: network-scale, augmented, canonical-depth target.

    Returns `image` (h, w, 3) uint8, `depth` (h, w) float32 canonical metres (0 = none),
    `network_size` (the frame's network input) and `scale` (network px per frame px, x).
    """
    image, depth = item['image'], item['depth'].astype(np.float32, copy=False)
    height, width = depth.shape
    size = rule(height, width)
    image, depth = to_network_scale(image, depth, size)
    image, depth = augment(image, depth, rng)
    focal = float(item.get('focal') or 0.0)
    if canonical_focal_px is not None and focal > 0:
        # Canonical depth: the same pixels seen by the canonical camera (crop, rotation and flip
        # keep the focal length; the resize scales it).
        depth = depth * np.float32(canonical_focal_px / network_focal(focal, width, size[1]))
    return {'image': image, 'depth': depth.astype(np.float32, copy=False),
            'network_size': size, 'scale': size[1] / width}


def random_crop(image: np.ndarray, depth: np.ndarray, size: Tuple[int, int],
                rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    h, w = depth.shape
    ch, cw = size
    if h < ch or w < cw:
        raise ValueError(f'the frame at network scale is {w}x{h}, smaller than the training '
                         f'crop {cw}x{ch} (data.crop_width x data.crop_height are network '
                         'pixels)')
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
