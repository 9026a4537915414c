# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What a frame may cost, checked before any pixel is decoded or allocated.

A 600-byte JPEG can declare 20000x20000 pixels; decoding it costs gigabytes. Compressed frames
are therefore sniffed here, by reading only their header (PNG IHDR, JPEG SOFn, BMP and WebP
headers, pure `struct`), and refused when the real format is not allowed, differs from the
declared one, or holds more than `max_pixels`. Raw frames get the same pixel limit on
width x height. The node, the offline tools and the dataset readers all call these functions.
Standard library only.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple

from clip_depth_ros.config import FrameLimits, KNOWN_FORMATS, normalise_format

ECHO_CHARS = 40  # how much of a field taken from the data is repeated in a message


class FrameRejected(ValueError):
    """A frame refused before decoding; `.kind` is a stable name for logs and diagnostics."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """repr() of a field taken from the data, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f'...({len(text)} chars)'


DEFAULT_LIMITS = FrameLimits()


def declared_format(fmt: str) -> Optional[str]:
    """
    Name the image format a CompressedImage.format string declares (None: declares none).

    image_transport writes 'jpeg', 'png' or '<enc>; jpeg compressed <enc>'; compressedDepth
    (a private header before the PNG) is reported as such, so it is never taken for a PNG.
    """
    text = fmt.strip().lower()
    if not text:
        return None
    if 'compresseddepth' in text:
        return 'compresseddepth'
    for token in text.replace(';', ' ').split():
        name = normalise_format(token)
        if name in KNOWN_FORMATS:
            return name
    return text[:ECHO_CHARS]


def check_pixels(width: int, height: int, limits: FrameLimits = DEFAULT_LIMITS) -> None:
    """Refuse an empty frame or one with more than `limits.max_pixels` pixels."""
    if width <= 0 or height <= 0:
        raise FrameRejected(f'empty image ({width}x{height})', 'empty')
    if width * height > limits.max_pixels:
        raise FrameRejected(f'{width}x{height} = {width * height} pixels is over the limit of '
                            f'{limits.max_pixels}', 'too_large')


def read_header(data) -> Tuple[str, int, int]:
    """(format, width, height) from the first bytes of an encoded image, without decoding."""
    buf = memoryview(data).cast('B')
    if len(buf) == 0:
        raise FrameRejected('compressed frame is empty', 'empty')
    head = bytes(buf[:16])
    if head.startswith(b'\x89PNG\r\n\x1a\n'):
        return ('png',) + _png_size(buf)
    if head.startswith(b'\xff\xd8'):
        return ('jpeg',) + _jpeg_size(buf)
    if head.startswith(b'BM'):
        return ('bmp',) + _bmp_size(buf)
    if head.startswith(b'RIFF') and head[8:12] == b'WEBP':
        return ('webp',) + _webp_size(buf)
    for magic, name in ((b'II*\x00', 'tiff'), (b'MM\x00*', 'tiff'), (b'GIF8', 'gif'),
                        (b'\x00\x00\x00\x0cjP', 'jp2'), (b'v/1\x01', 'exr')):
        if head.startswith(magic):
            raise FrameRejected(f'{name} data: not a format whose size can be checked '
                                'before decoding', 'unsupported_format')
    raise FrameRejected(f'not an image: no known signature ({len(buf)} bytes, starting '
                        f'{bytes(buf[:8]).hex()})', 'corrupt')


def check_compressed(data, fmt: str = '',
                     limits: FrameLimits = DEFAULT_LIMITS) -> Tuple[str, int, int]:
    """
    Everything to do before a compressed frame may be decoded; returns its header.

    `fmt` is what the sender declared (CompressedImage.format, '' = undeclared): a declared
    format must be allowed and match the data; the data's own format must be allowed.
    """
    declared = declared_format(fmt)
    if declared is not None and declared not in limits.compressed_formats:
        raise FrameRejected(f'format {echo(fmt)} is not accepted (compressed_formats: '
                            f'{", ".join(limits.compressed_formats)})', 'unsupported_format')
    real, width, height = read_header(data)
    if real not in limits.compressed_formats:
        raise FrameRejected(f'{real} data is not accepted (compressed_formats: '
                            f'{", ".join(limits.compressed_formats)})', 'unsupported_format')
    if declared is not None and declared != real:
        raise FrameRejected(f'format says {echo(fmt)} but the data is {real}',
                            'format_mismatch')
    check_pixels(width, height, limits)
    return real, width, height


# -- headers ------------------------------------------------------------------------------------
def _short(what: str) -> FrameRejected:
    return FrameRejected(f'{what} header is truncated', 'corrupt')


def _png_size(buf: memoryview) -> Tuple[int, int]:
    if len(buf) < 24:
        raise _short('PNG')
    length, kind, width, height = struct.unpack('>I4sII', buf[8:24])
    if kind != b'IHDR' or length != 13:
        raise FrameRejected('PNG without an IHDR chunk first', 'corrupt')
    return width, height


# SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(buf: memoryview) -> Tuple[int, int]:
    pos, end = 2, len(buf)
    while True:
        while pos < end and buf[pos] != 0xFF:
            pos += 1  # tolerate junk between segments, as decoders do
        while pos < end and buf[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= end:
            raise FrameRejected('JPEG data ends before its frame header', 'corrupt')
        marker = buf[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker in (0xD9, 0xDA):
            raise FrameRejected('JPEG without a frame header before its scan', 'corrupt')
        if pos + 2 > end:
            raise _short('JPEG')
        (length,) = struct.unpack('>H', buf[pos:pos + 2])
        if length < 2:
            raise FrameRejected('JPEG segment with an invalid length', 'corrupt')
        if marker in _SOF:
            if pos + 7 > end:
                raise _short('JPEG')
            height, width = struct.unpack('>HH', buf[pos + 3:pos + 7])
            if height == 0:  # size given later by a DNL marker: cannot be checked up front
                raise FrameRejected('JPEG with its height deferred to a DNL marker', 'corrupt')
            return width, height
        pos += length


def _bmp_size(buf: memoryview) -> Tuple[int, int]:
    if len(buf) < 26:
        raise _short('BMP')
    (dib,) = struct.unpack('<I', buf[14:18])
    if dib == 12:
        width, height = struct.unpack('<HH', buf[18:22])
    else:
        width, height = struct.unpack('<ii', buf[18:26])
    return abs(width), abs(height)  # negative height = rows stored top-down


def _webp_size(buf: memoryview) -> Tuple[int, int]:
    if len(buf) < 30:
        raise _short('WebP')
    chunk = bytes(buf[12:16])
    if chunk == b'VP8X':
        w = int.from_bytes(buf[24:27], 'little') + 1
        h = int.from_bytes(buf[27:30], 'little') + 1
        return w, h
    if chunk == b'VP8L':
        if buf[20] != 0x2F:
            raise FrameRejected('WebP lossless without its signature', 'corrupt')
        (bits,) = struct.unpack('<I', buf[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b'VP8 ':
        if bytes(buf[23:26]) != b'\x9d\x01\x2a':
            raise FrameRejected('WebP lossy without its start code', 'corrupt')
        w, h = struct.unpack('<HH', buf[26:30])
        return w & 0x3FFF, h & 0x3FFF
    raise FrameRejected(f'WebP with an unknown first chunk {echo(chunk)}', 'corrupt')
