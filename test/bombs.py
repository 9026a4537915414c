# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Decompression bombs in real formats: valid files that declare far more pixels than bytes."""

import functools
import struct
import zlib

import cv2
import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data)))


@functools.lru_cache(maxsize=4)
def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """Build a valid 8-bit grey PNG of zeros (20000x20000: about 389 KB, 400 MB decoded)."""
    comp = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte + pixels
    parts = [comp.compress(row * 64) for _ in range(height // 64)]
    parts += [comp.compress(row * (height % 64)), comp.flush()]
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr) + _chunk(b'IDAT', b''.join(parts))
            + _chunk(b'IEND', b''))


def png_header_only(width: int, height: int) -> bytes:
    """Build a PNG whose IHDR claims width x height, with one tiny IDAT (a cheap bomb on disk)."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr)
            + _chunk(b'IDAT', zlib.compress(bytes(64))) + _chunk(b'IEND', b''))


@functools.lru_cache(maxsize=4)
def jpeg_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """Build an 8x8 baseline JPEG whose SOF0 claims width x height (about 630 bytes)."""
    ok, buf = cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    sof = data.index(b'\xff\xc0')
    struct.pack_into('>HH', data, sof + 5, height, width)
    return bytes(data)
