# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One camera's scale anchoring without ROS: recent references, stamp matching, fit, smoothing.

References arrive on their own topic (any thread); each frame takes the reference nearest its
stamp within the tolerance, fits a correction (frames.anchoring) and applies the smoothed one.
A frame without a matching reference is published as predicted: anchoring that is on but
receives nothing changes nothing. What happened is kept for /diagnostics.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math
import threading
import time
from typing import Any, Callable, Deque, Dict, Optional

from clip_depth_ros.config import AnchorConfig
from clip_depth_ros.frames import anchoring
from clip_depth_ros.frames.geometry import Intrinsics
import numpy as np

# References kept per camera: enough to match a camera a few frames behind a fast sensor.
KEEP_REFERENCES = 8


@dataclass(frozen=True)
class Reference:
    """A reference measurement at `stamp_ns`: a registered depth image or camera-frame points."""

    stamp_ns: int
    depth_m: Optional[np.ndarray] = None       # registered depth image (metres, NaN = none)
    depth_intr: Optional[Intrinsics] = None    # its own; None = the camera's (same size)
    xyz: Optional[np.ndarray] = None           # (N, 3) points in the camera's optical frame

    def project(self, image_intr: Intrinsics, max_points: int) -> anchoring.ReferencePoints:
        """Place the reference's measurements on the camera image's pixels."""
        if self.depth_m is not None:
            intr = self.depth_intr
            if intr is None:
                if self.depth_m.shape[:2] != (image_intr.height, image_intr.width):
                    return anchoring.ReferencePoints(*(np.zeros(0, np.float32),) * 3)
                intr = image_intr
            return anchoring.from_depth_image(self.depth_m, intr, image_intr, max_points)
        return anchoring.from_points(self.xyz, image_intr, None, max_points)


def points_reference(stamp_ns: int, xyz: np.ndarray,
                     extrinsic: Optional[anchoring.Extrinsic], max_points: int) -> Reference:
    """Make a cloud or scan a Reference: thinned (bounded cost), moved into the camera frame."""
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    if len(xyz) > 8 * max_points:
        xyz = xyz[np.linspace(0, len(xyz) - 1, 8 * max_points).round().astype(np.int64)]
    if extrinsic is not None:
        xyz = extrinsic.apply(xyz)
    return Reference(stamp_ns, xyz=xyz)


class CameraAnchor:
    """Scale anchoring state of one camera; `corrector(stamp, intr)` is the pipeline's hook."""

    def __init__(self, config: AnchorConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._refs: Deque[Reference] = deque(maxlen=KEEP_REFERENCES)
        self._last_arrival: Optional[float] = None
        self.references = 0
        self.smoother = anchoring.ScaleSmoother(config.time_constant_s, config.hold_s)
        self.last_fit: Optional[anchoring.Fit] = None
        self.in_use = anchoring.Correction()  # on the last frame (1, 0 = none)
        self.frames_corrected = self.frames_uncorrected = 0
        self.state = 'no frame yet'

    @property
    def enabled(self) -> bool:
        return self.config.mode != 'off'

    def add(self, ref: Reference) -> None:
        """Keep a reference (from the reference topic's callback)."""
        with self._lock:
            self._refs.append(ref)
            self._last_arrival = self._clock()
            self.references += 1

    def match(self, stamp_ns: int) -> Optional[Reference]:
        """Return the kept reference nearest `stamp_ns` within the tolerance, or None."""
        with self._lock:
            refs = list(self._refs)
        if not refs:
            return None
        best = min(refs, key=lambda r: abs(r.stamp_ns - stamp_ns))
        if abs(best.stamp_ns - stamp_ns) > self.config.tolerance_ms * 1e6:
            return None
        return best

    def correction(self, stamp_ns: int, depth: Any,
                   intr: Optional[Intrinsics]) -> Optional[anchoring.Correction]:
        """Fit this frame against its reference, update the smoother; the correction to use."""
        cfg = self.config
        ref = self.match(stamp_ns)
        if ref is None:
            with self._lock:
                have = len(self._refs)
            self.state = (f'no reference within {cfg.tolerance_ms:g} ms of the frame'
                          if have else 'no reference received')
            return None
        if intr is None:
            self.state = 'no usable camera_info: reference points cannot be placed'
            return None
        points = ref.project(intr, cfg.max_points)
        fit = anchoring.fit_points(depth, points, cfg)
        self.last_fit = fit
        if fit.ok:
            self.smoother.update(stamp_ns, fit.correction)
        held = self.smoother.current(stamp_ns)
        self.state = 'ok' if fit.ok else f'fit failed: {fit.reason}' + (
            '; holding the last scale' if held is not None else '')
        return held

    def corrector(self, stamp_ns: int, intr: Optional[Intrinsics]):
        """Return the pipeline hook for one frame: depth -> corrected depth; None when off."""
        if not self.enabled:
            return None

        def correct(depth: Any) -> Any:
            corr = self.correction(stamp_ns, depth, intr)
            if corr is None:
                self.frames_uncorrected += 1
                self.in_use = anchoring.Correction()
                return depth
            self.frames_corrected += 1
            self.in_use = corr
            return anchoring.apply_correction(depth, corr)
        return correct

    @property
    def healthy(self) -> bool:
        return not self.enabled or self.state == 'ok'

    def values(self) -> Dict[str, str]:
        """Key/values for the camera's /diagnostics status."""
        if not self.enabled:
            return {'anchor_mode': 'off'}
        fit = self.last_fit
        age = 'never' if self._last_arrival is None else \
            f'{self._clock() - self._last_arrival:.2f}'
        return {
            'anchor_mode': self.config.mode, 'anchor_fit': self.config.fit,
            'anchor_state': self.state,
            'anchor_scale': f'{self.in_use.scale:.4f}',
            'anchor_shift': f'{self.in_use.shift:.5f}',
            'anchor_points': str(fit.points if fit else 0),
            'anchor_inlier_fraction': f'{fit.inlier_fraction:.3f}' if fit else '',
            'anchor_residual': '' if fit is None or math.isnan(fit.residual)
            else f'{fit.residual:.4f}',
            'anchor_reference_age_s': age,
            'anchor_references': str(self.references),
            'anchor_frames_corrected': str(self.frames_corrected),
            'anchor_frames_uncorrected': str(self.frames_uncorrected),
        }
