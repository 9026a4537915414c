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
import ctypes
import gc
import os
import signal
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Tuple

from clip_depth_ros.config import CameraConfig, ConfigError, NodeConfig
from clip_depth_ros.frames.colormap import colorize_depth
from clip_depth_ros.frames.pixels import message_to_rgb
from clip_depth_ros.ros import conversions, stopping
from clip_depth_ros.ros.diagnostics import diagnostic_array
from clip_depth_ros.ros.parameters import (camera_config, camera_declarations, declare,
                                           names as parameter_names, value_of)
from clip_depth_ros.ros.qos import (InputSubscriptions, matching_reliability, OUTPUT_QOS,
                                    OUTPUT_QOS_OVERRIDES)
from clip_depth_ros.ros.reference_inputs import ReferenceInputs
from clip_depth_ros.ros.stopping import Stopped
from clip_depth_ros.serving import cdr
from clip_depth_ros.serving.camera_stream import CameraStream, model_status
from clip_depth_ros.serving.frame_path import decode_for_model
from clip_depth_ros.serving.frame_slot import FrameSlots
from clip_depth_ros.serving.health import LatencyStats, ProblemLog, truncate
from clip_depth_ros.serving.inference_loop import InferenceLoop, NotDeserializable, Pending
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2


# Test-only: with this set to a path, configure creates `<path>.held` and waits, before loading
# the model, until `<path>` exists or rclpy shuts down, so that a test can stop the node at a
# moment it knows to be inside loading. Unset (always, outside tests), it costs nothing.
HOLD_LOADING_ENV = 'CLIP_DEPTH_TEST_HOLD_LOADING'


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
        self.slots: FrameSlots[Pending] = FrameSlots([c.name for c in self.cameras])
        self._limits = self.config.frame_limits()
        self.loop = InferenceLoop(self.slots, self.cameras, self._decode, self._publish,
                                  lambda cam: self.count_publishers(cam.info_topic),
                                  lambda: self.config, lambda: self.estimator, self.problems,
                                  self._warn, conversions.new_buffer,
                                  lambda cam, header, intr: self.references.corrector(
                                      cam.name, header, intr))
        self._lifecycle, self._reason = 'unconfigured', 'waiting for configure'
        self._configure_error = ''
        self._pubs: Dict[str, Dict[str, Any]] = {}
        self.inputs = InputSubscriptions(self, self.cameras, lambda: self.config.input_qos,
                                         self._on_image, self._on_camera_info,
                                         lambda: self.references.recheck(matching_reliability))
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
        if self.loop.busy():  # deactivate stopped waiting
            self.get_logger().error('cannot activate: the inference thread is still busy with '
                                    'a frame; try again when it is done')
            return TransitionCallbackReturn.FAILURE
        self.loop.start()
        for cam in self.cameras:
            cam.restart()
        self.inputs.start()
        self.references.start(matching_reliability)  # scale anchoring: off = nothing
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
        """Unsubscribe and stop the inference thread (after its frame, 30 s at most)."""
        self.inputs.stop()
        self.references.stop()
        if not self.loop.stop(timeout=30.0):
            self.get_logger().warning('the inference thread is still busy after 30 s; it '
                                      'stops after its frame')

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

    # -- inputs (executor thread): cheap, never block on inference ----------------------------
    @staticmethod
    def _image_topic(cam: CameraConfig) -> str:
        return f'{cam.image}/compressed' if cam.transport == 'compressed' else cam.image

    def input_qos(self) -> Dict[Tuple[str, str], str]:
        """{(camera, 'image' | 'camera_info'): 'reliable' | 'best_effort'} as subscribed now."""
        return self.inputs.input_qos()

    def input_subscriptions(self) -> List[Any]:
        return self.inputs.subscriptions()

    def subscription(self, camera: str = '', kind: str = 'image') -> Any:
        """Return the current subscription of `camera` to its 'image' or 'camera_info' topic."""
        return self.inputs.subscription(camera, kind)

    def _on_image(self, name: str, data: bytes) -> None:
        self._by_name[name].frame_arrived(cdr.stamp_ns_from_cdr(data))
        self.slots.put(name, (data, time.monotonic()))

    def _on_camera_info(self, cam: CameraStream, data: bytes) -> None:
        try:
            if cdr.known_encapsulation(data):  # sizes first: rclpy prints a line otherwise
                cdr.check_camera_info(data)
            msg = deserialize_message(data, CameraInfo)
        except Exception as e:  # a payload that is not a CameraInfo
            why = str(e) if isinstance(e, cdr.CdrError) else type(e).__name__
            cam.report('camera_info.deserialize', f'dropping a camera_info on {cam.info_topic}:'
                       f' cannot deserialize: {why}')
            return
        cam.camera_info_arrived(msg)

    def _warn(self, message: str) -> None:
        # After Ctrl-C or SIGTERM rclpy's context is gone under the frame in flight: its
        # publishing and graph queries fail, and so would this line (rosout). Nothing to say.
        if self.context.ok():
            self.get_logger().warning(message)

    # -- the inference thread's ROS ends ----------------------------------------------------
    def _decode(self, cam: CameraStream, data: bytes) -> Tuple[Any, Any]:
        """(message, rgb) of a serialized frame; raises as InferenceLoop.decode expects."""
        compressed = cam.config.transport == 'compressed'
        try:
            if cdr.known_encapsulation(data):  # else rclpy says what it is not, quietly
                (cdr.check_compressed_image if compressed else cdr.check_image)(data)
        except cdr.CdrError as e:  # rclpy would print a line for each such message
            raise NotDeserializable(str(e)) from None
        try:
            msg = deserialize_message(data, CompressedImage if compressed else Image)
        except Exception as e:  # a payload that is not the declared type
            raise NotDeserializable(type(e).__name__) from None
        return msg, decode_for_model(lambda: message_to_rgb(msg, compressed, self._limits),
                                     self.estimator)

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

    # -- the inference loop's figures, for callers that read them from the node ------------
    @property
    def compute_ms(self) -> LatencyStats:
        return self.loop.compute_ms

    @compute_ms.setter
    def compute_ms(self, stats: LatencyStats) -> None:
        self.loop.compute_ms = stats

    @property
    def batch_sizes(self) -> Dict[int, int]:
        return self.loop.batch_sizes

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
        sizes, last = self.loop.batch_stats()
        level, message, values = model_status(
            self.estimator, self.config.checkpoint, self._lifecycle, len(self.cameras), sizes,
            last, self.compute_ms.summary(), self.problems.active(), self._configure_error,
            self._reason)
        statuses = [(f'{base}: model', level, message, values['device'] or 'model', values)]
        reason = self._configure_error or self._reason
        for cam in self.cameras:
            level, message, values = cam.status(self._lifecycle, reason,
                                                self.slots.dropped[cam.name])
            level, message = self.references.judge(cam.name, level, message, values)
            statuses.append((f'{base}: depth' + (f' {cam.name}' if cam.name else ''),
                             level, message, cam.image_topic, values))
        return diagnostic_array(self.get_clock().now().to_msg(), statuses)


def _threads_note(estimator) -> str:
    if estimator.device.type != 'cpu':
        return 'GPU'
    import torch
    threads = torch.get_num_threads()
    return f'{threads} CPU thread' + ('s' if threads != 1 else '')


def _exit_now(code: int) -> None:
    """
    End the process at once with `code`, after flushing everything buffered.

    Interpreter teardown with torch loaded takes a second or more (seconds on a loaded
    machine, past launch's grace period); the node has nothing left to do by then. Python's
    streams and the C library's (ROS log lines, the log file) are flushed first.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be written
            pass
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(code)


def main(args: Optional[list] = None) -> None:
    """
    Run the node until Ctrl-C, SIGTERM or a failed start; the process then exits at once.

    SIGTERM is handled as Ctrl-C: installed before rclpy's handler, which shuts the context
    down and then calls it, so a stop lands wherever the main thread is (loading included).
    """
    stopping.install()
    rclpy.init(args=args)
    code = 0
    node = None
    try:
        # The executor exists before the node activates: a stop landing inside its construction
        # would leave a half-built executor whose finalizer prints a traceback (rclpy).
        executor = SingleThreadedExecutor()
        node = DepthNode()
        executor.add_node(node)
        node.autostart()
        executor.spin()
    except (ConfigError, ParameterException, NameValidationException) as e:
        # A bad start-up parameter or topic name: one line naming it, no traceback.
        print(f'depth_node: {e}', file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):  # Stopped included
        pass
    except Exception:
        if rclpy.ok():
            traceback.print_exc()
            code = 1
        # Else Ctrl-C or SIGTERM shut rclpy down under a callback (a publish, a graph query,
        # the executor's own set-up): that is the stop, not a fault.
    finally:
        # A second signal must not interrupt the way out.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if node is not None:
            if rclpy.ok():  # stopped from inside (a failed start): release in order
                node.stop_inputs()
                node.destroy_node()
            else:  # stopped by a signal: the frame in flight has nowhere to go
                node.slots.close()
        rclpy.try_shutdown()
        _exit_now(code)


if __name__ == '__main__':
    main()
