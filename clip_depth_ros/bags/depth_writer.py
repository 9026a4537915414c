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

from dataclasses import dataclass, field
import logging
from pathlib import Path
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from clip_depth_ros.bags.reader import (BagError, CAMERA_INFO, CameraInfos, CLOUD, COMPRESSED,
                                        decode_image, deserialize, IMAGE, image_namespace,
                                        messages, os_reason, reading, stamp_ns, storage_errors,
                                        verify_bag)
from clip_depth_ros.bags.references import BagReferences
from clip_depth_ros.config import AnchorConfig
from clip_depth_ros.engine.output_files import building, check_output
from clip_depth_ros.frames.limits import DEFAULT_LIMITS, FrameLimits, FrameRejected
from clip_depth_ros.frames.rectify import CameraModels
from clip_depth_ros.serving.frame_path import (CANONICAL_FALLBACK, decode_for_model,
                                               read_intrinsics, usable_intrinsics)
from clip_depth_ros.serving.messages import (camera_info_message, cloud_message, depth_message,
                                             MessageTypes)
from clip_depth_ros.serving.pipeline import depth_and_cloud
import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class BagSummary:
    frames: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)
    # (topic, kind) -> (count, first message): why frames were skipped
    skip_reasons: Dict[Tuple[str, str], Tuple[int, str]] = field(default_factory=dict)
    written: Dict[str, int] = field(default_factory=dict)
    no_camera_info: List[str] = field(default_factory=list)
    # topic -> (frames, first message): frames whose camera_info could not be used
    camera_info_problems: Dict[str, Tuple[int, str]] = field(default_factory=dict)
    # camera_info topic -> what rectification did (auto: rectifying, not needed; off)
    rectify: Dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # image topic -> (frames corrected, frames left as predicted) by scale anchoring
    anchored: Dict[str, Tuple[int, int]] = field(default_factory=dict)

    def camera_info_problem(self, topic: str, message: str) -> None:
        """Count a frame of `topic` whose camera_info is unusable; say it once per topic."""
        count, first = self.camera_info_problems.get(topic, (0, message[:200]))
        if count == 0:
            logger.warning('%s', message)
        self.camera_info_problems[topic] = (count + 1, first)

    def skip(self, topic: str, kind: str, message: str) -> None:
        self.skipped[topic] = self.skipped.get(topic, 0) + 1
        count, first = self.skip_reasons.get((topic, kind), (0, message[:200]))
        self.skip_reasons[(topic, kind)] = (count + 1, first)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def process_bag(input_path: Path, output_path: Path, estimator,
                image_topics: Sequence[str] = (), points: bool = True,
                colorize_points: bool = True, max_range_m: float = 1e9,
                storage: Optional[str] = None, rectify: str = 'auto',
                progress: Optional[Callable[[int], Callable[[], None]]] = None,
                limits: FrameLimits = DEFAULT_LIMITS, verify: bool = True,
                reference_topic: str = '', anchor: Optional[AnchorConfig] = None) -> BagSummary:
    """
    Copy `input_path` to `output_path` adding depth, depth camera_info and points.

    With `reference_topic` (a registered depth Image, a PointCloud2 or a LaserScan), each
    frame's depth is anchored to the reference nearest its stamp, as the node anchors it
    (`anchor`: the fit, tolerance and smoothing; its mode follows the topic's type).

    `estimator` is a DepthEstimator (or anything with `predict`, like OnnxDepthEstimator).
    `rectify` is the node's: auto rectifies frames whose camera_info has distortion and
    writes depth, camera_info (D = 0, K = P) and points in the rectified geometry.
    The input is only ever opened read-only. The output is written inside a fresh directory
    made by mkdtemp beside it (a name no input can have), under its final name, then renamed
    into place; on any failure only that directory is removed.
    """
    from rosbags.rosbag2 import Reader, StoragePlugin
    from rosbags.typesys import get_typestore, Stores

    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise BagError(f'{input_path}: no such bag')
    check_output(output_path, [input_path], overwrite=None)  # not inside the input, not over
    if verify:  # False only when the caller has just run verify_bag itself
        verify_bag(input_path)
    typestore = get_typestore(Stores.ROS2_JAZZY)
    summary = BagSummary()
    start = time.perf_counter()
    with building(output_path) as target:  # renamed into place only when complete
        with reading(input_path):
            reader = Reader(input_path)
            reader.open()
        try:
            plugin = storage or ('mcap' if _is_mcap(input_path) else 'sqlite3')
            plugin_enum = StoragePlugin.MCAP if plugin == 'mcap' else StoragePlugin.SQLITE3
            images = _image_connections(reader, image_topics, input_path)
            if reference_topic:  # a depth reference is an Image too, but not a camera
                images = [c for c in images if c.topic != reference_topic]
                if not images:
                    raise BagError(f'{input_path}: no image topic besides the reference '
                                   f'{reference_topic}')
            infos = _read_camera_infos(reader, typestore, images, input_path)
            for conn in images:
                if not _has_info(infos, conn):
                    summary.no_camera_info.append(conn.topic)
                    logger.warning('%s: no camera_info on %s for %s: depth written, '
                                   'depth/camera_info and points omitted', input_path,
                                   _info_topic(conn), conn.topic)
            out = _Output(target, output_path, plugin_enum)
            copies = {c.id: out.call(_copy_connection, c, typestore)
                      for c in reader.connections}
            outputs = _add_outputs(out, typestore, images, points, infos)
            models = {topic: CameraModels(rectify) for topic in infos}
            tick = progress(sum(c.msgcount for c in images)) if progress else None
            refs = None
            if reference_topic:  # scale anchoring: frames wait for their reference's turn
                refs = BagReferences(reader, typestore, reference_topic, anchor or
                                     AnchorConfig(), [c.topic for c in images], input_path,
                                     limits.max_pixels)

            def run(conn, timestamp, raw) -> None:
                _process_image(typestore, out, outputs[conn.id], conn, timestamp, raw,
                               infos, models, estimator, points, colorize_points,
                               max_range_m, summary, limits, input_path, refs)
                if tick:
                    tick()
            for conn, timestamp, raw in messages(reader, input_path):
                out.write(copies[conn.id], timestamp, raw)
                if refs is not None and refs.is_reference(conn):
                    for item in refs.add(conn, timestamp, raw):
                        run(*item)
                if conn.id not in outputs:
                    continue
                if refs is None or refs.ready(conn, raw, timestamp):
                    run(conn, timestamp, raw)
            for item in refs.drain() if refs is not None else ():
                run(*item)
            if refs is not None:
                summary.anchored = refs.counts()
            out.close()
        finally:
            reader.close()
    summary.seconds = time.perf_counter() - start
    return summary


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
        except storage_errors() as e:
            raise BagError(f'{self.final}: cannot write bag: {os_reason(e)}') from e

    def add_connection(self, *args, **kwargs):
        return self.call(lambda w: w.add_connection(*args, **kwargs))

    def write(self, *args) -> None:
        self.call(lambda w: w.write(*args))

    def close(self) -> None:
        self.call(lambda w: w.close())


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


def _info_topic(conn) -> str:
    return image_namespace(conn.topic, conn.msgtype) + '/camera_info'


def _has_info(infos: Dict[str, 'CameraInfos'], conn) -> bool:
    found = infos.get(_info_topic(conn))
    return found is not None and bool(found.msgs)


def _read_camera_infos(reader, typestore, images, input_path: Path) -> Dict[str, CameraInfos]:
    wanted = {_info_topic(c) for c in images}
    conns = [c for c in reader.connections if c.topic in wanted and c.msgtype == CAMERA_INFO]
    infos: Dict[str, CameraInfos] = {topic: CameraInfos() for topic in wanted}
    if not conns:  # messages(connections=[]) would mean every connection
        return infos
    for conn, _, raw in messages(reader, input_path, connections=conns):
        with reading(input_path):
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
                 infos: Dict[str, CameraInfos]):
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


def _process_image(typestore, writer, out, conn, timestamp, raw, infos, models, estimator,
                   points: bool, colorize: bool, max_range_m: float,
                   summary: BagSummary, limits: FrameLimits, bag: Path, refs=None) -> None:
    msg = deserialize(typestore, raw, conn, bag, timestamp)
    try:
        rgb = decode_for_model(lambda: decode_image(msg, conn.msgtype, limits), estimator)
    except FrameRejected as e:  # as the node: skip the frame, count it by kind
        summary.skip(conn.topic, f'image.{e.kind}', str(e))
        return
    header = msg.header
    info_topic = out['ns'] + '/camera_info'
    info = infos.get(info_topic)
    info = info.for_stamp(stamp_ns(header)) if info else None
    intr, info_fields = None, None
    if info is not None:
        # The node's camera step: a checked camera model, the frame rectified when it asks.
        model, error = usable_intrinsics(*read_intrinsics(lambda: models[info_topic].get(info)),
                                         rgb.shape[1], rgb.shape[0])
        if model is None:
            summary.camera_info_problem(conn.topic, f'{info_topic}: {error}: '
                                        f'{CANONICAL_FALLBACK}')
        else:
            rgb = model.rectify(rgb)
            intr, info_fields = model.intrinsics, model.camera_info_fields(info)
            summary.rectify[info_topic] = model.state
    try:
        frame = depth_and_cloud(estimator, rgb, max_range_m, intr, colorize=colorize,
                                points=points and 'points' in out,
                                correct=refs.corrector(conn.topic, stamp_ns(header), intr)
                                if refs is not None else None)
    except (ValueError, RuntimeError) as e:  # the model's, not the bag's: say which frame
        raise BagError(f'{conn.topic} at {timestamp} ns: inference failed: {e}') from e

    def write(key: str, message, msgtype: str) -> None:
        writer.write(out[key], timestamp, typestore.serialize_cdr(message, msgtype))
        topic = out[key].topic
        summary.written[topic] = summary.written.get(topic, 0) + 1

    types = message_types(typestore)
    write('depth', depth_message(types, header, frame.depth_m, _as_bytes), IMAGE)
    summary.frames += 1
    if intr is None or 'info' not in out:
        return
    write('info', camera_info_message(types, header, info_fields), CAMERA_INFO)
    if frame.cloud is not None:
        write('points', cloud_message(types, header, np.frombuffer(frame.cloud, np.uint8),
                                      frame.cloud_height, frame.cloud_width, frame.cloud_rgb),
              CLOUD)


def message_types(typestore) -> MessageTypes:
    """Return rosbags' sensor_msgs classes, for the shared message builders."""
    types = typestore.types
    return MessageTypes(types[IMAGE], types[CAMERA_INFO], types[CLOUD],
                        types['sensor_msgs/msg/PointField'])


def _as_bytes(values: np.ndarray) -> np.ndarray:
    return np.frombuffer(np.ascontiguousarray(values).tobytes(), np.uint8)
