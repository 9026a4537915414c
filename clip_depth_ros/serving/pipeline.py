# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One frame through the whole product: RGB in; masked depth and packed cloud data out.

The node and the bag tool both call this, so they publish the same bytes. When the model runs
on a GPU, range masking, unprojection and packing run there too, and the host receives the
finished depth and cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from clip_depth_ros.frames import geometry
import numpy as np
import torch

# Allocates a zeroed writable buffer of n bytes (the ROS layer passes one a message can own).
BufferFactory = Callable[[int], object]


@dataclass
class FrameOutput:
    depth_m: np.ndarray            # (H, W) float32, NaN = invalid, +Inf = beyond range
    cloud: Optional[object]        # packed PointCloud2 data, or None
    cloud_height: int = 0
    cloud_width: int = 0
    cloud_rgb: bool = False


def depth_and_cloud(estimator, rgb: np.ndarray, max_range_m: float,
                    intr: Optional[geometry.Intrinsics] = None, stride: int = 1,
                    colorize: bool = True, new_buffer: BufferFactory = bytearray,
                    points: bool = True) -> FrameOutput:
    """
    Depth for one frame and, when intrinsics are given and `points`, its organized cloud.

    `intr` (checked to be the frame's own size: `usable_intrinsics`) scales the model's
    canonical depth to this camera; without it the canonical camera is assumed.
    """
    return depth_and_cloud_batch(estimator, [rgb], max_range_m, [intr], stride, colorize,
                                 new_buffer, points)[0]


def depth_and_cloud_batch(estimator, frames: Sequence[np.ndarray], max_range_m: float,
                          intrs: Sequence[Optional[geometry.Intrinsics]], stride: int = 1,
                          colorize: bool = True, new_buffer: BufferFactory = bytearray,
                          points: bool = True) -> List[FrameOutput]:
    """
    Frames of one size (one per camera, say) through the model as one batch.

    Each output is what `depth_and_cloud` gives for that frame with its own intrinsics: the
    node serves several cameras with one model this way. The one focal rule: a frame's
    focal length is its intrinsics' fx (at the frame's own size), else the canonical camera.
    """
    focals = [intr.fx if intr is not None else None for intr in intrs]
    clouds = list(intrs) if points else [None] * len(frames)
    device = getattr(estimator, 'device', torch.device('cpu'))
    if device.type != 'cpu' and hasattr(estimator, 'predict_tensor'):
        with torch.inference_mode():
            depths = estimator.predict_tensor(list(frames), focals)
        return [_finish_on_device(depths[i], rgb, max_range_m, intr, stride, colorize,
                                  new_buffer) for i, (rgb, intr) in enumerate(zip(frames, clouds))]
    if len(frames) == 1:
        depths = [estimator.predict(frames[0], focal_px=focals[0])]
    else:
        depths = estimator.predict_batch(list(frames), focal_px=focals)
    return [_on_host(depth, rgb, max_range_m, intr, stride, colorize, new_buffer)
            for depth, rgb, intr in zip(depths, frames, clouds)]


def _on_host(depth, rgb, max_range_m, intr, stride, colorize, new_buffer) -> FrameOutput:
    depth = geometry.mask_range(depth, max_range_m)
    if intr is None:
        return FrameOutput(depth, None)
    xyz = geometry.unproject(depth, intr, stride)
    colour = rgb[::stride, ::stride] if colorize else None
    h, w = xyz.shape[:2]
    buf = new_buffer(geometry.cloud_nbytes(h, w, colorize))
    geometry.pack_cloud_into(buf, xyz, colour)
    return FrameOutput(depth, buf, h, w, colorize)


def _finish_on_device(depth, rgb, max_range_m, intr, stride, colorize,
                      new_buffer) -> FrameOutput:
    """Mask and pack a frame's depth on the device, then copy both to the host at once."""
    with torch.inference_mode():
        depth_t = geometry.mask_range_torch(depth, max_range_m)
        parts = [depth_t.contiguous().view(torch.uint8).reshape(-1)]
        if intr is not None:
            colour = torch.from_numpy(rgb).to(depth_t.device) if colorize else None
            parts.append(geometry.pack_cloud_torch(depth_t, intr, colour, stride))
        host = torch.cat(parts).cpu().numpy()
    depth_bytes = parts[0].numel()
    depth = host[:depth_bytes].view(np.float32).reshape(depth_t.shape)
    if intr is None:
        return FrameOutput(depth, None)
    h = (depth.shape[0] + stride - 1) // stride
    w = (depth.shape[1] + stride - 1) // stride
    buf = new_buffer(host.size - depth_bytes)
    np.frombuffer(buf, np.uint8)[...] = host[depth_bytes:]
    return FrameOutput(depth, buf, h, w, colorize)
