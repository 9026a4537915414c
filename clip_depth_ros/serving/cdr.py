# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Serialized (CDR) camera messages read without deserializing them: pure `struct`, no ROS.

The node keeps frames as serialized bytes; what it needs before paying for deserialization
(the frame size, to batch frames of one size) is read straight from the bytes.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple


def image_size_from_cdr(data: bytes) -> Optional[Tuple[int, int]]:
    """
    Read (height, width) from a serialized sensor_msgs/Image without deserializing it.

    CDR: 4-byte encapsulation (byte 1 odd = little endian), stamp (8 bytes), frame_id (uint32
    length + bytes), padding to 4, height, width. None when the bytes are not that.
    """
    try:
        order = '<' if data[1] & 1 else '>'
        (length,) = struct.unpack_from(order + 'I', data, 12)
        offset = 16 + length
        offset += -offset % 4
        height, width = struct.unpack_from(order + 'II', data, offset)
        return int(height), int(width)
    except (IndexError, struct.error):
        return None


class CdrError(ValueError):
    """Serialized bytes that are not a complete message of the expected type."""


class _Reader:
    """Walk XCDR1 fields, checking that each one ends inside the buffer."""

    def __init__(self, data: bytes, what: str) -> None:
        self.buf = memoryview(data).cast('B')
        self.what = what
        if len(self.buf) < 4:
            raise CdrError(f'{what}: {len(self.buf)} bytes, shorter than a CDR header')
        self.order = '<' if self.buf[1] & 1 else '>'
        self.pos = 4  # alignment counts from the end of the encapsulation header

    def _align(self, n: int) -> None:
        self.pos += -(self.pos - 4) % n

    def skip(self, n: int, field: str, align: int = 1) -> None:
        self._align(align)
        if n < 0 or self.pos + n > len(self.buf):
            raise CdrError(f'{self.what}: {field} ends beyond the message '
                           f'({len(self.buf)} bytes)')
        self.pos += n

    def u32(self, field: str) -> int:
        self.skip(4, field, 4)
        (value,) = struct.unpack_from(self.order + 'I', self.buf, self.pos - 4)
        return value

    def sequence(self, field: str, item_size: int) -> None:
        count = self.u32(field + ' length')
        self.skip(count * item_size, f'{field} ({count} items)', item_size)

    def header(self) -> None:
        self.skip(8, 'header.stamp', 4)
        self.sequence('header.frame_id', 1)


def known_encapsulation(data: bytes) -> bool:
    """Whether the bytes start with plain CDR's header (the only one checked here)."""
    return len(data) >= 2 and data[0] == 0 and data[1] in (0, 1)


def check_image(data: bytes) -> None:
    """Refuse serialized sensor_msgs/Image bytes whose fields do not fit (CdrError)."""
    r = _Reader(data, 'Image')
    r.header()
    r.skip(8, 'height/width', 4)
    r.sequence('encoding', 1)
    r.skip(1, 'is_bigendian')
    r.skip(4, 'step', 4)
    r.sequence('data', 1)


def check_compressed_image(data: bytes) -> None:
    """Refuse serialized sensor_msgs/CompressedImage bytes whose fields do not fit."""
    r = _Reader(data, 'CompressedImage')
    r.header()
    r.sequence('format', 1)
    r.sequence('data', 1)


def check_camera_info(data: bytes) -> None:
    """Refuse serialized sensor_msgs/CameraInfo bytes whose fields do not fit (e.g. D's length)."""
    r = _Reader(data, 'CameraInfo')
    r.header()
    r.skip(8, 'height/width', 4)
    r.sequence('distortion_model', 1)
    r.sequence('d', 8)
    r.skip(8 * 30, 'k/r/p', 8)
    r.skip(8 + 16, 'binning/roi', 4)
    r.skip(1, 'roi.do_rectify')


def stamp_ns_from_cdr(data: bytes) -> Optional[int]:
    """header.stamp in nanoseconds of a serialized message that starts with a Header, or None."""
    if not known_encapsulation(data) or len(data) < 12:
        return None
    sec, nanosec = struct.unpack_from(('<' if data[1] & 1 else '>') + 'iI', data, 4)
    return sec * 1_000_000_000 + nanosec
