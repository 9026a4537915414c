# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Reading rosbag2 bags (MCAP or sqlite3) without ROS: integrity checks, message decoding, errors.

Every reader of bags (the bag tool, bag training, evaluation) opens them through this module, so
a damaged bag gets the same one-line error naming the bag, topic and stamp everywhere.
"""

from __future__ import annotations

import bisect
import contextlib
from pathlib import Path
import struct
from typing import List
import zlib

from clip_depth_ros.frames import pixels
from clip_depth_ros.frames.limits import FrameLimits
import numpy as np

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
CLOUD = 'sensor_msgs/msg/PointCloud2'


class BagError(RuntimeError):
    """A bag cannot be read, or the output cannot be written; the message names the bag."""


def image_namespace(topic: str, msgtype: str) -> str:
    """'/cam/image_raw' -> '/cam'; '/cam/image_raw/compressed' -> '/cam'; '/image' -> ''."""
    base = topic
    if msgtype == COMPRESSED and base.endswith('/compressed'):
        base = base[:-len('/compressed')]
    return base.rsplit('/', 1)[0]


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class CameraInfos:
    """camera_info messages of one topic; the one for an image is the exact stamp, else latest."""

    def __init__(self) -> None:
        self.stamps: List[int] = []
        self.msgs: List[object] = []

    def add(self, msg) -> None:
        stamp = stamp_ns(msg.header)
        i = bisect.bisect_right(self.stamps, stamp)
        self.stamps.insert(i, stamp)
        self.msgs.insert(i, msg)

    def for_stamp(self, stamp: int):
        if not self.msgs:
            return None
        i = bisect.bisect_right(self.stamps, stamp)
        return self.msgs[max(i - 1, 0)]


def os_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f'{type(e).__name__}: {e}'


def storage_errors():
    import sqlite3

    from rosbags.rosbag2 import ReaderError, WriterError
    errors = [ReaderError, WriterError, OSError, sqlite3.Error, ValueError, KeyError,
              IndexError, EOFError, AssertionError, struct.error]
    try:
        import apsw  # rosbags reads sqlite3 bags with apsw
        errors.append(apsw.Error)
    except ImportError:
        pass
    return tuple(errors)


@contextlib.contextmanager
def reading(input_path: Path):
    """Failures of the reader are the input's: name it."""
    try:
        yield
    except BagError:
        raise
    except storage_errors() as e:
        raise BagError(f'{input_path}: corrupt or unreadable bag: {os_reason(e)}') from e


def messages(reader, input_path: Path, **kwargs):
    """Iterate over the reader's messages, its failures named as the input's."""
    it = iter(reader.messages(**kwargs))
    while True:
        with reading(input_path):
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


# -- integrity of the input, before anything is written ---------------------------------------
MCAP_MAGIC = b'\x89MCAP0\r\n'
_OP_CHUNK, _OP_DATA_END, _OP_FOOTER = 0x06, 0x0F, 0x02
_CHUNK_RECORDS = (0x03, 0x04, 0x05)  # schema, channel, message: all a chunk may hold


def verify_bag(path: Path) -> None:
    """
    Check every data file of a bag before it is read: MCAP CRCs, sqlite3 structure.

    sqlite3 keeps no checksum of its data: damaged message bytes in a structurally sound
    database cannot be detected (quick_check finds damaged pages and indexes).
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    for f in files:
        if f.suffix == '.mcap':
            verify_mcap(f)
        elif f.suffix == '.db3':
            verify_sqlite(f)


def verify_mcap(path: Path) -> None:
    """Walk the records of an MCAP file, checking each chunk's CRC and the data-section CRC."""
    size = path.stat().st_size
    with open(path, 'rb') as f:
        head = f.read(len(MCAP_MAGIC))
        if head != MCAP_MAGIC:
            raise BagError(f'{path}: not an MCAP file (bad magic)')
        crc = zlib.crc32(head)
        pos, chunk_no = len(head), 0
        while True:
            header = f.read(9)
            if len(header) < 9:
                raise BagError(f'{path}: truncated at byte {pos} (no data-end record)')
            op, length = struct.unpack('<BQ', header)
            if length > size - pos - 9:
                raise BagError(f'{path}: corrupt record at byte {pos} (opcode 0x{op:02x}, '
                               f'length {length} runs past the end of the file)')
            if op == _OP_DATA_END:
                body = f.read(length)
                (stored,) = struct.unpack('<I', body[:4]) if length >= 4 else (0,)
                if stored and stored != crc:
                    raise BagError(f'{path}: data section CRC mismatch (stored {stored:08x}, '
                                   f'computed {crc:08x}): bytes outside the chunks are '
                                   'damaged')
                return
            if op == _OP_FOOTER:
                return  # no data-end record (old writers): chunk CRCs were checked
            body = f.read(length)
            crc = zlib.crc32(body, zlib.crc32(header, crc))
            if op == _OP_CHUNK:
                _verify_chunk(path, body, chunk_no, pos)
                chunk_no += 1
            pos += 9 + length


def _verify_chunk(path: Path, body: bytes, number: int, offset: int) -> None:
    where = f'{path}: chunk {number} at byte {offset}'
    try:
        _, _, size, stored = struct.unpack_from('<QQQI', body, 0)
        (name_len,) = struct.unpack_from('<I', body, 28)
        compression = body[32:32 + name_len].decode()
        (records_len,) = struct.unpack_from('<Q', body, 32 + name_len)
        records = body[40 + name_len:40 + name_len + records_len]
        if len(records) != records_len:
            raise ValueError('records run past the chunk')
        if compression == 'zstd':
            try:
                from compression import zstd
            except ImportError:
                from backports import zstd
            records = zstd.decompress(records)
        elif compression == 'lz4':
            import lz4.frame
            records = lz4.frame.decompress(records)
        elif compression:
            raise ValueError(f'unknown compression {compression[:20]!r}')
    except Exception as e:  # any failure to take the chunk apart is a damaged chunk
        raise BagError(f'{where}: corrupt chunk ({type(e).__name__}: {e})') from e
    if len(records) != size:
        raise BagError(f'{where}: corrupt chunk ({len(records)} bytes, header says {size})')
    computed = zlib.crc32(records)
    if stored and stored != computed:
        raise BagError(f'{where}: CRC mismatch (stored {stored:08x}, computed {computed:08x})')
    # Without a CRC (rosbags writes none) only the record structure can be checked: damage
    # that hits a record header is found, damaged message bytes are not.
    pos = 0
    while pos < len(records):
        if pos + 9 > len(records):
            raise BagError(f'{where}: corrupt chunk (record header cut at byte {pos})')
        op, length = struct.unpack_from('<BQ', records, pos)
        if op not in _CHUNK_RECORDS or length > len(records) - pos - 9:
            raise BagError(f'{where}: corrupt chunk (invalid record at byte {pos} of the chunk: '
                           f'opcode 0x{op:02x}, length {length})')
        pos += 9 + length


def verify_sqlite(path: Path) -> None:
    """PRAGMA quick_check on a read-only, immutable connection (nothing is written)."""
    import sqlite3
    from urllib.parse import quote
    try:
        conn = sqlite3.connect(f'file:{quote(str(path.resolve()))}?mode=ro&immutable=1',
                               uri=True)
        try:
            rows = conn.execute('PRAGMA quick_check').fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise BagError(f'{path}: corrupt or unreadable sqlite3 bag: {e}') from e
    problems = [r[0] for r in rows if r[0] != 'ok']
    if problems:
        raise BagError(f'{path}: corrupt sqlite3 bag: {"; ".join(problems)[:200]}')


def decode_image(msg, msgtype: str, limits: FrameLimits) -> np.ndarray:
    """Decode an Image or CompressedImage of a bag -> (H, W, 3) RGB, as the node does."""
    return pixels.message_to_rgb(msg, msgtype == COMPRESSED, limits)


def deserialize(typestore, raw: bytes, conn, bag: Path, timestamp_ns: int):
    """One message of a bag; a message that does not parse is named by bag, topic and time."""
    try:
        return typestore.deserialize_cdr(raw, conn.msgtype)
    except Exception as e:  # noqa: B902 - rosbags' serde raises many types for damaged bytes
        raise BagError(f'{bag}: {conn.topic} at {timestamp_ns} ns: message does not deserialize '
                       f'({type(e).__name__}: {str(e)[:120]})') from e
