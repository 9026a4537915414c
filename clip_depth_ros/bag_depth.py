# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Offline depth for recorded rosbag2 bags (MCAP or sqlite3), with no ROS install.

Uses the `rosbags` library for reading and writing and the same pixel, geometry and cloud code
as the node, so a bag processed here holds what the node would have published: depth under
`<image namespace>/depth/image`, `/depth/camera_info` and `/depth/points`, with the image's
header. Image topics without camera_info get depth only (as the node does), with a warning.
The input is verified first (MCAP CRCs, sqlite3 structure) and never written; the output is
written inside a fresh hidden directory beside it and renamed into place when complete.
"""

from __future__ import annotations

import bisect
import contextlib
from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import shutil
import struct
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple
import zlib

from clip_depth_ros import geometry, pixels
from clip_depth_ros.frame_limits import DEFAULT_LIMITS, FrameLimits, FrameRejected
from clip_depth_ros.pipeline import depth_and_cloud
import numpy as np

logger = logging.getLogger(__name__)

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
CLOUD = 'sensor_msgs/msg/PointCloud2'


class BagError(RuntimeError):
    """A bag cannot be read, or the output cannot be written; the message names the bag."""


@dataclass
class BagSummary:
    frames: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)
    # (topic, kind) -> (count, first message): why frames were skipped
    skip_reasons: Dict[Tuple[str, str], Tuple[int, str]] = field(default_factory=dict)
    written: Dict[str, int] = field(default_factory=dict)
    no_camera_info: List[str] = field(default_factory=list)
    seconds: float = 0.0

    def skip(self, topic: str, kind: str, message: str) -> None:
        self.skipped[topic] = self.skipped.get(topic, 0) + 1
        count, first = self.skip_reasons.get((topic, kind), (0, message[:200]))
        self.skip_reasons[(topic, kind)] = (count + 1, first)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def image_namespace(topic: str, msgtype: str) -> str:
    """'/cam/image_raw' -> '/cam'; '/cam/image_raw/compressed' -> '/cam'; '/image' -> ''."""
    base = topic
    if msgtype == COMPRESSED and base.endswith('/compressed'):
        base = base[:-len('/compressed')]
    return base.rsplit('/', 1)[0]


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class _CameraInfos:
    """camera_info messages of one topic; the one for an image is the exact stamp, else latest."""

    def __init__(self) -> None:
        self.stamps: List[int] = []
        self.msgs: List[object] = []

    def add(self, msg) -> None:
        stamp = _stamp_ns(msg.header)
        i = bisect.bisect_right(self.stamps, stamp)
        self.stamps.insert(i, stamp)
        self.msgs.insert(i, msg)

    def for_stamp(self, stamp: int):
        if not self.msgs:
            return None
        i = bisect.bisect_right(self.stamps, stamp)
        return self.msgs[max(i - 1, 0)]


def process_bag(input_path: Path, output_path: Path, estimator,
                image_topics: Sequence[str] = (), points: bool = True,
                colorize_points: bool = True, max_range_m: float = 1e9,
                storage: Optional[str] = None,
                progress: Optional[Callable[[int], Callable[[], None]]] = None,
                limits: FrameLimits = DEFAULT_LIMITS, verify: bool = True) -> BagSummary:
    """
    Copy `input_path` to `output_path` adding depth, depth camera_info and points.

    `estimator` is a DepthEstimator (or anything with `predict`, like OnnxDepthEstimator).
    The input is only ever opened read-only. The output is written inside a fresh directory
    made by mkdtemp beside it (a name no input can have), under its final name, then renamed
    into place; on any failure only that directory is removed.
    """
    from rosbags.rosbag2 import Reader, StoragePlugin
    from rosbags.typesys import get_typestore, Stores

    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise BagError(f'{input_path}: no such bag')
    if output_path.exists() or output_path.is_symlink():
        raise BagError(f'{output_path}: already exists; refusing to overwrite it')
    if output_path.resolve() == input_path.resolve():
        raise BagError(f'{output_path}: output must differ from the input')
    if verify:  # False only when the caller has just run verify_bag itself
        verify_bag(input_path)
    typestore = get_typestore(Stores.ROS2_JAZZY)
    try:
        work = Path(tempfile.mkdtemp(dir=output_path.parent, prefix=f'.{output_path.name}.',
                                     suffix='.partial'))
    except OSError as e:
        raise BagError(f'{output_path}: cannot create the output: {_os_reason(e)}') from e
    summary = BagSummary()
    start = time.perf_counter()
    try:
        with _reading(input_path):
            reader = Reader(input_path)
            reader.open()
        try:
            plugin = storage or ('mcap' if _is_mcap(input_path) else 'sqlite3')
            plugin_enum = StoragePlugin.MCAP if plugin == 'mcap' else StoragePlugin.SQLITE3
            images = _image_connections(reader, image_topics, input_path)
            infos = _read_camera_infos(reader, typestore, images, input_path)
            for conn in images:
                if not _has_info(infos, conn):
                    summary.no_camera_info.append(conn.topic)
                    logger.warning('%s: no camera_info on %s for %s: depth written, '
                                   'depth/camera_info and points omitted', input_path,
                                   _info_topic(conn), conn.topic)
            out = _Output(work / output_path.name, output_path, plugin_enum)
            copies = {c.id: out.call(_copy_connection, c, typestore)
                      for c in reader.connections}
            outputs = _add_outputs(out, typestore, images, points, infos)
            tick = progress(sum(c.msgcount for c in images)) if progress else None
            for conn, timestamp, raw in _messages(reader, input_path):
                out.write(copies[conn.id], timestamp, raw)
                if conn.id not in outputs:
                    continue
                _process_image(typestore, out, outputs[conn.id], conn, timestamp, raw,
                               infos, estimator, points, colorize_points, max_range_m,
                               summary, limits)
                if tick:
                    tick()
            out.close()
        finally:
            reader.close()
        if output_path.exists() or output_path.is_symlink():  # appeared while we worked
            raise BagError(f'{output_path}: appeared while the bag was being written; '
                           f'refusing to overwrite it')
        os.rename(work / output_path.name, output_path)
        os.rmdir(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # ours: made by mkdtemp above
        raise
    summary.seconds = time.perf_counter() - start
    return summary


def _os_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f'{type(e).__name__}: {e}'


def _storage_errors():
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
def _reading(input_path: Path):
    """Failures of the reader are the input's: name it."""
    try:
        yield
    except BagError:
        raise
    except _storage_errors() as e:
        raise BagError(f'{input_path}: corrupt or unreadable bag: {_os_reason(e)}') from e


def _messages(reader, input_path: Path, **kwargs):
    """reader.messages(), with the reader's failures named as the input's."""
    it = iter(reader.messages(**kwargs))
    while True:
        with _reading(input_path):
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


class _Output:
    """The rosbags Writer, with every failure (a full disk included) naming the output."""

    def __init__(self, path: Path, final: Path, plugin) -> None:
        from rosbags.rosbag2 import Writer
        self.final = final
        self.writer = Writer(path, version=9, storage_plugin=plugin)
        self.call(lambda w: w.open())

    def call(self, func, *args, **kwargs):
        try:
            return func(self.writer, *args, **kwargs)
        except _storage_errors() as e:
            raise BagError(f'{self.final}: cannot write bag: {_os_reason(e)}') from e

    def add_connection(self, *args, **kwargs):
        return self.call(lambda w: w.add_connection(*args, **kwargs))

    def write(self, *args) -> None:
        self.call(lambda w: w.write(*args))

    def close(self) -> None:
        self.call(lambda w: w.close())


def _is_mcap(path: Path) -> bool:
    return any(p.suffix == '.mcap' for p in Path(path).glob('*')) or Path(path).suffix == '.mcap'


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


def _image_connections(reader, image_topics: Sequence[str], input_path: Path):
    candidates = [c for c in reader.connections if c.msgtype in (IMAGE, COMPRESSED)]
    if image_topics:
        chosen = [c for c in candidates if c.topic in image_topics]
        missing = set(image_topics) - {c.topic for c in chosen}
        if missing:
            raise BagError(f'{input_path}: no Image/CompressedImage topic named '
                           f'{", ".join(sorted(missing))}; image topics in the bag: '
                           f'{", ".join(sorted({c.topic for c in candidates})) or "none"}')
        return chosen
    # Every image topic, except depth images we (or another node) already produced.
    chosen = [c for c in candidates if not c.topic.endswith(('/depth/image', '/depth/colormap'))]
    if not chosen:
        raise BagError(f'{input_path}: holds no sensor_msgs/Image or CompressedImage topic')
    return chosen


def _info_topic(conn) -> str:
    return image_namespace(conn.topic, conn.msgtype) + '/camera_info'


def _has_info(infos: Dict[str, '_CameraInfos'], conn) -> bool:
    found = infos.get(_info_topic(conn))
    return found is not None and bool(found.msgs)


def _read_camera_infos(reader, typestore, images, input_path: Path) -> Dict[str, _CameraInfos]:
    wanted = {_info_topic(c) for c in images}
    conns = [c for c in reader.connections if c.topic in wanted and c.msgtype == CAMERA_INFO]
    infos: Dict[str, _CameraInfos] = {topic: _CameraInfos() for topic in wanted}
    if not conns:  # messages(connections=[]) would mean every connection
        return infos
    for conn, _, raw in _messages(reader, input_path, connections=conns):
        with _reading(input_path):
            infos[conn.topic].add(typestore.deserialize_cdr(raw, conn.msgtype))
    return infos


def _copy_connection(writer, conn, typestore):
    ext = conn.ext
    if conn.msgdef.data and conn.digest:
        return writer.add_connection(conn.topic, conn.msgtype, msgdef=conn.msgdef.data,
                                     rihs01=conn.digest,
                                     serialization_format=ext.serialization_format,
                                     offered_qos_profiles=ext.offered_qos_profiles)
    return writer.add_connection(conn.topic, conn.msgtype, typestore=typestore,
                                 serialization_format=ext.serialization_format,
                                 offered_qos_profiles=ext.offered_qos_profiles)


def _add_outputs(out: '_Output', typestore, images, points: bool,
                 infos: Dict[str, _CameraInfos]):
    """Output connections per image topic; without camera_info, depth only."""
    outputs = {}
    for conn in images:
        ns = image_namespace(conn.topic, conn.msgtype)
        outputs[conn.id] = entry = {'ns': ns, 'depth': out.add_connection(
            f'{ns}/depth/image', IMAGE, typestore=typestore)}
        if not _has_info(infos, conn):
            continue
        entry['info'] = out.add_connection(f'{ns}/depth/camera_info', CAMERA_INFO,
                                           typestore=typestore)
        if points:
            entry['points'] = out.add_connection(f'{ns}/depth/points', CLOUD,
                                                 typestore=typestore)
    return outputs


def _decode(msg, msgtype: str, limits: FrameLimits) -> np.ndarray:
    if msgtype == COMPRESSED:
        return pixels.compressed_to_rgb(msg.data.tobytes(), msg.format, limits)
    return pixels.raw_to_rgb(msg.data.tobytes(), msg.encoding, msg.width, msg.height, msg.step,
                             bool(msg.is_bigendian), limits)


def _process_image(typestore, writer, out, conn, timestamp, raw, infos, estimator,
                   points: bool, colorize: bool, max_range_m: float,
                   summary: BagSummary, limits: FrameLimits) -> None:
    types = typestore.types
    try:
        msg = typestore.deserialize_cdr(raw, conn.msgtype)
    except Exception as e:  # a message that does not parse is a damaged bag
        raise BagError(f'{conn.topic} at {timestamp} ns: message does not deserialize '
                       f'({type(e).__name__}: {str(e)[:120]})') from e
    try:
        rgb = _decode(msg, conn.msgtype, limits)
    except FrameRejected as e:  # refused or undecodable: skip the frame, count it by kind
        summary.skip(conn.topic, e.kind, str(e))
        return
    header = msg.header
    info = infos.get(out['ns'] + '/camera_info')
    info = info.for_stamp(_stamp_ns(header)) if info else None
    intr = None
    if info is not None and 'info' in out:
        try:
            intr = geometry.Intrinsics.from_camera_info_msg(info)
            intr.check_image_size(rgb.shape[1], rgb.shape[0])
        except geometry.InvalidIntrinsics:
            intr = None
    try:
        # Without points the cloud is not computed, but the camera's focal length still
        # scales the depth (intr has the frame's own size: check_image_size passed).
        frame = depth_and_cloud(estimator, rgb, max_range_m, intr if points else None,
                                colorize=colorize,
                                focal_px=intr.fx if intr is not None and not points else None)
    except (ValueError, RuntimeError) as e:  # the model's, not the bag's: say which frame
        raise BagError(f'{conn.topic} at {timestamp} ns: inference failed: {e}') from e
    depth = frame.depth_m
    h, w = depth.shape
    big_endian = not np.little_endian

    def write(key: str, message, msgtype: str) -> None:
        writer.write(out[key], timestamp, typestore.serialize_cdr(message, msgtype))
        topic = out[key].topic
        summary.written[topic] = summary.written.get(topic, 0) + 1

    write('depth', types[IMAGE](header=header, height=h, width=w, encoding='32FC1',
                                is_bigendian=int(big_endian), step=w * 4,
                                data=np.frombuffer(depth.astype(np.float32).tobytes(),
                                                   np.uint8)), IMAGE)
    summary.frames += 1
    if intr is None:
        return
    write('info', _with_header(types, info, header), CAMERA_INFO)
    if frame.cloud is None or 'points' not in out:
        return
    step = geometry.point_step(frame.cloud_rgb)
    field_type = types['sensor_msgs/msg/PointField']
    fields = [field_type(name=name, offset=offset, datatype=field_type.FLOAT32, count=1)
              for name, offset in geometry.cloud_layout(frame.cloud_rgb)]
    cloud = types[CLOUD](header=header, height=frame.cloud_height, width=frame.cloud_width,
                         fields=fields, is_bigendian=big_endian, point_step=step,
                         row_step=step * frame.cloud_width,
                         data=np.frombuffer(frame.cloud, np.uint8), is_dense=False)
    write('points', cloud, CLOUD)


def _with_header(types, info, header):
    return types[CAMERA_INFO](header=header,
                              **{f: getattr(info, f) for f in geometry.CAMERA_INFO_FIELDS})
