# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Offline depth for recorded rosbag2 bags (MCAP or sqlite3), with no ROS install.

Uses the `rosbags` library for reading and writing and the same pixel, geometry and cloud code
as the node, so a bag processed here holds what the node would have published: depth under
`<image namespace>/depth/image`, `/depth/camera_info` and `/depth/points`, with the image's
header. The output is written to a hidden directory beside it and renamed when complete.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
import os
from pathlib import Path
import shutil
import time
from typing import Callable, Dict, List, Optional, Sequence

from clip_depth_ros import geometry, pixels
from clip_depth_ros.pipeline import depth_and_cloud
import numpy as np

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
    written: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

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
                progress: Optional[Callable[[int], Callable[[], None]]] = None) -> BagSummary:
    """
    Copy `input_path` to `output_path` adding depth, depth camera_info and points.

    `estimator` is a DepthEstimator (or anything with `predict`, like OnnxDepthEstimator).
    """
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores

    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.exists():
        raise BagError(f'{output_path}: already exists; refusing to overwrite it')
    if output_path.resolve() == input_path.resolve():
        raise BagError(f'{output_path}: output must differ from the input')
    typestore = get_typestore(Stores.ROS2_JAZZY)
    tmp = output_path.parent / f'.{output_path.name}.partial'
    if tmp.exists():
        shutil.rmtree(tmp)  # left by a run that was killed: ours, and never the output
    summary = BagSummary()
    start = time.perf_counter()
    try:
        with Reader(input_path) as reader:
            plugin = storage or ('mcap' if _is_mcap(input_path) else 'sqlite3')
            plugin_enum = StoragePlugin.MCAP if plugin == 'mcap' else StoragePlugin.SQLITE3
            images = _image_connections(reader, image_topics, input_path)
            infos = _read_camera_infos(reader, typestore, images)
            with Writer(tmp, version=9, storage_plugin=plugin_enum) as writer:
                copies = {c.id: _copy_connection(writer, c, typestore) for c in reader.connections}
                outputs = _add_outputs(writer, typestore, images, points)
                tick = progress(sum(c.msgcount for c in images)) if progress else None
                for conn, timestamp, raw in reader.messages():
                    writer.write(copies[conn.id], timestamp, raw)
                    if conn.id not in outputs:
                        continue
                    _process_image(typestore, writer, outputs[conn.id], conn, timestamp, raw,
                                   infos, estimator, points, colorize_points, max_range_m,
                                   summary)
                    if tick:
                        tick()
        os.rename(tmp, output_path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, (KeyboardInterrupt, BagError)):
            raise
        from rosbags.rosbag2 import ReaderError, WriterError
        if isinstance(e, ReaderError):
            raise BagError(f'{input_path}: corrupt or unreadable bag: {e}') from e
        if isinstance(e, WriterError):
            raise BagError(f'{output_path}: cannot write bag: {e}') from e
        if isinstance(e, (ValueError, KeyError, IndexError, EOFError, AssertionError)):
            # rosbags raises these for truncated chunks and undecodable records.
            raise BagError(f'{input_path}: corrupt or truncated bag: '
                           f'{type(e).__name__}: {e}') from e
        raise
    summary.seconds = time.perf_counter() - start
    return summary


def _is_mcap(path: Path) -> bool:
    return any(p.suffix == '.mcap' for p in Path(path).glob('*')) or Path(path).suffix == '.mcap'


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


def _read_camera_infos(reader, typestore, images) -> Dict[str, _CameraInfos]:
    wanted = {image_namespace(c.topic, c.msgtype) + '/camera_info' for c in images}
    conns = [c for c in reader.connections if c.topic in wanted and c.msgtype == CAMERA_INFO]
    infos: Dict[str, _CameraInfos] = {topic: _CameraInfos() for topic in wanted}
    for conn, _, raw in reader.messages(connections=conns):
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


def _add_outputs(writer, typestore, images, points: bool):
    outputs = {}
    for conn in images:
        ns = image_namespace(conn.topic, conn.msgtype)
        out = {'depth': writer.add_connection(f'{ns}/depth/image', IMAGE, typestore=typestore),
               'info': writer.add_connection(f'{ns}/depth/camera_info', CAMERA_INFO,
                                             typestore=typestore),
               'ns': ns}
        if points:
            out['points'] = writer.add_connection(f'{ns}/depth/points', CLOUD,
                                                  typestore=typestore)
        outputs[conn.id] = out
    return outputs


def _decode(msg, msgtype: str) -> np.ndarray:
    if msgtype == COMPRESSED:
        return pixels.compressed_to_rgb(msg.data.tobytes(), msg.format)
    return pixels.raw_to_rgb(msg.data.tobytes(), msg.encoding, msg.width, msg.height, msg.step,
                             bool(msg.is_bigendian))


def _process_image(typestore, writer, out, conn, timestamp, raw, infos, estimator,
                   points: bool, colorize: bool, max_range_m: float,
                   summary: BagSummary) -> None:
    types = typestore.types
    msg = typestore.deserialize_cdr(raw, conn.msgtype)
    try:
        rgb = _decode(msg, conn.msgtype)
    except ValueError:  # UnsupportedEncoding, MalformedImage: skip the frame, count it
        summary.skipped[conn.topic] = summary.skipped.get(conn.topic, 0) + 1
        return
    header = msg.header
    info = infos.get(out['ns'] + '/camera_info')
    info = info.for_stamp(_stamp_ns(header)) if info else None
    intr = None
    if info is not None:
        try:
            intr = geometry.Intrinsics.from_camera_info(info.k, info.p, info.width, info.height)
            intr.check_image_size(rgb.shape[1], rgb.shape[0])
        except geometry.InvalidIntrinsics:
            intr = None
    try:
        frame = depth_and_cloud(estimator, rgb, max_range_m, intr if points else None,
                                colorize=colorize)
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
    if frame.cloud is None:
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
