# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth node's scale-anchoring inputs: one reference subscription per camera, when enabled.

Messages become `serving.anchoring.Reference`s here (depth images with their camera_info,
PointCloud2 and LaserScan moved into the camera's optical frame by the static extrinsic, or by
TF where tf2_ros is installed); the matching, fit and smoothing are `serving.anchoring`'s.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from clip_depth_ros.config import AnchorConfig, ConfigError
from clip_depth_ros.frames import anchoring
from clip_depth_ros.frames.geometry import Intrinsics, InvalidIntrinsics
from clip_depth_ros.frames.pixels import depth_to_metres
from clip_depth_ros.serving.anchoring import CameraAnchor, points_reference, Reference
from clip_depth_ros.serving.camera_stream import WARN
import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2


def stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def info_topic_of(image_topic: str) -> str:
    """Name the camera_info beside an image topic, as image_transport does."""
    return image_topic.rsplit('/', 1)[0] + '/camera_info' if '/' in image_topic \
        else 'camera_info'


class ReferenceInputs:
    """Each camera's CameraAnchor and the subscriptions that feed it."""

    def __init__(self, node: Any, config: AnchorConfig, cameras: List[Any],
                 max_pixels: int) -> None:
        self.node, self.config, self.max_pixels = node, config, max_pixels
        self.anchors: Dict[str, CameraAnchor] = {cam.name: CameraAnchor(config)
                                                 for cam in cameras}
        self.extrinsic = anchoring.Extrinsic.from_values(config.extrinsic)
        self.topics: Dict[str, str] = {}
        if config.mode != 'off':
            for cam in cameras:
                relative = config.topic if not cam.name or config.topic.startswith('/') \
                    else f'{cam.name}/{config.topic}'
                try:
                    self.topics[cam.name] = node.resolve_topic_name(relative)
                except RuntimeError as e:  # rcl's RCLError: not a valid topic name
                    raise ConfigError(f'anchor_topic: {relative!r} is not a valid topic name '
                                      f'({str(e).split(", at ")[0]})') from None
        self._cams = {cam.name: cam for cam in cameras}
        self._frame_ids: Dict[str, str] = {}  # each camera's image frame (for TF)
        self._subs: Dict[Tuple[str, str], Tuple[Any, ReliabilityPolicy]] = {}
        self._depth_info: Dict[str, Optional[Intrinsics]] = {}
        self._tf = self._tf_listener = None

    @property
    def enabled(self) -> bool:
        return self.config.mode != 'off'

    # -- subscriptions -------------------------------------------------------------------
    def start(self, choose: Callable[[List[ReliabilityPolicy]], ReliabilityPolicy]) -> None:
        """
        Subscribe each camera's reference.

        QoS: `choose` (the images' rule) applied to the publishers present now; with none yet,
        best effort, which matches any publisher. `recheck` follows publishers that appear
        later, as the images' subscriptions do.
        """
        if not self.enabled:
            return
        if self.config.use_tf and self._tf is None:
            self._tf, self._tf_listener = _tf_listener(self.node)
        kinds = ('reference', 'camera_info') if self.config.mode == 'depth' else ('reference',)
        for name in self.topics:
            for kind in kinds:
                self._subscribe(name, kind, choose(self._offered(name, kind)))

    def _topic(self, name: str, kind: str) -> str:
        return self.topics[name] if kind == 'reference' else info_topic_of(self.topics[name])

    def _offered(self, name: str, kind: str) -> List[ReliabilityPolicy]:
        known = (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT)
        return [i.qos_profile.reliability for i in
                self.node.get_publishers_info_by_topic(self._topic(name, kind))
                if i.qos_profile.reliability in known]

    def _subscribe(self, name: str, kind: str, reliability: ReliabilityPolicy) -> None:
        old = self._subs.pop((name, kind), None)
        if old is not None:
            self.node.destroy_subscription(old[0])
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=reliability)
        handlers = {'depth': (Image, self._on_depth), 'points': (PointCloud2, self._on_points),
                    'scan': (LaserScan, self._on_scan)}
        msg_type, handler = (CameraInfo, self._on_depth_info) if kind == 'camera_info' \
            else handlers[self.config.mode]
        sub = self.node.create_subscription(msg_type, self._topic(name, kind),
                                            lambda m, n=name, h=handler: h(n, m), qos)
        self._subs[(name, kind)] = (sub, reliability)

    def recheck(self, choose: Callable[[List[ReliabilityPolicy]], ReliabilityPolicy]) -> None:
        """Follow the publishers' reliability when they appear or change (the QoS timer)."""
        for (name, kind), (_, current) in list(self._subs.items()):
            offered = self._offered(name, kind)
            if offered and choose(offered) != current:
                self._subscribe(name, kind, choose(offered))

    def reliability(self) -> Dict[Tuple[str, str], ReliabilityPolicy]:
        """{(camera, 'reference' | 'camera_info'): reliability} as subscribed now."""
        return {key: rel for key, (_, rel) in list(self._subs.items())}

    def stop(self) -> None:
        for sub, _ in self._subs.values():
            self.node.destroy_subscription(sub)
        self._subs = {}

    # -- messages -> references ----------------------------------------------------------
    def _problem(self, name: str, message: str) -> None:
        self._cams[name].report('anchor.input', message)

    def _on_depth_info(self, name: str, msg: CameraInfo) -> None:
        try:
            self._depth_info[name] = Intrinsics.from_camera_info_msg(msg)
        except InvalidIntrinsics as e:
            self._depth_info[name] = None
            self._problem(name, f'{info_topic_of(self.topics[name])}: {e}')

    def _on_depth(self, name: str, msg: Image) -> None:
        topic = self.topics[name]
        if msg.width * msg.height > self.max_pixels:
            self._problem(name, f'dropping a reference on {topic}: {msg.width}x{msg.height} is '
                          f'over the pixel limit')
            return
        try:
            depth = depth_to_metres(memoryview(msg.data).cast('B'), msg.encoding, msg.width,
                                    msg.height, msg.step, bool(msg.is_bigendian))
        except ValueError as e:
            self._problem(name, f'dropping a reference on {topic}: {e}')
            return
        intr = self._depth_info.get(name)
        if intr is not None and (intr.width, intr.height) != (msg.width, msg.height):
            intr = None  # stale info of another size: assume the camera's, as when none came
        self.anchors[name].add(Reference(stamp_ns(msg.header), depth_m=depth, depth_intr=intr))

    def _on_points(self, name: str, msg: PointCloud2) -> None:
        try:
            xyz = anchoring.cloud_points(msg)
        except ValueError as e:
            self._problem(name, f'dropping a reference on {self.topics[name]}: {e}')
            return
        self._add_points(name, msg.header, xyz)

    def _on_scan(self, name: str, msg: LaserScan) -> None:
        xyz = anchoring.scan_points(msg.ranges, msg.angle_min, msg.angle_increment,
                                    msg.range_min, msg.range_max)
        self._add_points(name, msg.header, xyz)

    def _add_points(self, name: str, header: Any, xyz: np.ndarray) -> None:
        extrinsic = self.extrinsic
        if self.config.use_tf:
            extrinsic = self._tf_extrinsic(name, header)
            if extrinsic is None:
                return
        self.anchors[name].add(points_reference(stamp_ns(header), xyz, extrinsic,
                                                self.config.max_points))

    def _tf_extrinsic(self, name: str, header: Any) -> Optional[anchoring.Extrinsic]:
        """Look up reference frame -> image frame in TF (thin: runs on a real ROS install)."""
        if self._tf is None:
            self._problem(name, 'anchor_use_tf: tf2_ros is not installed; set anchor_extrinsic')
            return None
        target = self._frame_ids.get(name, '')
        if not target:
            return None  # no image yet: its frame is unknown
        try:
            t = self._tf.lookup_transform(target, header.frame_id, _time_zero())
        except Exception as e:  # tf2's LookupException, ExtrapolationException, ...
            self._problem(name, f'anchor_use_tf: no transform {header.frame_id} -> {target}: '
                          f'{type(e).__name__}')
            return None
        tr, q = t.transform.translation, t.transform.rotation
        return anchoring.Extrinsic.from_values((tr.x, tr.y, tr.z, q.x, q.y, q.z, q.w))

    # -- the inference thread's hook and /diagnostics --------------------------------------
    def corrector(self, name: str, header: Any, intr: Optional[Intrinsics]):
        """Return the depth corrector of a frame of camera `name` (None when off)."""
        self._frame_ids[name] = header.frame_id
        return self.anchors[name].corrector(stamp_ns(header), intr)

    def judge(self, name: str, level: int, message: str,
              values: Dict[str, str]) -> Tuple[int, str]:
        """Add the anchor's values to a camera's status; WARN while it is not correcting."""
        anchor = self.anchors[name]
        values.update(anchor.values())
        if self.enabled:
            values['anchor_topic'] = self.topics[name]
        if anchor.healthy or anchor.frames_corrected + anchor.frames_uncorrected == 0:
            return level, message
        note = f'scale anchoring: {anchor.state}'
        return max(level, WARN), note if message in ('running', '') else f'{message}; {note}'


def _tf_listener(node: Any) -> Tuple[Any, Any]:
    """(buffer, listener) of tf2_ros, or (None, None) where it is not installed."""
    try:
        import tf2_ros
    except ImportError:
        return None, None
    buffer = tf2_ros.Buffer()
    return buffer, tf2_ros.TransformListener(buffer, node)


def _time_zero():
    from rclpy.time import Time
    return Time()
