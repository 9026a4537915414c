# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
depth_node: camera images in; depth, camera_info, point cloud, colour map and diagnostics out.

A managed (lifecycle) node: configure loads the model, activate subscribes and starts the
inference thread, deactivate unsubscribes, cleanup frees the model. Inference runs on its own
thread on the newest frame only; frames that arrive while it is busy replace the pending one.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from typing import Any, Optional, Tuple

from clip_depth_ros import geometry
from clip_depth_ros.colormap import colorize_depth
from clip_depth_ros.config import ConfigError, NodeConfig
from clip_depth_ros.frame_slot import LatestSlot
from clip_depth_ros.health import LatencyStats, ProblemLog, RateMeter
from clip_depth_ros.pipeline import depth_and_cloud
from clip_depth_ros.ros import conversions
from clip_depth_ros.ros.parameters import declarations
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

# Outputs: reliable so that RViz and `ros2 bag record` both receive them; small depth so that a
# slow subscriber never makes us buffer many large messages.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2,
                        reliability=ReliabilityPolicy.RELIABLE)


class DepthNode(LifecycleNode):
    """The glue between camera topics and DepthEstimator; the logic lives in the core."""

    def __init__(self, node_name: str = 'depth_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_parameters('', declarations())
        self.config = self._read_config()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.estimator = None
        self.problems = ProblemLog()
        self.slot: LatestSlot[Tuple[Any, float]] = LatestSlot()
        self.input_rate, self.output_rate = RateMeter(), RateMeter()
        # compute: the model plus depth masking and cloud packing (on the model's device).
        self.compute_ms, self.end_to_end_ms = LatencyStats(), LatencyStats()
        # Where the rest of the time goes: waiting for the worker, and publishing.
        self.wait_ms, self.publish_ms = LatencyStats(), LatencyStats()
        self.frames_out = 0
        self._camera_info: Optional[CameraInfo] = None
        self._subs: list = []
        self._pubs: dict = {}
        self._worker: Optional[threading.Thread] = None
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(self.config.diagnostics_period,
                                             self.publish_diagnostics)

    # -- parameters -----------------------------------------------------------------------
    def _read_config(self) -> NodeConfig:
        values = {f.name: self.get_parameter(f.name).value
                  for f in dataclasses.fields(NodeConfig)}
        return NodeConfig(**values)

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.type_ != Parameter.Type.NOT_SET}
        try:
            candidate = dataclasses.replace(self.config, **changes)
        except (ConfigError, TypeError) as e:
            return SetParametersResult(successful=False, reason=str(e))
        self.config = candidate
        return SetParametersResult(successful=True)

    def autostart(self) -> None:
        """Configure and activate when the `autostart` parameter asks for it."""
        if not self.config.autostart:
            return
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # -- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        from clip_depth_ros.checkpoint import CheckpointError
        from clip_depth_ros.inference import DepthEstimator

        cfg = self.config
        if not cfg.checkpoint:
            return self._fail_configure('parameter "checkpoint" is empty: set it to a '
                                        'checkpoint directory (see clip-depth-init)')
        try:
            if cfg.checkpoint.endswith('.onnx'):
                from clip_depth_ros.export import OnnxDepthEstimator
                self.estimator = OnnxDepthEstimator(cfg.checkpoint)
            else:
                self.estimator = DepthEstimator.from_checkpoint(
                    cfg.checkpoint, device=cfg.device or None, precision=cfg.precision,
                    clip_weights=cfg.clip_weights or None)
        except (CheckpointError, ConfigError, OSError, RuntimeError) as e:
            return self._fail_configure(f'cannot load checkpoint {cfg.checkpoint!r}: {e}')
        self.problems.clear('model')
        if self.estimator.device.type == 'cpu':
            import torch
            torch.set_num_threads(cfg.inference_threads(os.cpu_count() or 1))
        self._pubs = {
            'depth': self.create_lifecycle_publisher(Image, 'depth/image', OUTPUT_QOS),
            'info': self.create_lifecycle_publisher(CameraInfo, 'depth/camera_info', OUTPUT_QOS),
            'points': self.create_lifecycle_publisher(PointCloud2, 'depth/points', OUTPUT_QOS),
            'colormap': self.create_lifecycle_publisher(Image, 'depth/colormap', OUTPUT_QOS),
        }
        self.get_logger().info(f'loaded {self.estimator.model_name} from {cfg.checkpoint} on '
                               f'{self.estimator.device} ({self.estimator.precision}, '
                               f'{_threads_note(self.estimator)})')
        return TransitionCallbackReturn.SUCCESS

    def _fail_configure(self, message: str) -> TransitionCallbackReturn:
        self.problems.report('model', message)
        self.get_logger().error(message)
        return TransitionCallbackReturn.FAILURE

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if self.config.input_transport == 'compressed':
            image_sub = self.create_subscription(CompressedImage, 'image/compressed',
                                                 self._on_image, qos_profile_sensor_data)
        else:
            image_sub = self.create_subscription(Image, 'image', self._on_image,
                                                 qos_profile_sensor_data)
        info_sub = self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info,
                                            qos_profile_sensor_data)
        self._subs = [image_sub, info_sub]
        self.slot.reopen()
        self._worker = threading.Thread(target=self._run, name='depth_inference', daemon=True)
        self._worker.start()
        self.get_logger().info(f'listening on {image_sub.topic_name}')
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_inputs()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release_model()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release_model()
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self.slot.close()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            self._worker = None

    def _release_model(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        device = getattr(self.estimator, 'device', None)
        self.estimator = None
        gc.collect()
        if device is not None and device.type == 'cuda':
            import torch
            torch.cuda.empty_cache()

    # -- callbacks (executor thread): cheap, never block on inference -----------------------
    def _on_image(self, msg: Any) -> None:
        self.input_rate.tick()
        self.slot.put((msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    # -- inference thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self.slot.take()
            if item is None:
                return
            try:
                self.process(*item)
            except Exception as e:  # keep serving: one bad frame must not stop the node
                self._report('processing', f'frame failed: {type(e).__name__}: {e}')

    def _report(self, key: str, message: str) -> None:
        if self.problems.report(key, message):
            self.get_logger().warning(message)

    def process(self, msg: Any, arrival_s: float) -> None:
        """Convert, infer and publish one frame."""
        cfg, estimator = self.config, self.estimator
        try:
            if isinstance(msg, CompressedImage):
                rgb = conversions.compressed_to_rgb(msg)
            else:
                rgb = conversions.image_to_rgb(msg)
        except ValueError as e:  # UnsupportedEncoding, MalformedImage: skip, report
            self._report('image', f'dropping image on {self._subs[0].topic_name}: {e}'
                         if self._subs else f'dropping image: {e}')
            return
        self.problems.clear('image')
        self.wait_ms.add((time.monotonic() - arrival_s) * 1e3)
        info = self._camera_info  # one snapshot: a newer one may arrive while we work
        intr = self._intrinsics(info, rgb.shape[1], rgb.shape[0])
        start = time.perf_counter()
        out = depth_and_cloud(estimator, rgb, cfg.max_range,
                              intr if cfg.publish_points else None, cfg.point_stride,
                              cfg.colorize_points, conversions.new_buffer)
        computed = time.perf_counter()
        self.compute_ms.add((computed - start) * 1e3)
        header, depth = msg.header, out.depth_m
        self._pubs['depth'].publish(conversions.depth_to_image(depth, header))
        if intr is not None:
            self._pubs['info'].publish(conversions.restamped(info, header))
        if out.cloud is not None:
            self._pubs['points'].publish(conversions.cloud_message(
                out.cloud, out.cloud_height, out.cloud_width, out.cloud_rgb, header))
        colormap = self._pubs['colormap']
        if colormap.get_subscription_count() > 0:
            view = colorize_depth(depth, cfg.colormap_min, cfg.colormap_max)
            colormap.publish(conversions.rgb_to_image(view, header, 'bgr8'))
        self.publish_ms.add((time.perf_counter() - computed) * 1e3)
        self.frames_out += 1
        self.output_rate.tick()
        stamp_s = header.stamp.sec + header.stamp.nanosec * 1e-9
        now_s = self.get_clock().now().nanoseconds * 1e-9
        self.end_to_end_ms.add((now_s - stamp_s) * 1e3)

    def _intrinsics(self, info: Optional[CameraInfo], width: int,
                    height: int) -> Optional[geometry.Intrinsics]:
        """Intrinsics of `info`, or None with the reason reported once."""
        if info is None:
            self._report('camera_info', 'no camera_info received on '
                         f'{self.resolve_topic_name("camera_info")}: publishing depth without '
                         'camera_info and points')
            return None
        try:
            intr = conversions.intrinsics(info)
            intr.check_image_size(width, height)
        except geometry.InvalidIntrinsics as e:
            self._report('camera_info', f'{e}: publishing depth without camera_info and points')
            return None
        self.problems.clear('camera_info')
        return intr

    # -- diagnostics ----------------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        self._diag_pub.publish(self.diagnostics())

    def diagnostics(self) -> DiagnosticArray:
        estimator = self.estimator
        problems = self.problems.active()
        info_problem = self.problems.get('camera_info')
        values = {
            'input_rate_hz': f'{self.input_rate.rate_hz():.2f}',
            'output_rate_hz': f'{self.output_rate.rate_hz():.2f}',
            'frames_published': str(self.frames_out),
            'dropped_frames': str(self.slot.dropped),
            'device': str(estimator.device) if estimator else '',
            'precision': estimator.precision if estimator else '',
            'model': estimator.model_name if estimator else '',
            'checkpoint': self.config.checkpoint,
            'camera_info': (info_problem.message if info_problem else
                            'ok' if self._camera_info is not None else 'not received'),
        }
        for prefix, stats in (('compute', self.compute_ms), ('queue_wait', self.wait_ms),
                              ('publish', self.publish_ms),
                              ('end_to_end_latency', self.end_to_end_ms)):
            for key, value in stats.summary().items():
                values[f'{prefix}_{key}'] = f'{value:.1f}'
        for key, problem in problems:
            values[f'problem.{key}'] = f'{problem.message} (x{problem.count})'
        model_problem = self.problems.get('model')
        if estimator is None:
            level = DiagnosticStatus.ERROR
            message = model_problem.message if model_problem else 'model not loaded'
        elif problems:
            level = DiagnosticStatus.WARN
            message = '; '.join(p.message for _, p in problems)
        else:
            level, message = DiagnosticStatus.OK, 'running'
        status = DiagnosticStatus(
            level=level, name=f'{self.get_fully_qualified_name()}: depth', message=message,
            hardware_id=values['device'],
            values=[KeyValue(key=k, value=v) for k, v in values.items()])
        return DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                               status=[status])


def _threads_note(estimator) -> str:
    if estimator.device.type != 'cpu':
        return 'GPU'
    import torch
    threads = torch.get_num_threads()
    return f'{threads} CPU thread' + ('s' if threads != 1 else '')


def main(args: Optional[list] = None) -> None:
    rclpy.init(args=args)
    node = DepthNode()
    node.autostart()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node._stop_inputs()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
