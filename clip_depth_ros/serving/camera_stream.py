# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One camera of the depth node, without ROS: its counters, its camera_info and its health.

The node only wires topics to a CameraStream (as image_pipeline's nodes wrap plain classes);
what the stream decides, such as when an input has gone quiet or what /diagnostics says, is
plain Python, tested without a graph. Levels have diagnostic_msgs/DiagnosticStatus's values.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from clip_depth_ros.config import CameraConfig
from clip_depth_ros.frames.geometry import Intrinsics
from clip_depth_ros.frames.rectify import CameraModel, CameraModels
from clip_depth_ros.serving.frame_path import (CANONICAL_FALLBACK, read_intrinsics,
                                               usable_intrinsics)
from clip_depth_ros.serving.health import LatencyStats, ProblemLog, RateMeter, StampGaps
import numpy as np

OK, WARN, ERROR, STALE = 0, 1, 2, 3
# A camera whose last FAILING_AFTER frames all failed has one frame tried per FAILING_SAMPLE_S:
# its bad frames then cost the other cameras little, and its first good frame ends it.
FAILING_AFTER = 5
FAILING_SAMPLE_S = 1.0
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}


def model_health(loaded: bool, lifecycle: str, configure_error: str = '', reason: str = '',
                 problems: Sequence[Tuple[str, Any]] = (),
                 warnings: Sequence[str] = ()) -> Tuple[int, str]:
    """
    (level, message) of the shared model's status, as CameraStream.status is a camera's.

    Not loaded: ERROR with the configure failure, else WARN with why it is unconfigured.
    Loaded: WARN naming `warnings` (random CLIP weights) and active `problems` (key, Problem)
    other than 'model' (the configure failure, cleared on success); else OK.
    """
    if not loaded:
        if configure_error:
            return ERROR, configure_error
        return WARN, f'unconfigured: {reason}'
    parts = list(warnings) + [p.message for key, p in problems if key != 'model']
    if parts:
        return WARN, '; '.join(parts)
    return OK, 'inactive' if lifecycle == 'inactive' else 'model loaded'


def model_status(estimator: Any, checkpoint: str, lifecycle: str, cameras: int,
                 batch_sizes: Sequence[Tuple[int, int]], last_batch_size: int,
                 compute: Dict[str, float], problems: Sequence[Tuple[str, Any]],
                 configure_error: str = '', reason: str = '') -> Tuple[int, str, Dict[str, str]]:
    """(level, message, values) of the shared model for /diagnostics; `estimator` may be None."""
    est = estimator
    values = {
        'lifecycle_state': lifecycle, 'checkpoint': checkpoint,
        'device': str(est.device) if est else '', 'model': est.model_name if est else '',
        'precision': est.precision if est else '',
        'precision_reason': getattr(est, 'precision_reason', '') if est else '',
        'cameras': str(cameras),
        'batches': str(sum(n for _, n in batch_sizes)), 'last_batch_size': str(last_batch_size),
        'batch_sizes': ', '.join(f'{size}: {n}' for size, n in batch_sizes),
    }
    for key, value in compute.items():
        values[f'compute_{key}'] = f'{value:.1f}'
    for key, problem in problems:
        values[f'problem.{key}'] = f'{problem.message} (x{problem.count})'
    random = getattr(est, 'random_clip_weights_message', '') if est else ''
    if random:
        values['clip_weights'] = 'random'
    level, message = model_health(est is not None, lifecycle, configure_error, reason,
                                  problems, [random] if random else [])
    return level, message, values


class FrequencyCheck:
    """
    Silence on one topic, judged as diagnostic_updater's frequency status does.

    No event for `warn_after_s` (counted from `restart`, i.e. activation) is WARN, for
    `error_after_s` ERROR.
    """

    def __init__(self, warn_after_s: float, error_after_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.warn_after_s, self.error_after_s = warn_after_s, error_after_s
        self._clock = clock
        self._since = clock()
        self._last: Optional[float] = None

    def restart(self) -> None:
        self._since, self._last = self._clock(), None

    def tick(self) -> None:
        self._last = self._clock()

    def silence_s(self) -> float:
        """Seconds since the last event, or since `restart` when none came."""
        return self._clock() - (self._since if self._last is None else self._last)

    def level(self) -> int:
        silence = self.silence_s()
        if silence >= self.error_after_s:
            return ERROR
        return WARN if silence >= self.warn_after_s else OK


class CameraStream:
    """A camera's inputs and outputs as the node sees them: counts, latencies, health."""

    def __init__(self, config: CameraConfig, warn_after_s: float = 3.0,
                 error_after_s: float = 10.0, log: Callable[[str], None] = lambda m: None,
                 clock: Callable[[], float] = time.monotonic, rectify: str = 'auto') -> None:
        self.config = config
        self.models = CameraModels(rectify)  # rectify: 'auto' | 'off'
        self.name = config.name
        # Resolved topic names, set by the node; the config's (relative) names until then.
        self.image_topic, self.info_topic = config.image, config.camera_info
        self.depth_topic = f'{config.output_prefix}/image'
        self.qos = ''
        self._log = log
        self._clock = clock
        self.problems = ProblemLog(clock=clock)
        self.input_rate, self.output_rate = RateMeter(clock=clock), RateMeter(clock=clock)
        self.wait_ms, self.publish_ms = LatencyStats(), LatencyStats()
        self.end_to_end_ms = LatencyStats()
        self.input_check = FrequencyCheck(warn_after_s, error_after_s, clock)
        self.output_check = FrequencyCheck(warn_after_s, error_after_s, clock)
        self.frames_in = self.frames_out = 0
        self.stamp_gaps = StampGaps()  # frames lost before they reached the node
        self.frames_awaiting_info = 0  # dropped while the first camera_info was on its way
        self.shape: Optional[Tuple[int, int]] = None  # of the last frame: the batch key
        self.focal_px: Optional[float] = None
        self._info: Optional[Tuple[Any, Optional[CameraModel], str]] = None
        self._first_frame_s: Optional[float] = None  # since activation
        self._canonical_said = False
        self.failed_in_a_row = 0
        self.frames_skipped_failing = 0  # not even decoded: the camera was failing
        self._last_tried_s = float('-inf')

    @property
    def label(self) -> str:
        return self.name or 'camera'

    def set_timeouts(self, warn_after_s: float, error_after_s: float) -> None:
        for check in (self.input_check, self.output_check):
            check.warn_after_s, check.error_after_s = warn_after_s, error_after_s

    def restart(self) -> None:
        """Start judging silence now (on activation)."""
        self.input_check.restart()
        self.output_check.restart()
        self._first_frame_s = None

    def report(self, key: str, message: str) -> None:
        """Record a problem of this camera by its kind; log it when the throttle allows."""
        if self.problems.report(key, message):
            self._log(message)

    # -- events -----------------------------------------------------------------------------
    def frame_arrived(self, stamp_ns: Optional[int] = None) -> None:
        """Count a frame (its header stamp, when known, shows frames lost upstream)."""
        self.stamp_gaps.add(stamp_ns)
        self.frames_in += 1
        self.input_rate.tick()
        self.input_check.tick()
        if self._first_frame_s is None:
            self._first_frame_s = self._clock()

    def frame_failed(self, kind: str, message: str) -> None:
        """Report a refused frame by `kind` (e.g. 'image.corrupt') and count the streak."""
        self.failed_in_a_row += 1
        self.report(kind, message)

    def frame_decoded(self) -> None:
        self.failed_in_a_row = 0
        self.problems.clear_prefix('image.')

    def failing(self) -> bool:
        return self.failed_in_a_row >= FAILING_AFTER

    def sample_failing(self) -> bool:
        """Whether to try this frame: always, or once per FAILING_SAMPLE_S while failing."""
        now = self._clock()
        if self.failing() and now - self._last_tried_s < FAILING_SAMPLE_S:
            self.frames_skipped_failing += 1
            return False
        self._last_tried_s = now
        return True

    def awaiting_camera_info(self, publishers: Callable[[], int], wait_s: float) -> bool:
        """
        Whether to drop a frame because this camera's first camera_info is on its way.

        True while no camera_info has come, frames have come for less than `wait_s` since
        activation and `publishers()` (of the camera_info topic, asked last: it queries the
        graph) is not 0: drivers start image and camera_info together and the first image may
        arrive first. Depth without camera_info assumes the canonical camera, a wrong scale
        for this one; after `wait_s` that is what happens.
        """
        if self._info is not None or self._first_frame_s is None:
            return False
        if self._clock() - self._first_frame_s >= wait_s or publishers() == 0:
            return False
        self.frames_awaiting_info += 1
        self.problems.report('camera_info', f'waiting up to {wait_s:g} s for the first '
                             f'camera_info on {self.info_topic}; frames dropped meanwhile')
        return True

    def camera_info_arrived(self, msg: Any) -> None:
        """Keep the newest camera_info with its camera model, or with why it has none."""
        self._info = (msg,) + read_intrinsics(lambda: self.models.get(msg))

    @property
    def camera_info(self) -> Any:
        return self._info[0] if self._info else None

    def camera(self, width: int, height: int) -> Tuple[Any, Optional[CameraModel]]:
        """
        Return (camera_info, camera model) for a frame of this size.

        (info or None, None) with the reason reported (once, then throttled, and on
        /diagnostics) when there is none: depth then assumes the canonical camera.
        """
        snapshot = self._info  # one snapshot: a newer one may arrive while we work
        if snapshot is None:
            message = f'no camera_info received on {self.info_topic}: {CANONICAL_FALLBACK}'
            said = self.problems.report('camera_info', message)
            if said and not self._canonical_said:
                self._canonical_said = True
                self._log(message)
            return None, None
        msg, model, error = snapshot
        model, error = usable_intrinsics(model, error, width, height)
        if model is None:
            self.report('camera_info', f'{self.info_topic}: {error}: {CANONICAL_FALLBACK}')
            return msg, None
        self.problems.clear('camera_info')
        return msg, model

    def intrinsics(self, width: int, height: int) -> Tuple[Any, Optional[Intrinsics]]:
        """Return (camera_info, intrinsics) for a frame of this size; see `camera`."""
        msg, model = self.camera(width, height)
        return msg, model.intrinsics if model is not None else None

    def prepare(self, rgb: np.ndarray) -> Tuple[np.ndarray, Optional[Dict[str, Any]],
                                                Optional[Intrinsics]]:
        """
        Put a decoded frame into the geometry depth is published in.

        Returns (frame, camera_info fields to publish with depth, intrinsics): the frame
        rectified when its camera_info asks for it, the fields then rectified too (D = 0,
        K = P, R = I). Without usable intrinsics: (frame, None, None), the canonical camera.
        """
        msg, model = self.camera(rgb.shape[1], rgb.shape[0])
        if model is None:
            return rgb, None, None
        return model.rectify(rgb), model.camera_info_fields(msg), model.intrinsics

    def published(self, wait_ms: float, publish_ms: float, latency_ms: float) -> None:
        self.output_rate.tick()
        self.output_check.tick()
        self.wait_ms.add(wait_ms)
        self.publish_ms.add(publish_ms)
        self.end_to_end_ms.add(latency_ms)
        self.frames_out += 1  # last: a status counting this frame holds all of its figures

    # -- health -----------------------------------------------------------------------------
    def camera_info_state(self) -> str:
        problem = self.problems.get('camera_info')
        if problem is not None:
            return problem.message
        return 'ok' if self._info is not None else 'not received'

    def rectify_state(self) -> str:
        snapshot = self._info
        if snapshot is not None and snapshot[1] is not None:
            return snapshot[1].state
        return f'{self.models.mode}: no usable camera_info yet'

    def status(self, lifecycle: str, reason: str = '',
               dropped: int = 0) -> Tuple[int, str, Dict[str, str]]:
        """(level, message, values) for /diagnostics in lifecycle state `lifecycle`."""
        period = self.stamp_gaps.period_s()
        values = {
            'camera': self.label, 'image_topic': self.image_topic,
            'camera_info_topic': self.info_topic, 'depth_topic': self.depth_topic,
            'input_qos': self.qos, 'lifecycle_state': lifecycle,
            'input_rate_hz': f'{self.input_rate.rate_hz():.2f}',
            'output_rate_hz': f'{self.output_rate.rate_hz():.2f}',
            'frames_received': str(self.frames_in), 'frames_published': str(self.frames_out),
            'dropped_frames': str(dropped),
            'frames_lost_upstream': str(self.stamp_gaps.lost),
            'camera_rate_hz': f'{1 / period:.2f}' if period else 'unknown',
            'dropped_awaiting_camera_info': str(self.frames_awaiting_info),
            'failed_in_a_row': str(self.failed_in_a_row),
            'skipped_while_failing': str(self.frames_skipped_failing),
            'camera_info': self.camera_info_state(),
            'rectify': self.rectify_state(),
            'focal_px': (f'{self.focal_px:.2f}' if self.focal_px else
                         'canonical camera (no usable camera_info)'),
        }
        for prefix, stats in (('queue_wait', self.wait_ms), ('publish', self.publish_ms),
                              ('end_to_end_latency', self.end_to_end_ms)):
            for key, value in stats.summary().items():
                values[f'{prefix}_{key}'] = f'{value:.1f}'
        problems = self.problems.active()
        for key, problem in problems:
            values[f'problem.{key}'] = f'{problem.message} (x{problem.count})'
        totals = self.problems.totals()  # since start, cleared and expired ones included
        values['problem_counts'] = ', '.join(f'{k}: {n}' for k, n in sorted(totals.items()))
        if lifecycle == 'inactive':
            return OK, 'inactive', values
        if lifecycle != 'active':
            return WARN, f'{lifecycle}: {reason}' if reason else lifecycle, values
        level, parts = OK, []
        quiet = self.input_check.level()
        if quiet != OK:
            level = quiet
            parts.append(f'no frames on {self.image_topic} for '
                         f'{self.input_check.silence_s():.1f} s')
        else:
            stuck = self.output_check.level()
            if stuck != OK:
                level = stuck
                parts.append(f'no depth published on {self.depth_topic} for '
                             f'{self.output_check.silence_s():.1f} s while frames arrive')
        if self.failing():
            level = max(level, WARN)
            parts.append(f'the last {self.failed_in_a_row} frames all failed: one frame per '
                         f'{FAILING_SAMPLE_S:g} s is tried until one is good')
        if problems:
            level = max(level, WARN)
            parts += [p.message for _, p in problems]
        return level, '; '.join(parts) if parts else 'running', values
