# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frames in (uint8 RGB, H x W x 3) to normalised network input on the device, depth back out."""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def network_size(height: int, width: int, short_side: int, multiple: int) -> Tuple[int, int]:
    """Scale the short side to `short_side`, round the long to `multiple` (480x640: 352x464)."""
    if height <= 0 or width <= 0:
        raise ValueError(f'image size must be positive, got {height}x{width}')
    scale = short_side / min(height, width)

    def snap(v: float) -> int:
        return max(multiple, int(round(v / multiple)) * multiple)

    return snap(height * scale), snap(width * scale)


def check_rgb(frame: np.ndarray) -> None:
    """Raise ValueError unless `frame` is a non-empty uint8 H x W x 3 array."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3 or frame.shape[0] == 0 or frame.shape[1] == 0:
        desc = (f'{frame.dtype} {frame.shape}' if isinstance(frame, np.ndarray)
                else type(frame).__name__)
        raise ValueError(f'expected a uint8 H x W x 3 RGB array, got {desc}')


def frames_to_device(frames: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """Same-size uint8 RGB frames -> (B, 3, H, W) uint8 on `device`, one host->device copy."""
    for frame in frames:
        check_rgb(frame)
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f'frames in one batch must share a size, got {sorted(shapes)}')
    host = torch.from_numpy(np.ascontiguousarray(np.stack(frames)))
    if device.type == 'cuda':
        host = host.pin_memory()
    return host.to(device, non_blocking=True).permute(0, 3, 1, 2)


def normalise(images: torch.Tensor, size: Tuple[int, int], mean: Sequence[float],
              std: Sequence[float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, h, w) resized (bilinear, antialiased) and CLIP-normalised."""
    x = images.float().div_(255.0)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode='bilinear', align_corners=False, antialias=True)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return ((x - m) / s).to(dtype)


def resize_depth(depth: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """(B, 1, h, w) -> (B, 1, H, W), bilinear, as DESIGN section 1 specifies for the output."""
    if tuple(depth.shape[-2:]) == tuple(size):
        return depth
    return F.interpolate(depth, size=size, mode='bilinear', align_corners=False)
