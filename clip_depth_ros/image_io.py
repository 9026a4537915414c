# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image files in and out, RGB order at the boundary; errors name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import cv2
import numpy as np

PathLike = Union[str, os.PathLike]


class ImageReadError(OSError):
    """An image file is missing or cannot be decoded."""


def read_rgb(path: PathLike) -> np.ndarray:
    """Any 8-bit colour or grey image -> (H, W, 3) uint8 RGB."""
    if not Path(path).is_file():
        raise ImageReadError(f'{path}: no such file')
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(f'{path}: not a readable image')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth_png(path: PathLike, scale: float) -> np.ndarray:
    """Read a uint16 depth PNG as (H, W) float32 metres (value / scale); 0 stays 0 (invalid)."""
    if not Path(path).is_file():
        raise ImageReadError(f'{path}: no such file')
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageReadError(f'{path}: not a readable image')
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ImageReadError(f'{path}: expected a single-channel uint16 depth PNG, '
                             f'got {raw.dtype} {raw.shape}')
    return raw.astype(np.float32) / np.float32(scale)


def write_rgb_png(path: PathLike, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'{path}: could not write PNG')
