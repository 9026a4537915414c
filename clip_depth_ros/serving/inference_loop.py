# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The inference thread of the depth node, without ROS: take the newest frames, decode, infer.

The node hands it the ROS ends as callables (deserialize and convert a frame, publish the
outputs, count camera_info publishers); everything between, such as which frames share a
batch, what a bad frame is called and what one camera's failure may cost the others, is
plain Python over `FrameSlots` and `CameraStream`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from clip_depth_ros.config import NodeConfig
from clip_depth_ros.frames.limits import FrameRejected
from clip_depth_ros.serving.camera_stream import CameraStream
from clip_depth_ros.serving.cdr import image_size_from_cdr
from clip_depth_ros.serving.frame_slot import FrameSlots
from clip_depth_ros.serving.health import LatencyStats, ProblemLog
from clip_depth_ros.serving.pipeline import depth_and_cloud_batch

# A frame waiting in its camera's slot: (serialized message, arrival time.monotonic()).
Pending = Tuple[bytes, float]
# (serialized message, camera) -> (message, RGB): raises FrameRejected (with its kind) for a bad
# frame, the model's input rule included, NotDeserializable when the bytes are not the type.
Decoder = Callable[[CameraStream, bytes], Tuple[Any, Any]]
# (camera, message, camera_info, intrinsics, pipeline output, queue wait ms) -> None
Publisher = Callable[[CameraStream, Any, Any, Any, Any, float], None]


class NotDeserializable(ValueError):
    """A serialized frame that is not the declared message type."""


class InferenceLoop:
    """The inference thread: one batch of newest frames at a time, never a queue."""

    def __init__(self, slots: FrameSlots[Pending], cameras: Sequence[CameraStream],
                 decode: Decoder, publish: Publisher,
                 info_publishers: Callable[[CameraStream], int],
                 settings: Callable[[], NodeConfig], estimator: Callable[[], Any],
                 problems: ProblemLog, warn: Callable[[str], None],
                 new_buffer: Callable[[int], Any],
                 corrector: Callable[[CameraStream, Any, Any], Any] = lambda *a: None) -> None:
        self.slots = slots
        self._by_name = {cam.name: cam for cam in cameras}
        self._decode_message, self._publish = decode, publish
        self._info_publishers = info_publishers
        self._settings, self._estimator = settings, estimator
        self.problems, self._warn, self._new_buffer = problems, warn, new_buffer
        self._corrector = corrector  # (camera, header, intrinsics) -> scale anchoring or None
        # compute: the model plus depth masking and cloud packing, per batch.
        self.compute_ms = LatencyStats()
        self.batch_sizes: Dict[int, int] = {}  # written by inference, read by diagnostics
        self.last_batch_size = 0
        self._batch_lock = threading.Lock()
        self.worker: Optional[threading.Thread] = None

    # -- the thread ---------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether a thread from an earlier start is still inside a frame."""
        return self.worker is not None and self.worker.is_alive()

    def start(self) -> None:
        self.slots.reopen()
        self.worker = threading.Thread(target=self.run, name='depth_inference', daemon=True)
        self.worker.start()

    def stop(self, timeout: float) -> bool:
        """Close the slots and wait for the thread; False if it is still busy after `timeout`."""
        self.slots.close()
        if self.worker is not None:
            self.worker.join(timeout=timeout)
            if self.worker.is_alive():  # kept: a second thread must not share the slots
                return False
            self.worker = None
        return True

    def batch_stats(self) -> Tuple[list, int]:
        """([(batch size, count)], last batch size), for diagnostics."""
        with self._batch_lock:
            return sorted(self.batch_sizes.items()), self.last_batch_size

    def batch_key(self, name: str, item: Pending) -> Optional[Tuple[int, int]]:
        """Frame size of a pending frame: read from a raw Image's header, else the last one."""
        cam = self._by_name[name]
        if cam.config.transport == 'raw':
            size = image_size_from_cdr(item[0])
            if size is not None:
                return size
        return cam.shape

    def run(self) -> None:
        while True:
            batch = self.slots.take(key=self.batch_key)
            if batch is None:
                return
            try:
                self.serve(batch)
            except Exception as e:  # keep serving: one bad batch must not stop the node
                if self.problems.report('inference', f'inference failed: {type(e).__name__}: '
                                        f'{e}'):
                    self._warn(f'inference failed: {type(e).__name__}: {e}')

    # -- one batch ----------------------------------------------------------------------------
    def serve(self, batch: Dict[str, Pending]) -> None:
        """Deserialize, decode, infer and publish the newest frame of each camera in `batch`."""
        wait_s = self._settings().camera_info_wait
        frames = []
        for name, (data, arrival_s) in batch.items():
            cam = self._by_name[name]
            if not cam.sample_failing():  # its last frames all failed: tried less often
                continue
            if cam.awaiting_camera_info(lambda: self._info_publishers(cam), wait_s):
                continue
            started = time.perf_counter()
            frame = self.decode(cam, data)
            self.slots.charge(name, time.perf_counter() - started)  # refusals cost turns too
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
                self.infer(group)
            except Exception:
                for item in group:  # one camera's failure must not cost the others a frame
                    self._infer_alone(item)

    def _infer_alone(self, item: tuple) -> None:
        cam = item[0]
        try:
            self.infer([item])
        except Exception as e:
            cam.report('inference', f'inference failed for {cam.image_topic}: '
                       f'{type(e).__name__}: {e}')

    def decode(self, cam: CameraStream, data: bytes) -> Optional[Tuple[Any, Any]]:
        """(message, rgb) of a serialized frame, or None with the problem reported by kind."""
        try:
            msg, rgb = self._decode_message(cam, data)
        except NotDeserializable as e:  # a payload that is not the declared type
            cam.frame_failed('image.deserialize', f'dropping a frame on {cam.image_topic}: '
                             f'cannot deserialize: {e}')
            return None
        except FrameRejected as e:  # limits, format, decoding or the model's input rule
            cam.frame_failed(f'image.{e.kind}', f'dropping image on {cam.image_topic}: {e}')
            return None
        cam.frame_decoded()  # this camera's frames are good again
        cam.shape = rgb.shape[:2]
        return msg, rgb

    def infer(self, group: list) -> None:
        """Run frames of one size (one per camera) as one batch; publish each camera's."""
        cfg, estimator = self._settings(), self._estimator()
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
            estimator, frames, cfg.max_range, intrs, cfg.point_stride, cfg.colorize_points,
            self._new_buffer, points=cfg.publish_points,
            correct=[self._corrector(cam, msg.header, intrs[i])  # scale anchoring
                     for i, (cam, _, msg, _) in enumerate(group)])
        elapsed = time.perf_counter() - start
        self.compute_ms.add(elapsed * 1e3)
        for cam, *_ in group:
            self.slots.charge(cam.name, elapsed / len(group))
        with self._batch_lock:  # a new size must not resize the dict under diagnostics
            self.last_batch_size = len(group)
            self.batch_sizes[len(group)] = self.batch_sizes.get(len(group), 0) + 1
        for i, (cam, _, msg, _) in enumerate(group):
            try:  # computed: a camera whose publishing fails must not be computed again
                self._publish(cam, msg, infos[i], intrs[i], outputs[i], waits[i])
            except Exception as e:
                cam.report('publish', f'publishing failed for {cam.depth_topic}: '
                           f'{type(e).__name__}: {e}')
