# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth node's QoS: its outputs' profile, and input subscriptions that follow their publishers.

`input_qos: auto` subscribes with the reliability the camera's publishers offer (as rosbag2
does) and re-subscribes when they change; the choice itself (`matching_reliability`) is a plain
function, tested without a graph.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from clip_depth_ros.serving.camera_stream import CameraStream
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

# Outputs: reliable so that RViz and `ros2 bag record` both receive them; small depth so that a
# slow subscriber never makes us buffer many large messages.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2,
                        reliability=ReliabilityPolicy.RELIABLE)
# `qos_overrides./<topic>.publisher.{reliability,depth,...}` parameters (set at start, as
# rclpy's own parameters) change the outputs' QoS where a consumer needs another.
OUTPUT_QOS_OVERRIDES = QoSOverridingOptions.with_default_policies()
QOS_NAMES = {ReliabilityPolicy.RELIABLE: 'reliable', ReliabilityPolicy.BEST_EFFORT: 'best_effort'}
# auto QoS: the graph is read again this often, and at once after a match or QoS mismatch.
QOS_RECHECK_S = 1.0


def matching_reliability(offered: List[ReliabilityPolicy]) -> ReliabilityPolicy:
    """
    Choose the reliability to request from publishers offering `offered`, as rosbag2 does.

    Reliable when every publisher is reliable (a best-effort reader of a reliable camera in
    another process loses most fragmented frames); best effort when any publisher is (a
    reliable reader would not match it) or none is known yet (best effort matches any).
    """
    if offered and all(r == ReliabilityPolicy.RELIABLE for r in offered):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


class InputSubscriptions:
    """
    Each camera's image and camera_info subscriptions, re-subscribed as `input_qos` asks.

    Subscriptions, the re-check timer and its guard change under one lock: transitions may be
    triggered from another thread (trigger_*) than the executor running `check`.
    """

    def __init__(self, node: Any, cameras: Sequence[CameraStream], mode: Callable[[], str],
                 on_image: Callable[[str, bytes], None],
                 on_info: Callable[[CameraStream, Any], None],
                 also_check: Callable[[], None] = lambda: None) -> None:
        self._node, self._cameras, self._mode = node, list(cameras), mode
        self._also_check = also_check  # other inputs following their publishers (anchoring)
        self._by_name = {cam.name: cam for cam in self._cameras}
        self._on_image, self._on_info = on_image, on_info
        self._subs: Dict[Tuple[str, str], Tuple[Any, ReliabilityPolicy]] = {}
        self.timer = None
        self._wake = None  # guard condition: a match or mismatch event asks for a re-check
        self._lock = threading.RLock()

    @staticmethod
    def topic(cam: CameraStream, kind: str) -> str:
        return cam.image_topic if kind == 'image' else cam.info_topic

    def start(self) -> None:
        """Subscribe every camera's inputs; under auto, start following their publishers."""
        with self._lock:
            for cam in self._cameras:
                for kind in ('image', 'camera_info'):
                    self._subscribe(cam, kind, self._wanted(cam, kind))
            if self._mode() == 'auto':  # fixed QoS: nothing to re-check
                self.timer = self._node.create_timer(QOS_RECHECK_S, self.check)
                self._wake = self._node.create_guard_condition(self.check)

    def stop(self) -> None:
        with self._lock:
            if self.timer is not None:
                self._node.destroy_timer(self.timer)
                self._node.destroy_guard_condition(self._wake)
                self.timer = self._wake = None
            for sub, _ in self._subs.values():
                self._node.destroy_subscription(sub)
            self._subs = {}

    def _wanted(self, cam: CameraStream, kind: str,
                current: Optional[ReliabilityPolicy] = None) -> ReliabilityPolicy:
        mode = self._mode()
        if mode == 'reliable':
            return ReliabilityPolicy.RELIABLE
        if mode == 'sensor_data':
            return ReliabilityPolicy.BEST_EFFORT
        # Only publishers whose reliability the graph already knows count: the graph can list a
        # publisher as UNKNOWN, or briefly none, while it runs; re-subscribing then would lose
        # frames of a camera that is still there, so `current` stays until the graph says more.
        offered = [info.qos_profile.reliability
                   for info in self._node.get_publishers_info_by_topic(self.topic(cam, kind))]
        offered = [r for r in offered
                   if r in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT)]
        if not offered and current is not None:
            return current
        return matching_reliability(offered)

    def _subscribe(self, cam: CameraStream, kind: str, reliability: ReliabilityPolicy) -> None:
        old = self._subs.pop((cam.name, kind), None)
        if old is not None:
            self._node.destroy_subscription(old[0])
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)
        events = SubscriptionEventCallbacks(matched=self._graph_changed,
                                            incompatible_qos=self._graph_changed)
        if kind == 'image':
            msg_type = CompressedImage if cam.config.transport == 'compressed' else Image
            sub = self._node.create_subscription(
                msg_type, cam.image_topic, lambda data, name=cam.name: self._on_image(name, data),
                qos, event_callbacks=events, raw=True)
            cam.qos = QOS_NAMES[reliability]
        else:
            sub = self._node.create_subscription(
                CameraInfo, cam.info_topic, lambda data, c=cam: self._on_info(c, data), qos,
                event_callbacks=events, raw=True)
        self._subs[(cam.name, kind)] = (sub, reliability)

    def _graph_changed(self, _info: Any = None) -> None:
        # Re-subscribing inside a subscription's own event is unsafe: wake `check` instead.
        with self._lock:
            if self._wake is not None:
                self._wake.trigger()

    def check(self) -> None:
        """auto: follow the publishers' reliability when they appear or change."""
        if self._mode() != 'auto':
            return
        with self._lock:
            if self.timer is None:  # inputs stopped meanwhile: subscribe nothing
                return
            for (name, kind), (_, current) in list(self._subs.items()):
                cam = self._by_name[name]
                wanted = self._wanted(cam, kind, current)
                if wanted != current:
                    self._subscribe(cam, kind, wanted)
                    self._node.get_logger().info(f'{self.topic(cam, kind)}: subscribed '
                                                 f'{QOS_NAMES[wanted]} to match its publishers')
            self._also_check()

    def input_qos(self) -> Dict[Tuple[str, str], str]:
        """{(camera, 'image' | 'camera_info'): 'reliable' | 'best_effort'} as subscribed now."""
        with self._lock:  # any thread: `check` may be re-subscribing
            return {key: QOS_NAMES[rel] for key, (_, rel) in self._subs.items()}

    def subscriptions(self) -> List[Any]:
        with self._lock:
            return [sub for sub, _ in self._subs.values()]

    def subscription(self, camera: str = '', kind: str = 'image') -> Any:
        with self._lock:
            return self._subs[(camera, kind)][0]
