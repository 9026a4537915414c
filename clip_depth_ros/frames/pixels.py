# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Raw camera buffers (ROS Image fields) and compressed frames to RGB uint8 arrays.

Plain numpy and OpenCV, no message types: the ROS layer passes the fields in. BGR and YUV exist
only here; everything leaving this module is RGB.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from clip_depth_ros.frames.integrity import check_complete
from clip_depth_ros.frames.limits import (check_compressed, check_pixels, DEFAULT_LIMITS, echo,
                                          FrameLimits, FrameRejected)
import cv2
import numpy as np


# OpenCV prints a warning to stderr for every damaged frame it is given, a log line per bad
# message that no throttle can reach; our callers report decode failures themselves, by kind.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class UnsupportedEncoding(FrameRejected):
    """The image encoding is not one the node can turn into RGB."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 'encoding')


class MalformedImage(FrameRejected):
    """The image buffer does not hold what its header says it holds."""

    def __init__(self, message: str, kind: str = 'malformed') -> None:
        super().__init__(message, kind)


# encoding -> (bytes per pixel, channels, numpy dtype of one channel)
ENCODINGS: Dict[str, Tuple[int, int, str]] = {
    'rgb8': (3, 3, 'u1'), 'bgr8': (3, 3, 'u1'),
    'rgba8': (4, 4, 'u1'), 'bgra8': (4, 4, 'u1'),
    'mono8': (1, 1, 'u1'), 'mono16': (2, 1, 'u2'),
    # ROS 'yuv422' is UYVY; 'yuv422_yuy2' is YUYV. Two bytes per pixel either way.
    'yuv422': (2, 2, 'u1'), 'uyvy': (2, 2, 'u1'),
    'yuv422_yuy2': (2, 2, 'u1'), 'yuyv': (2, 2, 'u1'),
}
_YUV_CODES = {'yuv422': cv2.COLOR_YUV2RGB_UYVY, 'uyvy': cv2.COLOR_YUV2RGB_UYVY,
              'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2, 'yuyv': cv2.COLOR_YUV2RGB_YUY2}


def raw_to_rgb(data: bytes, encoding: str, width: int, height: int, step: int,
               is_bigendian: bool = False,
               limits: FrameLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode a raw image buffer (honouring row padding and endianness) -> (H, W, 3) uint8 RGB."""
    if encoding not in ENCODINGS:
        raise UnsupportedEncoding(
            f'unsupported encoding {echo(encoding)}; supported: {", ".join(sorted(ENCODINGS))}')
    if width <= 0 or height <= 0:
        raise MalformedImage(f'empty image ({width}x{height})', 'empty')
    check_pixels(width, height, limits)  # before anything the size of the frame is allocated
    pixel_bytes, channels, dtype = ENCODINGS[encoding]
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise MalformedImage(f'step {step} is smaller than width x pixel size = {row_bytes}')
    if len(data) < step * height:
        raise MalformedImage(f'data holds {len(data)} bytes, step x height needs {step * height}',
                             'short_buffer')
    buf = np.frombuffer(data, dtype=np.uint8, count=step * height).reshape(height, step)
    rows = buf[:, :row_bytes]
    if dtype == 'u2':
        order = '>' if is_bigendian else '<'
        mono16 = np.ascontiguousarray(rows).view(order + 'u2').reshape(height, width)
        # Scale 0..65535 to 0..255, rounded: exact for 8-bit values stored as v * 257.
        mono = ((mono16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(mono[:, :, None], 3, axis=2)
    pixels = rows.reshape(height, width, channels)
    if encoding == 'rgb8':
        return np.ascontiguousarray(pixels)
    if encoding == 'bgr8':
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if encoding == 'rgba8':
        return np.ascontiguousarray(pixels[:, :, :3])
    if encoding == 'bgra8':
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    if encoding == 'mono8':
        return np.repeat(pixels, 3, axis=2)
    if width % 2:
        raise MalformedImage(f'{encoding} needs an even width, got {width}')
    return cv2.cvtColor(np.ascontiguousarray(pixels), _YUV_CODES[encoding])


def decode_compressed(data: bytes, fmt: str = '', limits: FrameLimits = DEFAULT_LIMITS,
                      flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """
    Decode an encoded image with OpenCV only after `check_compressed` let it through.

    The one gate to cv2.imdecode in the package: returns what OpenCV gives for `flags`
    (BGR for IMREAD_COLOR).
    """
    try:
        real, _, _ = check_compressed(data, fmt, limits)
        check_complete(data, real)  # a bad frame never reaches the decoder (nor its stderr)
    except FrameRejected as e:
        if e.kind != 'corrupt':
            raise
        raise MalformedImage(f'cannot decode compressed frame (format {echo(fmt)}, '
                             f'{len(data)} bytes): {e}', 'corrupt') from None
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None or image.size == 0:
        raise MalformedImage(f'cannot decode compressed frame (format {echo(fmt)}, '
                             f'{len(data)} bytes)', 'corrupt')
    return image


def compressed_to_rgb(data: bytes, fmt: str = '',
                      limits: FrameLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode a jpeg or png frame (CompressedImage.data) -> (H, W, 3) uint8 RGB."""
    return cv2.cvtColor(decode_compressed(data, fmt, limits), cv2.COLOR_BGR2RGB)


def rgb_to_bgr(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> contiguous BGR, for bgr8 output topics."""
    return np.ascontiguousarray(rgb[:, :, ::-1])


def message_to_rgb(msg: Any, compressed: bool, limits: FrameLimits = DEFAULT_LIMITS) -> np.ndarray:
    """
    Decode a sensor_msgs Image or CompressedImage -> (H, W, 3) RGB, `limits` checked first.

    Duck-typed: rclpy's messages (the node) and rosbags' (the bag tool, bag training) have the
    same fields, so one rule decodes both.
    """
    data = memoryview(msg.data).cast('B')
    if compressed:
        return compressed_to_rgb(data, msg.format, limits)
    return raw_to_rgb(data, msg.encoding, msg.width, msg.height, msg.step,
                      bool(msg.is_bigendian), limits)


# Depth image encodings read as depth: millimetres (16-bit) or metres (32FC1).
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')


def depth_to_metres(data, encoding: str, width: int, height: int, step: int,
                    is_bigendian: bool, mm_scale: float = 1000.0) -> np.ndarray:
    """16UC1 (value / mm_scale) or 32FC1 buffer -> (H, W) float32 metres, 0 = no measurement."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'depth encoding {encoding!r} is not one of {", ".join(DEPTH_ENCODINGS)}')
    itemsize = 4 if encoding == '32FC1' else 2
    if width <= 0 or height <= 0 or step < width * itemsize or len(data) < step * height:
        raise ValueError(f'depth buffer of {len(data)} bytes does not hold {width}x{height} '
                         f'{encoding} with step {step}')
    rows = np.frombuffer(data, np.uint8, count=step * height).reshape(height, step)
    kind = ('>' if is_bigendian else '<') + ('f4' if itemsize == 4 else 'u2')
    values = np.ascontiguousarray(rows[:, :width * itemsize]).view(kind).reshape(height, width)
    if itemsize == 2:
        return values.astype(np.float32) / np.float32(mm_scale)
    depth = values.astype(np.float32)
    # REP 117: NaN = no return, -Inf = too close, +Inf = too far; none is a measurement.
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth
