# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Pinhole geometry and organized point clouds, laid out as depth_image_proc lays them out.

Points are in the optical frame (x right, y down, z forward), invalid = NaN. Depth follows
REP 117: NaN = invalid, +Inf = farther than the range; a cloud has no point at infinity, so
both are NaN there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

XYZ_POINT_STEP = 16
XYZRGB_POINT_STEP = 32
RGB_OFFSET = 16
# The CameraInfo fields that describe the camera: what depth/camera_info copies from the input.
CAMERA_INFO_FIELDS = ('height', 'width', 'distortion_model', 'd', 'k', 'r', 'p', 'binning_x',
                      'binning_y', 'roi')


def point_step(with_rgb: bool) -> int:
    """Bytes per point: xyz + pad, or xyz + pad + rgb + pad (depth_image_proc's layout)."""
    return XYZRGB_POINT_STEP if with_rgb else XYZ_POINT_STEP


def cloud_layout(with_rgb: bool) -> List[Tuple[str, int]]:
    """(field name, byte offset) of each FLOAT32 PointField, in order."""
    return [('x', 0), ('y', 4), ('z', 8)] + ([('rgb', RGB_OFFSET)] if with_rgb else [])


# Focal lengths a real camera can have, in pixels at the image's own resolution: below 1 px a
# pixel sees more than 90 degrees, above 1e6 px it sees less than a milliradian across 1000 px.
# Outside, the camera_info is wrong (and 1e300 overflows the cloud).
MIN_FOCAL_PX, MAX_FOCAL_PX = 1.0, 1e6


class InvalidIntrinsics(ValueError):
    """
    A CameraInfo cannot be used to unproject.

    All-zero or non-finite matrix, an implausible focal length or principal point, wrong size.
    """


@dataclass(frozen=True)
class Intrinsics:
    """Focal lengths and principal point in pixels, for an image of width x height."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_camera_info_msg(cls, msg: Any) -> 'Intrinsics':
        """
        Intrinsics of the image a sensor_msgs/CameraInfo describes, binning and ROI included.

        Duck-typed: rclpy's message (the node) and rosbags' (bag tool, training) have the same
        fields, so one rule reads both.
        """
        roi = msg.roi
        return cls.from_camera_info(msg.k, msg.p, msg.width, msg.height, msg.binning_x,
                                    msg.binning_y,
                                    (roi.x_offset, roi.y_offset, roi.width, roi.height))

    @classmethod
    def from_camera_info(cls, k: Sequence[float], p: Sequence[float], width: int,
                         height: int, binning_x: int = 0, binning_y: int = 0,
                         roi: Optional[Tuple[int, int, int, int]] = None) -> 'Intrinsics':
        """
        Intrinsics of the image the camera publishes, as image_geometry computes them.

        Uses P (the rectified projection), or K when P is all zero. `width`, `height` are the
        calibrated (full) size; `roi` = (x_offset, y_offset, width, height), all zero = full
        frame. Binning and ROI rescale and shift the matrix and shrink the grid, as
        PinholeCameraModel's reduced resolution does.
        """
        p = np.asarray(p, dtype=np.float64).reshape(-1)
        k = np.asarray(k, dtype=np.float64).reshape(-1)
        if p.size == 12 and np.any(p != 0):
            fx, fy, cx, cy, source = p[0], p[5], p[2], p[6], 'P'
        elif k.size == 9 and np.any(k != 0):
            fx, fy, cx, cy, source = k[0], k[4], k[2], k[5], 'K'
        else:
            raise InvalidIntrinsics('camera_info has all-zero K and P matrices')
        matrix = p if source == 'P' else k
        if not np.all(np.isfinite(matrix)):
            raise InvalidIntrinsics(f'camera_info {source} holds non-finite values '
                                    f'{matrix.tolist()}')
        if width <= 0 or height <= 0:
            raise InvalidIntrinsics(f'camera_info has no image size ({width}x{height})')
        bx, by = int(binning_x) or 1, int(binning_y) or 1  # 0 = no binning, as 1
        x0, y0, roi_w, roi_h = (int(v) for v in (roi or (0, 0, 0, 0)))
        if (x0, y0, roi_w, roi_h) == (0, 0, 0, 0):
            roi_w, roi_h = width, height
        if roi_w <= 0 or roi_h <= 0 or x0 < 0 or y0 < 0 or x0 + roi_w > width \
                or y0 + roi_h > height:
            raise InvalidIntrinsics(f'camera_info roi {x0},{y0} {roi_w}x{roi_h} is not inside '
                                    f'the {width}x{height} image')
        if roi_w < bx or roi_h < by:
            raise InvalidIntrinsics(f'camera_info binning {bx}x{by} leaves no pixel of the '
                                    f'{roi_w}x{roi_h} roi')
        intr = cls(float(fx / bx), float(fy / by), float((cx - x0) / bx),
                   float((cy - y0) / by), roi_w // bx, roi_h // by)
        intr.check_plausible(source, (float(cx), float(cy), int(width), int(height)))
        return intr

    def check_plausible(self, source: str = 'P',
                        sensor: Optional[Tuple[float, float, int, int]] = None) -> None:
        """
        Refuse what no camera has: focal lengths outside [1, 1e6] px, a far-off centre.

        Focal lengths are judged at the image's own resolution (binning and ROI applied). The
        principal point may lie outside the image (a shifted sensor) but not by more than the
        image's own width or height; with `sensor` = (cx, cy, width, height) of the full
        calibrated frame it is judged there, so an ROI in a corner keeps its distant centre.
        """
        for name, f in (('fx', self.fx), ('fy', self.fy)):
            if not MIN_FOCAL_PX <= f <= MAX_FOCAL_PX:
                raise InvalidIntrinsics(
                    f'camera_info {source} has an implausible focal length {name}={f:g} px '
                    f'at {self.width}x{self.height} (expected {MIN_FOCAL_PX:g} to '
                    f'{MAX_FOCAL_PX:g} px)')
        cx, cy, width, height = sensor or (self.cx, self.cy, self.width, self.height)
        if not (-width <= cx <= 2 * width and -height <= cy <= 2 * height):
            raise InvalidIntrinsics(
                f'camera_info {source} puts the principal point ({cx:g}, {cy:g}) '
                f'far outside the {width}x{height} image')

    def check_image_size(self, width: int, height: int) -> None:
        if (width, height) != (self.width, self.height):
            raise InvalidIntrinsics(f'camera_info is for {self.width}x{self.height}, '
                                    f'the image is {width}x{height}')


def mask_range(depth_m: np.ndarray, max_range_m: float) -> np.ndarray:
    """Copy of `depth_m` as REP 117 says: +Inf beyond `max_range_m`, NaN if not finite or <= 0."""
    out = np.array(depth_m, dtype=np.float32, copy=True)
    with np.errstate(invalid='ignore'):
        finite = np.isfinite(out)
        out[finite & (out > max_range_m)] = np.inf
        out[~finite | (out <= 0)] = np.nan
    return out


def _cloud_z(z: np.ndarray) -> np.ndarray:
    """Cloud depth: a point at +Inf does not exist, so every non-finite depth becomes NaN."""
    return np.where(np.isfinite(z), z, np.float32(np.nan)).astype(np.float32, copy=False)


def unproject(depth_m: np.ndarray, intr: Intrinsics, stride: int = 1) -> np.ndarray:
    """(H, W) metres -> (ceil(H/s), ceil(W/s), 3) float32 XYZ, keeping the grid organized."""
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    z = _cloud_z(depth_m[::stride, ::stride])
    v = np.arange(0, depth_m.shape[0], stride, dtype=np.float32)
    u = np.arange(0, depth_m.shape[1], stride, dtype=np.float32)
    x = (u[None, :] - np.float32(intr.cx)) * z / np.float32(intr.fx)
    y = (v[:, None] - np.float32(intr.cy)) * z / np.float32(intr.fy)
    return np.stack([x, y, z], axis=-1)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) uint32 0x00RRGGBB."""
    c = rgb.astype(np.uint32)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def cloud_nbytes(height: int, width: int, with_rgb: bool) -> int:
    return height * width * point_step(with_rgb)


def pack_cloud_into(out, xyz: np.ndarray, rgb: Optional[np.ndarray] = None) -> None:
    """Write XYZ [+ RGB] into a zeroed writable buffer of `cloud_nbytes` bytes, in place."""
    h, w, _ = xyz.shape
    words = point_step(rgb is not None) // 4
    buf = np.frombuffer(out, dtype=np.float32).reshape(h, w, words)
    buf[..., :3] = xyz
    if rgb is not None:
        if rgb.shape[:2] != (h, w):
            raise ValueError(f'rgb grid {rgb.shape[:2]} does not match the cloud grid {(h, w)}')
        buf.view(np.uint32)[..., RGB_OFFSET // 4] = pack_rgb(rgb)


def pack_cloud(xyz: np.ndarray, rgb: Optional[np.ndarray] = None) -> bytes:
    """(h, w, 3) float32 XYZ [+ (h, w, 3) uint8 RGB] -> PointCloud2 data bytes (16 or 32/point)."""
    out = bytearray(cloud_nbytes(xyz.shape[0], xyz.shape[1], rgb is not None))
    pack_cloud_into(out, xyz, rgb)
    return bytes(out)


def mask_range_torch(depth_m: torch.Tensor, max_range_m: float) -> torch.Tensor:
    """Torch twin of `mask_range`, on the tensor's device."""
    finite = torch.isfinite(depth_m)
    out = torch.where(finite & (depth_m > max_range_m),
                      torch.full_like(depth_m, float('inf')), depth_m)
    return torch.where(~finite | (depth_m <= 0), torch.full_like(depth_m, float('nan')), out)


def pack_cloud_torch(depth_m: torch.Tensor, intr: Intrinsics,
                     rgb: Optional[torch.Tensor] = None, stride: int = 1) -> torch.Tensor:
    """
    Unproject and pack on the depth's device: (H, W) metres -> flat uint8 cloud data.

    Byte-identical to `pack_cloud(unproject(...))`; the model's device does the work and the
    host receives one finished buffer.
    """
    z = depth_m[::stride, ::stride].float()
    z = torch.where(torch.isfinite(z), z, torch.full_like(z, float('nan')))
    v = torch.arange(0, depth_m.shape[0], stride, device=z.device, dtype=torch.float32)
    u = torch.arange(0, depth_m.shape[1], stride, device=z.device, dtype=torch.float32)
    x = (u[None, :] - intr.cx) * z / intr.fx
    y = (v[:, None] - intr.cy) * z / intr.fy
    words = point_step(rgb is not None) // 4
    buf = torch.zeros(z.shape[0], z.shape[1], words, device=z.device, dtype=torch.float32)
    buf[..., 0], buf[..., 1], buf[..., 2] = x, y, z
    if rgb is not None:
        c = rgb[::stride, ::stride].to(torch.int32)
        packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
        buf[..., RGB_OFFSET // 4] = packed.view(torch.float32)
    return buf.reshape(-1).view(torch.uint8)
