# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
depth_node: camera images in; depth, camera_info, point cloud, colour map and diagnostics out.

A managed (lifecycle) node serving one camera or several (`cameras`) with one model: configure
loads the model, activate subscribes and starts the inference thread, deactivate unsubscribes,
cleanup frees the model. Each camera keeps its newest frame as serialized bytes (a dropped
frame costs nothing but the copy DDS already made); the inference thread takes the newest
frames, deserializes and decodes only those, and runs frames of the same size as one batch.
The per-camera logic lives in `serving.camera_stream`; this module wires topics to it.
"""

from __future__ import annotations

import copy
import gc
import os
import struct
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from clip_depth_ros.config import CameraConfig, ConfigError, NodeConfig
from clip_depth_ros.frames.colormap import colorize_depth
from clip_depth_ros.frames.limits import FrameRejected
from clip_depth_ros.frames.pixels import message_to_rgb
from clip_depth_ros.ros import conversions
from clip_depth_ros.ros.parameters import (camera_config, camera_declarations, declare,
                                           names as parameter_names, value_of)
from clip_depth_ros.ros.reference_inputs import ReferenceInputs
from clip_depth_ros.serving.camera_stream import CameraStream, model_health
from clip_depth_ros.serving.frame_path import decode_for_model
from clip_depth_ros.serving.frame_slot import FrameSlots
from clip_depth_ros.serving.health import LatencyStats, ProblemLog, truncate
from clip_depth_ros.serving.pipeline import depth_and_cloud_batch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

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
# Test-only: with this set to a path, configure creates `<path>.held` and waits, before loading
# the model, until `<path>` exists or rclpy shuts down, so that a test can stop the node at a
# moment it knows to be inside loading. Unset (always, outside tests), it costs nothing.
HOLD_LOADING_ENV = 'CLIP_DEPTH_TEST_HOLD_LOADING'


class Stopped(KeyboardInterrupt):
    """
    rclpy shut down (Ctrl-C, SIGTERM) while a lifecycle transition ran: unwind as Ctrl-C does.

    Not an Exception: rclpy's lifecycle turns one raised in a transition into an ERROR
    transition, whose own event then fails on the dead context and logs an error.
    """


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


class DepthNode(LifecycleNode):
    """The glue between camera topics and one DepthEstimator; the logic lives in the core."""

    def __init__(self, node_name: str = 'depth_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare(self)
        self.config = self._read_config()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.estimator = None
        self.problems = ProblemLog()  # the model's; each camera keeps its own
        self.cameras = [CameraStream(c, self.config.input_timeout,
                                     self.config.input_error_timeout, self._warn,
                                     rectify=self.config.rectify)
                        for c in self._camera_configs()]
        self._by_name = {cam.name: cam for cam in self.cameras}
        for cam in self.cameras:
            cam.image_topic = self._resolve(cam, 'image', self._image_topic(cam.config))
            cam.info_topic = self._resolve(cam, 'camera_info', cam.config.camera_info)
            cam.depth_topic = self.resolve_topic_name(f'{cam.config.output_prefix}/image')
        # -- scale anchoring (ros/reference_inputs.py): per-camera reference inputs --
        self.references = ReferenceInputs(self, self.config.anchor(), self.cameras,
                                          self.config.max_input_pixels)
        self.slots: FrameSlots[Tuple[bytes, float]] = FrameSlots([c.name for c in self.cameras])
        self._limits = self.config.frame_limits()
        # compute: the model plus depth masking and cloud packing, per batch.
        self.compute_ms = LatencyStats()
        self.batch_sizes: Dict[int, int] = {}  # written by inference, read by diagnostics
        self.last_batch_size = 0
        self._batch_lock = threading.Lock()
        self._lifecycle, self._reason = 'unconfigured', 'waiting for configure'
        self._configure_error = ''
        self._subs: Dict[Tuple[str, str], Tuple[Any, ReliabilityPolicy]] = {}
        self._pubs: Dict[str, Dict[str, Any]] = {}
        self._worker: Optional[threading.Thread] = None
        self._qos_timer = None
        self._qos_wake = None  # guard condition: a match or mismatch event asks for a re-check
        # Subscriptions, the QoS timer and its guard change under this lock: transitions may be
        # triggered from another thread (trigger_*) than the executor running _check_qos.
        self._inputs_lock = threading.RLock()
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(self.config.diagnostics_period,
                                             self.publish_diagnostics)

    # -- parameters -----------------------------------------------------------------------
    def _read_config(self) -> NodeConfig:
        return NodeConfig(**{name: value_of(self, name) for name in parameter_names()})

    def _camera_configs(self) -> List[CameraConfig]:
        cfg = self.config
        if not cfg.cameras:
            return [CameraConfig(transport=cfg.input_transport)]
        out = []
        for name in cfg.cameras:
            decls = camera_declarations(name, cfg.input_transport)
            self.declare_parameters('', decls)
            out.append(camera_config(name, {n: self.get_parameter(n).value
                                            for n, _, _ in decls}))
        return out

    def _resolve(self, cam: CameraStream, key: str, topic: str) -> str:
        try:
            return self.resolve_topic_name(topic)
        except RuntimeError as e:  # rcl's RCLError: not a valid topic name
            raise ConfigError(f'{cam.name + "." if cam.name else ""}{key}: {topic!r} is not a '
                              f'valid topic name ({str(e).split(", at ")[0]})') from None

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        # Only the node's own parameters go into NodeConfig; rclpy's (use_sim_time, QoS
        # overrides) and the per-camera ones are rclpy's to check.
        own = set(parameter_names())
        changes = {p.name: p.value for p in params
                   if p.name in own and p.type_ != Parameter.Type.NOT_SET}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            values = {name: getattr(self.config, name) for name in own}
            values.update(changes)
            candidate = NodeConfig(**values)
        except (ConfigError, TypeError, ValueError) as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.config = candidate
        self._limits = candidate.frame_limits()
        for cam in self.cameras:
            cam.set_timeouts(candidate.input_timeout, candidate.input_error_timeout)
        return SetParametersResult(successful=True)

    def autostart(self) -> None:
        """Configure and activate when the `autostart` parameter asks for it."""
        if not self.config.autostart:
            return
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # -- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        cfg = self.config
        if not cfg.checkpoint:
            return self._fail_configure('parameter "checkpoint" is empty: set it to a '
                                        'checkpoint directory (see clip-depth-init)')
        try:
            self._hold_loading()
            self.estimator = self._load_estimator(cfg)
            if self.estimator.device.type == 'cpu':
                import torch
                torch.set_num_threads(cfg.inference_threads(os.cpu_count() or 1))
            for cam in self.cameras:
                prefix = cam.config.output_prefix
                self._pubs[cam.name] = {
                    key: self.create_lifecycle_publisher(
                        msg_type, f'{prefix}/{topic}', copy.copy(OUTPUT_QOS),  # overridden
                        qos_overriding_options=OUTPUT_QOS_OVERRIDES)
                    for key, msg_type, topic in (('depth', Image, 'image'),
                                                 ('info', CameraInfo, 'camera_info'),
                                                 ('points', PointCloud2, 'points'),
                                                 ('colormap', Image, 'colormap'))}
        except Exception as e:  # any failure: one line with its type, ERROR on diagnostics
            self._release_model()
            self._raise_if_stopped()  # the failure was the stop (a publish on the dead context)
            where = '' if cfg.checkpoint in str(e) else f' {cfg.checkpoint!r}'
            return self._fail_configure(f'cannot load checkpoint{where}: '
                                        f'{type(e).__name__}: {e}')
        self._raise_if_stopped()  # loading takes seconds: a stop most likely lands in it
        self.problems.clear('model')
        self._configure_error = ''
        est = self.estimator
        reason = getattr(est, 'precision_reason', '')
        self.get_logger().info(
            f'loaded {est.model_name} from {cfg.checkpoint} on {est.device} '
            f'({est.precision}{": " + reason if reason else ""}; {_threads_note(est)}) for '
            f'{len(self.cameras)} camera{"s" if len(self.cameras) != 1 else ""}')
        if getattr(est, 'random_clip_weights_message', ''):
            self.get_logger().warning(est.random_clip_weights_message)
        self._lifecycle = 'inactive'
        return TransitionCallbackReturn.SUCCESS

    def _hold_loading(self) -> None:
        """Test-only (HOLD_LOADING_ENV): wait here, inside loading, until released or stopped."""
        gate = os.environ.get(HOLD_LOADING_ENV)
        if not gate:
            return
        with open(gate + '.held', 'w'):
            pass
        while not os.path.exists(gate) and self.context.ok():
            time.sleep(0.01)
        self._raise_if_stopped()

    @staticmethod
    def _load_estimator(cfg: NodeConfig):
        if cfg.checkpoint.endswith('.onnx'):
            from clip_depth_ros.engine.onnx import OnnxDepthEstimator
            return OnnxDepthEstimator(cfg.checkpoint)
        from clip_depth_ros.engine.inference import DepthEstimator
        return DepthEstimator.from_checkpoint(cfg.checkpoint, device=cfg.device or None,
                                              precision=cfg.precision,
                                              clip_weights=cfg.clip_weights or None)

    def _raise_if_stopped(self) -> None:
        if not self.context.ok():
            raise Stopped()

    def _fail_configure(self, message: str) -> TransitionCallbackReturn:
        self._configure_error = truncate(message, 400)  # paths make these long
        self.problems.report('model', message)
        self.get_logger().error(message)
        return TransitionCallbackReturn.FAILURE

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if self._worker is not None and self._worker.is_alive():  # deactivate stopped waiting
            self.get_logger().error('cannot activate: the inference thread is still busy with '
                                    'a frame; try again when it is done')
            return TransitionCallbackReturn.FAILURE
        self.slots.reopen()
        self._worker = threading.Thread(target=self._run, name='depth_inference', daemon=True)
        self._worker.start()
        with self._inputs_lock:
            for cam in self.cameras:
                cam.restart()
                for kind in ('image', 'camera_info'):
                    self._subscribe(cam, kind, self._wanted_reliability(cam, kind))
            self.references.start(matching_reliability)  # scale anchoring: off = nothing
            if self.config.input_qos == 'auto':  # fixed QoS: nothing to re-check
                self._qos_timer = self.create_timer(QOS_RECHECK_S, self._check_qos)
                self._qos_wake = self.create_guard_condition(self._check_qos)
        self.get_logger().info('listening on ' + ', '.join(
            f'{cam.image_topic} ({cam.qos})' for cam in self.cameras))
        self._lifecycle = 'active'
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.stop_inputs()
        self._lifecycle = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release_model()
        self._lifecycle, self._reason = 'unconfigured', 'cleaned up: configure loads the model'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.stop_inputs()
        self._release_model()
        self._lifecycle = 'finalized'
        # Nothing more on /diagnostics: a finalized node has no health to report.
        self.destroy_timer(self._diag_timer)
        return TransitionCallbackReturn.SUCCESS

    def stop_inputs(self) -> None:
        with self._inputs_lock:
            if self._qos_timer is not None:
                self.destroy_timer(self._qos_timer)
                self.destroy_guard_condition(self._qos_wake)
                self._qos_timer = self._qos_wake = None
            for sub, _ in self._subs.values():
                self.destroy_subscription(sub)
            self._subs = {}
            self.references.stop()
        self.slots.close()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            if self._worker.is_alive():  # kept: a second thread must not share the slots
                self.get_logger().warning('the inference thread is still busy after 30 s; it '
                                          'stops after its frame')
            else:
                self._worker = None

    def _release_model(self) -> None:
        for pubs in self._pubs.values():
            for pub in pubs.values():
                self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        device = getattr(self.estimator, 'device', None)
        self.estimator = None
        gc.collect()
        if device is not None and device.type == 'cuda':
            import torch
            torch.cuda.empty_cache()

    # -- inputs and their QoS (executor thread): cheap, never block on inference ------------
    @staticmethod
    def _image_topic(cam: CameraConfig) -> str:
        return f'{cam.image}/compressed' if cam.transport == 'compressed' else cam.image

    def _topic(self, cam: CameraStream, kind: str) -> str:
        return cam.image_topic if kind == 'image' else cam.info_topic

    def _wanted_reliability(self, cam: CameraStream, kind: str,
                            current: Optional[ReliabilityPolicy] = None) -> ReliabilityPolicy:
        mode = self.config.input_qos
        if mode == 'reliable':
            return ReliabilityPolicy.RELIABLE
        if mode == 'sensor_data':
            return ReliabilityPolicy.BEST_EFFORT
        # Only publishers whose reliability the graph already knows count: the graph can list a
        # publisher as UNKNOWN, or briefly none, while it runs; re-subscribing then would lose
        # frames of a camera that is still there, so `current` stays until the graph says more.
        offered = [info.qos_profile.reliability
                   for info in self.get_publishers_info_by_topic(self._topic(cam, kind))]
        offered = [r for r in offered
                   if r in (ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT)]
        if not offered and current is not None:
            return current
        return matching_reliability(offered)

    def _subscribe(self, cam: CameraStream, kind: str, reliability: ReliabilityPolicy) -> None:
        old = self._subs.pop((cam.name, kind), None)
        if old is not None:
            self.destroy_subscription(old[0])
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=reliability)
        events = SubscriptionEventCallbacks(matched=self._graph_changed,
                                            incompatible_qos=self._graph_changed)
        if kind == 'image':
            msg_type = CompressedImage if cam.config.transport == 'compressed' else Image
            sub = self.create_subscription(
                msg_type, cam.image_topic, lambda data, name=cam.name: self._on_image(name, data),
                qos, event_callbacks=events, raw=True)
            cam.qos = QOS_NAMES[reliability]
        else:
            sub = self.create_subscription(
                CameraInfo, cam.info_topic, cam.camera_info_arrived, qos,
                event_callbacks=events)
        self._subs[(cam.name, kind)] = (sub, reliability)

    def _graph_changed(self, _info: Any = None) -> None:
        # Re-subscribing inside a subscription's own event is unsafe: wake _check_qos instead.
        with self._inputs_lock:
            if self._qos_wake is not None:
                self._qos_wake.trigger()

    def _check_qos(self) -> None:
        """auto: follow the publishers' reliability when they appear or change."""
        if self.config.input_qos != 'auto':
            return
        with self._inputs_lock:
            if self._qos_timer is None:  # inputs stopped meanwhile: subscribe nothing
                return
            for (name, kind), (_, current) in list(self._subs.items()):
                cam = self._by_name[name]
                wanted = self._wanted_reliability(cam, kind, current)
                if wanted != current:
                    self._subscribe(cam, kind, wanted)
                    self.get_logger().info(f'{self._topic(cam, kind)}: subscribed '
                                           f'{QOS_NAMES[wanted]} to match its publishers')
            self.references.recheck(matching_reliability)  # scale anchoring's inputs

    def input_qos(self) -> Dict[Tuple[str, str], str]:
        """{(camera, 'image' | 'camera_info'): 'reliable' | 'best_effort'} as subscribed now."""
        with self._inputs_lock:  # any thread: _check_qos may be re-subscribing
            return {key: QOS_NAMES[rel] for key, (_, rel) in self._subs.items()}

    def input_subscriptions(self) -> List[Any]:
        with self._inputs_lock:
            return [sub for sub, _ in self._subs.values()]

    def subscription(self, camera: str = '', kind: str = 'image') -> Any:
        """Return the current subscription of `camera` to its 'image' or 'camera_info' topic."""
        with self._inputs_lock:
            return self._subs[(camera, kind)][0]

    def _on_image(self, name: str, data: bytes) -> None:
        self._by_name[name].frame_arrived()
        self.slots.put(name, (data, time.monotonic()))

    def _batch_key(self, name: str, item: Tuple[bytes, float]) -> Optional[Tuple[int, int]]:
        """Frame size of a pending frame: read from a raw Image's header, else the last one."""
        cam = self._by_name[name]
        if cam.config.transport == 'raw':
            size = image_size_from_cdr(item[0])
            if size is not None:
                return size
        return cam.shape

    def _warn(self, message: str) -> None:
        # After Ctrl-C or SIGTERM rclpy's context is gone under the frame in flight: its
        # publishing and graph queries fail, and so would this line (rosout). Nothing to say.
        if self.context.ok():
            self.get_logger().warning(message)

    # -- inference thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self.slots.take(key=self._batch_key)
            if batch is None:
                return
            try:
                self.serve(batch)
            except Exception as e:  # keep serving: one bad batch must not stop the node
                if self.problems.report('inference', f'inference failed: {type(e).__name__}: '
                                        f'{e}'):
                    self._warn(f'inference failed: {type(e).__name__}: {e}')

    def serve(self, batch: Dict[str, Tuple[bytes, float]]) -> None:
        """Deserialize, decode, infer and publish the newest frame of each camera in `batch`."""
        frames = []
        for name, (data, arrival_s) in batch.items():
            cam = self._by_name[name]
            if cam.awaiting_camera_info(lambda: self.count_publishers(cam.info_topic),
                                        self.config.camera_info_wait):
                continue
            frame = self._decode(cam, data)
            if frame is not None:
                frames.append((cam, arrival_s) + frame)
        groups: Dict[Tuple[int, int], list] = {}
        for item in frames:
            groups.setdefault(item[3].shape[:2], []).append(item)
        for group in groups.values():  # a failing group never costs the other groups a frame
            if len(group) == 1:
                self._infer_alone(group[0])
                continue
            try:
                self._infer(group)
            except Exception:
                for item in group:  # one camera's failure must not cost the others a frame
                    self._infer_alone(item)

    def _infer_alone(self, item: tuple) -> None:
        cam = item[0]
        try:
            self._infer([item])
        except Exception as e:
            cam.report('inference', f'inference failed for {cam.image_topic}: '
                       f'{type(e).__name__}: {e}')

    def _decode(self, cam: CameraStream, data: bytes) -> Optional[Tuple[Any, Any]]:
        """(message, rgb) of a serialized frame, or None with the problem reported by kind."""
        compressed = cam.config.transport == 'compressed'
        try:
            msg = deserialize_message(data, CompressedImage if compressed else Image)
        except Exception as e:  # a payload that is not the declared type
            cam.report('image.deserialize', f'dropping a frame on {cam.image_topic}: cannot '
                       f'deserialize: {type(e).__name__}')
            return None
        try:
            rgb = decode_for_model(lambda: message_to_rgb(msg, compressed, self._limits),
                                   self.estimator)
        except FrameRejected as e:  # limits, format, decoding or the model's input rule
            cam.report(f'image.{e.kind}', f'dropping image on {cam.image_topic}: {e}')
            return None
        cam.problems.clear_prefix('image.')  # this camera's frames are good again
        cam.shape = rgb.shape[:2]
        return msg, rgb

    def _infer(self, group: list) -> None:
        """Run frames of one size (one per camera) as one batch; publish each camera's."""
        cfg, estimator = self.config, self.estimator
        start = time.perf_counter()
        waits, infos, intrs, frames = [], [], [], []
        for cam, arrival_s, msg, rgb in group:
            rgb, info, intr = cam.prepare(rgb)  # rectified when its camera_info asks for it
            frames.append(rgb)
            cam.focal_px = intr.fx if intr is not None else None
            waits.append((time.monotonic() - arrival_s) * 1e3)
            infos.append(info)
            intrs.append(intr)
        outputs = depth_and_cloud_batch(
            estimator, frames, cfg.max_range, intrs, cfg.point_stride,
            cfg.colorize_points, conversions.new_buffer, points=cfg.publish_points,
            correct=[self.references.corrector(cam.name, msg.header, intrs[i])  # anchoring
                     for i, (cam, _, msg, _) in enumerate(group)])
        self.compute_ms.add((time.perf_counter() - start) * 1e3)
        with self._batch_lock:  # a new size must not resize the dict under diagnostics
            self.last_batch_size = len(group)
            self.batch_sizes[len(group)] = self.batch_sizes.get(len(group), 0) + 1
        for i, (cam, _, msg, _) in enumerate(group):
            try:  # computed: a camera whose publishing fails must not be computed again
                self._publish(cam, msg, infos[i], intrs[i], outputs[i], waits[i])
            except Exception as e:
                cam.report('publish', f'publishing failed for {cam.depth_topic}: '
                           f'{type(e).__name__}: {e}')

    def _publish(self, cam: CameraStream, msg: Any, info: Any, intr: Any, out: Any,
                 wait_ms: float) -> None:
        cfg, pubs = self.config, self._pubs[cam.name]
        started = time.perf_counter()
        header, depth = msg.header, out.depth_m
        pubs['depth'].publish(conversions.depth_to_image(depth, header))
        if intr is not None:
            pubs['info'].publish(conversions.restamped(info, header))
        if out.cloud is not None:
            pubs['points'].publish(conversions.cloud_message(
                out.cloud, out.cloud_height, out.cloud_width, out.cloud_rgb, header))
        colormap = pubs['colormap']
        if colormap.get_subscription_count() > 0:
            view = colorize_depth(depth, cfg.colormap_min, cfg.colormap_max)
            colormap.publish(conversions.rgb_to_image(view, header, 'bgr8'))
        publish_ms = (time.perf_counter() - started) * 1e3
        stamp_s = header.stamp.sec + header.stamp.nanosec * 1e-9
        now_s = self.get_clock().now().nanoseconds * 1e-9
        cam.published(wait_ms, publish_ms, (now_s - stamp_s) * 1e3)

    # -- the first camera, for callers written for one (demo, benchmarks) -----------------
    @property
    def camera_info(self) -> Optional[CameraInfo]:
        return self.cameras[0].camera_info

    @property
    def wait_ms(self) -> LatencyStats:
        return self.cameras[0].wait_ms

    @property
    def publish_ms(self) -> LatencyStats:
        return self.cameras[0].publish_ms

    @property
    def end_to_end_ms(self) -> LatencyStats:
        return self.cameras[0].end_to_end_ms

    # -- diagnostics ----------------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        if self._lifecycle != 'finalized':
            self._diag_pub.publish(self.diagnostics())

    def diagnostics(self) -> DiagnosticArray:
        base = self.get_fully_qualified_name()
        statuses = [self._model_status(base)]
        reason = self._configure_error or self._reason
        for cam in self.cameras:
            level, message, values = cam.status(self._lifecycle, reason,
                                                self.slots.dropped[cam.name])
            level, message = self.references.judge(cam.name, level, message, values)
            statuses.append(_status(f'{base}: depth' + (f' {cam.name}' if cam.name else ''),
                                    level, message, cam.image_topic, values))
        return DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                               status=statuses)

    def _model_status(self, base: str) -> DiagnosticStatus:
        est, cfg = self.estimator, self.config
        with self._batch_lock:
            sizes, last = sorted(self.batch_sizes.items()), self.last_batch_size
        values = {
            'lifecycle_state': self._lifecycle, 'checkpoint': cfg.checkpoint,
            'device': str(est.device) if est else '', 'model': est.model_name if est else '',
            'precision': est.precision if est else '',
            'precision_reason': getattr(est, 'precision_reason', '') if est else '',
            'cameras': str(len(self.cameras)),
            'batches': str(sum(n for _, n in sizes)), 'last_batch_size': str(last),
            'batch_sizes': ', '.join(f'{size}: {n}' for size, n in sizes),
        }
        for key, value in self.compute_ms.summary().items():
            values[f'compute_{key}'] = f'{value:.1f}'
        problems = self.problems.active()
        for key, problem in problems:
            values[f'problem.{key}'] = f'{problem.message} (x{problem.count})'
        random = getattr(est, 'random_clip_weights_message', '') if est else ''
        if random:
            values['clip_weights'] = 'random'
        level, message = model_health(est is not None, self._lifecycle, self._configure_error,
                                      self._reason, problems, [random] if random else [])
        return _status(f'{base}: model', level, message, values['device'] or 'model', values)


def _status(name: str, level: int, message: str, hardware_id: str,
            values: Dict[str, str]) -> DiagnosticStatus:
    return DiagnosticStatus(level=bytes([level]), name=name, message=message,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=v) for k, v in values.items()])


def _threads_note(estimator) -> str:
    if estimator.device.type != 'cpu':
        return 'GPU'
    import torch
    threads = torch.get_num_threads()
    return f'{threads} CPU thread' + ('s' if threads != 1 else '')


def main(args: Optional[list] = None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = DepthNode()
        node.autostart()
        rclpy.spin(node)
    except (ConfigError, ParameterException, NameValidationException) as e:
        # A bad start-up parameter or topic name: one line naming it, no traceback.
        print(f'depth_node: {e}', file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, ExternalShutdownException):  # Stopped included
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C or SIGTERM shut rclpy down under a callback (a publish, a graph query, the
        # executor's own set-up): that is the stop, not a fault.
    finally:
        if node is not None:
            node.stop_inputs()
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
