# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Messages <-> numpy, without cv_bridge or sensor_msgs_py.

Neither installs with pip, and cv_bridge breaks against NumPy 2 on Humble/Jazzy; the work is a
few lines of numpy over `pixels` and `geometry`, tested against them where they exist.
"""

from __future__ import annotations

import array
from typing import Any, Optional

from clip_depth_ros.frames import geometry
from clip_depth_ros.frames import pixels
from clip_depth_ros.frames.limits import DEFAULT_LIMITS, FrameLimits
from clip_depth_ros.serving import messages
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

TYPES = messages.MessageTypes(Image, CameraInfo, PointCloud2, PointField)


def image_to_rgb(msg: Image, limits: Optional[FrameLimits] = None) -> np.ndarray:
    """
    Image (any supported encoding, padded rows, either endianness) -> (H, W, 3) RGB.

    Refused with FrameRejected (`.kind`) before any allocation when over `limits`
    (None = FrameLimits() defaults).
    """
    return pixels.message_to_rgb(msg, False, limits or DEFAULT_LIMITS)


def compressed_to_rgb(msg: CompressedImage, limits: Optional[FrameLimits] = None) -> np.ndarray:
    """
    Decode a CompressedImage -> (H, W, 3) RGB, its header checked against `limits` first.

    FrameRejected (`.kind`) for a format not allowed, one that differs from `msg.format`, or
    a frame over the pixel limit (None = FrameLimits() defaults).
    """
    return pixels.message_to_rgb(msg, True, limits or DEFAULT_LIMITS)


def rgb_to_image(rgb: np.ndarray, header: Header, encoding: str = 'rgb8') -> Image:
    """(H, W, 3) RGB -> Image as rgb8 or bgr8."""
    if encoding not in ('rgb8', 'bgr8'):
        raise ValueError(f'rgb_to_image writes rgb8 or bgr8, not {encoding!r}')
    data = rgb if encoding == 'rgb8' else pixels.rgb_to_bgr(rgb)
    h, w, _ = rgb.shape
    return Image(header=header, height=h, width=w, encoding=encoding,
                 is_bigendian=messages.BIG_ENDIAN, step=w * 3, data=_buffer_of(data))


def depth_to_image(depth_m: np.ndarray, header: Header) -> Image:
    """(H, W) float32 metres (NaN = invalid) -> 32FC1 Image in native byte order."""
    return messages.depth_message(TYPES, header, depth_m, _buffer_of)


def image_to_depth(msg: Image) -> np.ndarray:
    """32FC1 Image -> (H, W) float32 metres; the inverse of depth_to_image."""
    if msg.encoding != '32FC1':
        raise pixels.UnsupportedEncoding(f'expected 32FC1 depth, got {msg.encoding!r}')
    dtype = np.dtype('>f4' if msg.is_bigendian else '<f4')
    rows = np.frombuffer(memoryview(msg.data).cast('B'), np.uint8).reshape(msg.height, msg.step)
    return rows[:, :msg.width * 4].copy().view(dtype).astype(np.float32)


def restamped(info: Any, header: Header) -> CameraInfo:
    """Copy `info` (a CameraInfo or its fields) under `header`, for depth/camera_info."""
    return messages.camera_info_message(TYPES, header, info)


def new_buffer(nbytes: int) -> array.array:
    # rclpy keeps an array('B') as the message's own buffer (no copy, no per-byte check as
    # for bytes or lists): writing straight into it is the cheapest way to fill a message.
    return array.array('B', [0]) * nbytes


def _buffer_of(values: np.ndarray) -> array.array:
    """One copy of a contiguous array into a message-ready array('B')."""
    out = new_buffer(values.nbytes)
    np.frombuffer(out, dtype=values.dtype).reshape(values.shape)[...] = values
    return out


def cloud_message(data: array.array, height: int, width: int, with_rgb: bool,
                  header: Header) -> PointCloud2:
    """Packed cloud data (from `geometry`) -> organized PointCloud2, depth_image_proc layout."""
    return messages.cloud_message(TYPES, header, data, height, width, with_rgb)


def xyz_to_cloud(xyz: np.ndarray, header: Header,
                 rgb: Optional[np.ndarray] = None) -> PointCloud2:
    """(h, w, 3) XYZ [+ RGB] -> organized PointCloud2 laid out as depth_image_proc's."""
    h, w, _ = xyz.shape
    data = new_buffer(geometry.cloud_nbytes(h, w, rgb is not None))
    geometry.pack_cloud_into(data, xyz, rgb)
    return cloud_message(data, h, w, rgb is not None, header)
