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
