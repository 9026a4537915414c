# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image files in and out, RGB order at the boundary; errors name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from clip_depth_ros.config import DEPTH_FORMATS
from clip_depth_ros.frames.limits import DEFAULT_LIMITS, FrameLimits, FrameRejected
from clip_depth_ros.frames.pixels import decode_compressed
import cv2
import numpy as np

PathLike = Union[str, os.PathLike]


class ImageReadError(OSError):
    """An image file is missing, cannot be decoded, or is refused by the frame limits."""

    def __init__(self, message: str, kind: str = 'unreadable') -> None:
        super().__init__(message)
        self.kind = kind


def _decode_file(path: PathLike, flags: int, limits: FrameLimits) -> np.ndarray:
    """Check the file's header (format, pixel count), then let OpenCV decode it."""
    if not Path(path).is_file():
        raise ImageReadError(f'{path}: no such file', 'missing')
    try:
        data = Path(path).read_bytes()
        # A file has no declared format to compare with: its suffix is often wrong in datasets.
        return decode_compressed(data, '', limits, flags)
    except FrameRejected as e:
        raise ImageReadError(f'{path}: {e}', e.kind) from None
    except OSError as e:
        raise ImageReadError(f'{path}: cannot read: {e.strerror or e}') from None


def read_rgb(path: PathLike, limits: FrameLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Any 8-bit colour or grey PNG/JPEG (within `limits`) -> (H, W, 3) uint8 RGB."""
    image = _decode_file(path, cv2.IMREAD_COLOR, limits)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_depth_values(raw: np.ndarray, depth_format: str = 'linear') -> np.ndarray:
    """uint16 PNG values -> the depth in the file's unit (uint32), per `depth_format`."""
    if depth_format not in DEPTH_FORMATS:
        raise ValueError(f'depth format {depth_format!r} is not one of '
                         f'{", ".join(DEPTH_FORMATS)}')
    values = raw.astype(np.uint32)
    if depth_format == 'sunrgbd':
        values = ((values >> 3) | (values << 13)) & 0xFFFF
    return values


def read_depth_png(path: PathLike, scale: float,
                   limits: FrameLimits = DEFAULT_LIMITS,
                   depth_format: str = 'linear') -> np.ndarray:
    """Read a uint16 depth PNG as (H, W) float32 metres (value / scale); 0 stays 0 (invalid)."""
    raw = _decode_file(path, cv2.IMREAD_UNCHANGED, limits)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ImageReadError(f'{path}: expected a single-channel uint16 depth PNG, '
                             f'got {raw.dtype} {raw.shape}', 'format')
    return decode_depth_values(raw, depth_format).astype(np.float32) / np.float32(scale)


def write_rgb_png(path: PathLike, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB as PNG; a failure names the file."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'{path}: could not write PNG')
