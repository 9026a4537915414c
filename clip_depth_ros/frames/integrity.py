# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Whether an encoded PNG or JPEG is complete and well formed, checked before the decoder sees it.

A truncated or corrupt frame must not reach OpenCV: libpng prints one or two stderr lines per
bad PNG (nothing in Python can silence them without racing other threads' output), and libjpeg
turns a truncated or garbled JPEG into an image padded with grey, which would then be inferred.
PNG: every chunk fits and has a correct CRC, IDAT and IEND are present, and the IDAT stream
inflates to exactly the size IHDR implies (inflated in bounded pieces, never held whole).
JPEG: every segment fits, a scan is present, the entropy-coded data holds only stuffed bytes,
restart markers or further segments, and the data ends with EOI. Standard library only.
"""

from __future__ import annotations

import struct
import zlib

from clip_depth_ros.frames.limits import FrameRejected

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))
_PIECE = 1 << 20  # inflated bytes held at a time while checking
_FEED = 1 << 16  # compressed bytes given to zlib at a time


def _corrupt(message: str) -> FrameRejected:
    return FrameRejected(message, 'corrupt')


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """Bytes of filtered scanlines that IHDR implies (one filter byte per row)."""
    if colour not in _CHANNELS or depth not in (1, 2, 4, 8, 16) or interlace not in (0, 1):
        raise _corrupt('PNG with an invalid IHDR')
    bits = _CHANNELS[colour] * depth
    if interlace == 0:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        w = (width - x0 + dx - 1) // dx if width > x0 else 0
        h = (height - y0 + dy - 1) // dy if height > y0 else 0
        if w and h:
            total += h * (1 + (w * bits + 7) // 8)
    return total


def check_png(data) -> None:
    """Raise FrameRejected('corrupt') unless `data` is a complete, consistent PNG."""
    buf = memoryview(data).cast('B')
    pos, end = 8, len(buf)
    expected = None
    inflate = zlib.decompressobj()
    inflated, seen_idat = 0, False
    while True:
        if pos + 12 > end:
            raise _corrupt(f'PNG truncated ({end} bytes, no IEND chunk)')
        length, kind = struct.unpack('>I4s', buf[pos:pos + 8])
        if pos + 12 + length > end:
            raise _corrupt(f'PNG truncated in its {kind!r} chunk ({end} bytes)')
        body = buf[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack('>I', buf[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise _corrupt(f'PNG chunk {kind!r} has a wrong CRC')
        if kind == b'IHDR':
            width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', body)
            expected = _png_raw_size(width, height, depth, colour, interlace)
        elif kind == b'IDAT':
            if expected is None:
                raise _corrupt('PNG with IDAT before IHDR')
            seen_idat = True
            inflated += _inflate(inflate, body, expected - inflated)
        elif kind == b'IEND':
            break
        pos += 12 + length
    if not seen_idat:
        raise _corrupt('PNG without image data (IDAT)')
    inflated += _inflate(inflate, b'', expected - inflated)
    if not inflate.eof or inflated != expected:
        raise _corrupt(f'PNG image data inflates to {inflated} bytes, not the {expected} its '
                       'header implies')


def _inflate(inflate, chunk, room: int) -> int:
    """
    Inflate `chunk` in bounded pieces; return how many bytes came out (at most room + 1).

    Input goes in _FEED bytes at a time, so the unconsumed tail zlib hands back (a copy) stays
    small whatever the chunk's size.
    """
    out = 0
    data = memoryview(chunk)
    try:
        for start in range(0, max(len(data), 1), _FEED):
            tail = bytes(data[start:start + _FEED])
            while True:
                piece = inflate.decompress(tail, min(_PIECE, max(room - out, 0) + 1))
                out += len(piece)
                tail = inflate.unconsumed_tail
                if out > room:
                    raise _corrupt('PNG image data inflates to more than its header implies')
                if inflate.eof:
                    return out
                if not tail and not piece:
                    break
                if not tail and len(piece) < _PIECE:
                    break
    except zlib.error as e:
        raise _corrupt(f'PNG image data is not a valid zlib stream ({e})') from None
    return out


# Markers that stand alone (no length): TEM, RST0-7, SOI, EOI.
_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}


def check_jpeg(data) -> None:
    """Raise FrameRejected('corrupt') unless `data` is a complete, well-formed JPEG stream."""
    raw = bytes(data)
    pos, end, scans = 2, len(raw), 0
    while True:
        if pos + 2 > end:
            raise _corrupt(f'JPEG truncated ({end} bytes, no EOI marker)')
        if raw[pos] != 0xFF:
            raise _corrupt(f'JPEG with stray data at byte {pos}')
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            if not scans:
                raise _corrupt('JPEG without a scan')
            return
        if marker in _STANDALONE or marker < 0xC0:
            raise _corrupt(f'JPEG with an unexpected marker 0x{marker:02X} at byte {pos}')
        if pos + 4 > end:
            raise _corrupt(f'JPEG truncated ({end} bytes, no EOI marker)')
        (length,) = struct.unpack('>H', raw[pos + 2:pos + 4])
        if length < 2 or pos + 2 + length > end:
            raise _corrupt(f'JPEG truncated in segment 0x{marker:02X} ({end} bytes)')
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data up to the next marker that is not RSTn
            scans += 1
            pos = _end_of_scan(raw, pos)


def _end_of_scan(raw: bytes, pos: int) -> int:
    while True:
        pos = raw.find(b'\xff', pos)
        if pos < 0 or pos + 1 >= len(raw):
            raise _corrupt(f'JPEG truncated in its scan data ({len(raw)} bytes, no EOI marker)')
        following = raw[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


def check_complete(data, real_format: str) -> None:
    """Check a PNG or JPEG (as named by `read_header`) is whole; other formats pass."""
    if real_format == 'png':
        check_png(data)
    elif real_format == 'jpeg':
        check_jpeg(data)
