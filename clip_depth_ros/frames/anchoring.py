# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Scale anchoring: the dense shape from the model, the metric scale from a few measured points.

Reference points (a registered depth image, a point cloud, a laser scan, or ground truth sampled
as a sensor would see it) are projected into the camera image; a robust fit compares them with
the predicted depth at those pixels and gives a correction, which a time smoother holds steady.
Pure numpy geometry and statistics, so that every front end (the node, the bag tool, evaluation)
calls the same functions; the correction itself applies to numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import re
from typing import Any, Optional, Sequence, Tuple

from clip_depth_ros.config import AnchorConfig, ConfigError
from clip_depth_ros.frames.geometry import Intrinsics
import numpy as np
import torch

# PointField datatypes (sensor_msgs/PointField) that can carry x, y, z.
_FIELD_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}


@dataclass(frozen=True)
class ReferencePoints:
    """Measured depths at pixel positions of the camera image (float32 arrays of one length)."""

    u: np.ndarray  # column, pixels (pixel centres at integers)
    v: np.ndarray  # row, pixels
    z: np.ndarray  # depth along the optical axis, metres

    def __len__(self) -> int:
        return int(self.z.size)


@dataclass(frozen=True)
class Correction:
    """
    Corrected depth d' from predicted depth d: 1/d' = 1/(scale * d) + shift.

    shift = 0 is a plain global scale (d' = scale * d); a shift (1/m) is the inverse-depth
    offset of a scale + shift alignment.
    """

    scale: float = 1.0
    shift: float = 0.0


@dataclass(frozen=True)
class Fit:
    """One frame's fit: the correction when `ok`, else why there is none (`reason`)."""

    ok: bool
    correction: Correction
    points: int = 0             # valid reference points compared with the prediction
    inliers: int = 0
    residual: float = math.nan  # RMS of the inliers' log-depth residual after the fit
    reason: str = ''

    @property
    def inlier_fraction(self) -> float:
        return self.inliers / self.points if self.points else 0.0


def _empty() -> ReferencePoints:
    e = np.zeros(0, np.float32)
    return ReferencePoints(e, e, e)


def _cap(n: int, max_points: int) -> np.ndarray:
    """Pick at most `max_points` of n indices, evenly spread (deterministic)."""
    if n <= max_points:
        return np.arange(n)
    return np.linspace(0, n - 1, max_points).round().astype(np.int64)


def _in_image(u: np.ndarray, v: np.ndarray, z: np.ndarray, intr: Intrinsics,
              max_points: int) -> ReferencePoints:
    """Keep points in front of the camera whose nearest pixel lies inside the image."""
    with np.errstate(invalid='ignore'):
        keep = np.isfinite(u) & np.isfinite(v) & np.isfinite(z) & (z > 0) \
            & (u > -0.5) & (u < intr.width - 0.5) & (v > -0.5) & (v < intr.height - 0.5)
    idx = np.flatnonzero(keep)
    idx = idx[_cap(idx.size, max_points)]
    return ReferencePoints(u[idx].astype(np.float32), v[idx].astype(np.float32),
                           z[idx].astype(np.float32))


def from_depth_image(depth_m: np.ndarray, depth_intr: Intrinsics, image_intr: Intrinsics,
                     max_points: int) -> ReferencePoints:
    """
    Points of a depth image registered to the camera (same optical frame), at any resolution.

    Each pixel keeps its depth and moves to the camera image through the two intrinsics. NaN,
    Inf and 0 are no measurement. The image is read on a grid coarse enough that at most about
    4 x `max_points` pixels are looked at, so the cost is bounded whatever its size.
    """
    h, w = depth_m.shape[:2]
    step = max(1, int(math.ceil(math.sqrt(h * w / max(1, 4 * max_points)))))
    z = np.asarray(depth_m[::step, ::step], np.float32)
    rows, cols = np.nonzero(np.isfinite(z) & (z > 0))
    zs = z[rows, cols]
    ur, vr = cols.astype(np.float64) * step, rows.astype(np.float64) * step
    u = (ur - depth_intr.cx) * (image_intr.fx / depth_intr.fx) + image_intr.cx
    v = (vr - depth_intr.cy) * (image_intr.fy / depth_intr.fy) + image_intr.cy
    return _in_image(u, v, zs, image_intr, max_points)


@dataclass(frozen=True)
class Extrinsic:
    """Rigid transform from a sensor frame into the camera's optical frame: p_c = R p + t."""

    translation: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_xyzw: Tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)

    @classmethod
    def from_values(cls, values: Sequence[float]) -> Optional['Extrinsic']:
        """[tx, ty, tz, qx, qy, qz, qw] -> Extrinsic; [] -> None (points already in the camera)."""
        if len(values) == 0:
            return None
        if len(values) != 7:
            raise ConfigError(f'extrinsic: expected 7 numbers tx ty tz qx qy qz qw, got '
                              f'{len(values)}')
        q = np.asarray(values[3:], np.float64)
        norm = float(np.linalg.norm(q))
        if not np.all(np.isfinite(values)) or abs(norm - 1.0) > 1e-2:
            raise ConfigError(f'extrinsic: quaternion {list(values[3:])} is not a unit '
                              f'quaternion (norm {norm:.4f})')
        return cls(tuple(float(x) for x in values[:3]), tuple(float(x) for x in q / norm))

    def matrix(self) -> np.ndarray:
        """3x3 rotation matrix of the quaternion."""
        x, y, z, w = self.rotation_xyzw
        return np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) sensor-frame points -> (N, 3) camera optical-frame points."""
        return xyz @ self.matrix().T + np.asarray(self.translation)


def from_points(xyz: np.ndarray, image_intr: Intrinsics, extrinsic: Optional[Extrinsic],
                max_points: int) -> ReferencePoints:
    """
    Project 3D points ((N, 3), metres) into the camera image.

    Points are in the camera's optical frame, or in a sensor frame that `extrinsic` maps into
    it. Clouds larger than 8 x `max_points` are thinned evenly before they are transformed,
    so the cost is bounded whatever the sensor sends.
    """
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    xyz = xyz[_cap(len(xyz), 8 * max_points)]
    if extrinsic is not None:
        xyz = extrinsic.apply(xyz)
    z = xyz[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = image_intr.fx * xyz[:, 0] / z + image_intr.cx
        v = image_intr.fy * xyz[:, 1] / z + image_intr.cy
    return _in_image(u, v, z, image_intr, max_points)


def scan_points(ranges: Sequence[float], angle_min: float, angle_increment: float,
                range_min: float, range_max: float) -> np.ndarray:
    """Turn a sensor_msgs/LaserScan's valid returns into (N, 3) points in the scan's frame."""
    r = np.asarray(ranges, np.float64)
    a = angle_min + angle_increment * np.arange(r.size)
    with np.errstate(invalid='ignore'):
        ok = np.isfinite(r) & (r >= range_min) & (r <= range_max) & (r > 0)
    r, a = r[ok], a[ok]
    return np.stack([r * np.cos(a), r * np.sin(a), np.zeros_like(r)], axis=-1)


def cloud_points(msg: Any) -> np.ndarray:
    """
    Read the x, y, z fields of a sensor_msgs/PointCloud2 as (N, 3) float64.

    Duck-typed: rclpy's and rosbags' messages have the same fields. Raises ValueError when
    the cloud has no numeric x, y, z or its data is shorter than its size says.
    """
    fields = {f.name: f for f in msg.fields}
    missing = [n for n in 'xyz' if n not in fields or fields[n].datatype not in _FIELD_DTYPES]
    if missing:
        raise ValueError(f'point cloud has no numeric field {missing[0]}')
    n, step = int(msg.width) * int(msg.height), int(msg.point_step)
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else
                         msg.data.tobytes(), np.uint8)
    if step <= 0 or data.size < n * step:
        raise ValueError(f'point cloud data holds {data.size} bytes, {n} points of '
                         f'{step} need {n * step}')
    order = '>' if msg.is_bigendian else '<'
    dtype = np.dtype({'names': list('xyz'),
                      'formats': [order + _FIELD_DTYPES[fields[c].datatype] for c in 'xyz'],
                      'offsets': [int(fields[c].offset) for c in 'xyz'], 'itemsize': step})
    arr = np.frombuffer(data[:n * step].tobytes(), dtype=dtype, count=n)
    return np.stack([arr[c].astype(np.float64) for c in 'xyz'], axis=-1)


# -- simulated sensors on ground truth (evaluation, benchmarks) ----------------------------------
_ALIGN_SPEC = re.compile(r'^(sparse):([0-9]*\.?[0-9]+)$|^(rows):([0-9]+)$')


def parse_align_spec(spec: str) -> Tuple[str, float]:
    """'sparse:P' (P % of the valid pixels) or 'rows:N' (N evenly spaced rows) -> (kind, value)."""
    m = _ALIGN_SPEC.match(spec.strip())
    if not m:
        raise ValueError(f'--align {spec!r}: expected sparse:P (percent of pixels, 0 < P <= '
                         '100) or rows:N (N image rows, like a lidar)')
    if m.group(1):
        p = float(m.group(2))
        if not 0 < p <= 100:
            raise ValueError(f'--align {spec!r}: P must be in (0, 100]')
        return 'sparse', p
    n = int(m.group(4))
    if n < 1:
        raise ValueError(f'--align {spec!r}: N must be >= 1')
    return 'rows', float(n)


def sample_ground_truth(depth_m: np.ndarray, kind: str, value: float,
                        seed: Sequence[int] = (0,)) -> ReferencePoints:
    """
    Sample a ground-truth depth map as a range sensor would (0 / NaN = no measurement).

    sparse: `value` % of the valid pixels, drawn with `seed`; rows: the valid pixels of `value`
    evenly spaced image rows, as a multi-beam lidar registered to the camera sees them.
    """
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth_m) & (depth_m > 0)
    h = depth_m.shape[0]
    if kind == 'rows':
        n = int(value)
        rows_wanted = np.zeros(h, bool)
        rows_wanted[np.unique(((np.arange(n) + 0.5) * h / n).astype(np.int64).clip(0, h - 1))] = 1
        valid &= rows_wanted[:, None]
        rows, cols = np.nonzero(valid)
    else:
        rows, cols = np.nonzero(valid)
        count = int(round(rows.size * value / 100.0))
        pick = np.random.default_rng(list(seed)).choice(rows.size, size=count, replace=False)
        pick.sort()
        rows, cols = rows[pick], cols[pick]
    return ReferencePoints(cols.astype(np.float32), rows.astype(np.float32),
                           depth_m[rows, cols].astype(np.float32))


# -- the fit -------------------------------------------------------------------------------------
def sample_depth(depth: Any, points: ReferencePoints) -> np.ndarray:
    """Predicted depth at the points' nearest pixels, as float64 (numpy array or torch tensor)."""
    cols = np.clip(np.rint(points.u).astype(np.int64), 0, depth.shape[1] - 1)
    rows = np.clip(np.rint(points.v).astype(np.int64), 0, depth.shape[0] - 1)
    if isinstance(depth, torch.Tensor):
        idx = torch.from_numpy(rows * depth.shape[1] + cols).to(depth.device)
        return depth.reshape(-1)[idx].float().cpu().numpy().astype(np.float64)
    return np.asarray(depth)[rows, cols].astype(np.float64)


def _consensus(r: np.ndarray, threshold: float) -> float:
    """Find the value with the most residuals within `threshold` (1D RANSAC), O(n log n)."""
    s = np.sort(r)
    counts = np.searchsorted(s, s + threshold, 'right') - np.searchsorted(s, s - threshold, 'left')
    best = np.flatnonzero(counts == counts.max())
    return float(s[best[len(best) // 2]])


def fit_correction(predicted: np.ndarray, reference: np.ndarray, config: AnchorConfig) -> Fit:
    """
    Robust correction taking `predicted` depths to `reference` depths (both metres, same length).

    Residuals are log(reference / predicted): a global scale is a constant residual. A
    consensus search (the log scale with the most points within `inlier_threshold`) rejects
    outliers however many there are, then the inliers' mean refines it (twice). With
    fit = scale_shift, a least-squares line in inverse depth over those inliers adds a shift.
    No correction (ok False) with fewer than `min_points` valid points or inliers, an inlier
    fraction under `min_inlier_fraction`, or a scale outside [min_scale, max_scale].
    """
    p = np.asarray(predicted, np.float64)
    z = np.asarray(reference, np.float64)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(p) & np.isfinite(z) & (p > 0) & (z >= config.min_range_m) \
            & (z <= config.max_range_m)
    p, z = p[valid], z[valid]
    n = int(p.size)
    none = Correction()
    if n < config.min_points:
        return Fit(False, none, n, 0, reason=f'{n} valid reference points, fewer than '
                   f'{config.min_points}')
    r = np.log(z) - np.log(p)
    thr = config.inlier_threshold
    m = _consensus(r, thr)
    for _ in range(2):
        inl = np.abs(r - m) <= thr
        m = float(r[inl].mean())
    inl = np.abs(r - m) <= thr
    scale, shift = math.exp(m), 0.0
    if config.fit == 'scale_shift' and inl.sum() >= max(config.min_points, 2):
        x, y = 1.0 / p, 1.0 / z
        for _ in range(2):
            a, b = np.polyfit(x[inl], y[inl], 1)
            if not a > 0:
                return Fit(False, none, n, int(inl.sum()), reason='inverse-depth fit gave a '
                           'non-positive scale')
            with np.errstate(divide='ignore', invalid='ignore'):
                rr = np.log(z) + np.log(a * x + b)
            inl = np.isfinite(rr) & (np.abs(rr) <= thr)
            if inl.sum() < 2:
                break
        scale, shift = 1.0 / float(a), float(b)
        with np.errstate(divide='ignore', invalid='ignore'):
            res = np.log(z) + np.log(a * x + b)
    else:
        res = r - m
    k = int(inl.sum())
    residual = float(np.sqrt(np.mean(res[inl] ** 2))) if k else math.nan
    corr = Correction(scale, shift)
    if k < config.min_points:
        return Fit(False, none, n, k, residual, f'{k} inliers, fewer than {config.min_points}')
    if k / n < config.min_inlier_fraction:
        return Fit(False, none, n, k, residual, f'inlier fraction {k / n:.2f} under '
                   f'{config.min_inlier_fraction:g}')
    if not config.min_scale <= scale <= config.max_scale:
        return Fit(False, none, n, k, residual, f'scale {scale:.3g} outside '
                   f'[{config.min_scale:g}, {config.max_scale:g}]')
    return Fit(True, corr, n, k, residual)


def fit_points(depth: Any, points: ReferencePoints, config: AnchorConfig) -> Fit:
    """`fit_correction` of a predicted depth map (numpy or torch) against reference points."""
    if len(points) == 0:
        return Fit(False, Correction(), 0, 0, reason='no reference point falls in the image')
    return fit_correction(sample_depth(depth, points), points.z, config)


def apply_correction(depth: Any, corr: Correction) -> Any:
    """Corrected depth (numpy array or torch tensor, same kind); non-positive results are NaN."""
    if corr.shift == 0.0:
        return depth * corr.scale if corr.scale != 1.0 else depth
    inv = 1.0 / (depth * corr.scale) + corr.shift
    if isinstance(depth, torch.Tensor):
        return torch.where(inv > 0, 1.0 / inv, torch.full_like(inv, float('nan')))
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(inv > 0, 1.0 / inv, np.nan).astype(depth.dtype, copy=False)


class ScaleSmoother:
    """
    Exponential smoothing of the correction over stamp time, so the scale does not flicker.

    After a gap of dt seconds (between the stamps of two fits), the smoothed log scale (and
    shift) moves a fraction 1 - exp(-dt / time_constant_s) of the way to the new fit: a step
    in the true scale is 63 % followed after one time constant, 95 % after three, whatever the
    frame rate. time_constant_s = 0 takes each fit as it is. The first fit, and one whose stamp
    goes back in time (a bag replayed in a loop), start over. The held correction is offered
    for `hold_s` seconds of stamp time after the last fit, then none.
    """

    def __init__(self, time_constant_s: float, hold_s: float) -> None:
        self.time_constant_s, self.hold_s = time_constant_s, hold_s
        self._log_scale = 0.0
        self._shift = 0.0
        self._stamp_ns: Optional[int] = None

    def update(self, stamp_ns: int, corr: Correction) -> Correction:
        log_scale = math.log(corr.scale)
        if self._stamp_ns is None or stamp_ns < self._stamp_ns:
            alpha = 1.0
        else:
            dt = (stamp_ns - self._stamp_ns) * 1e-9
            alpha = 1.0 if self.time_constant_s <= 0 else 1.0 - math.exp(
                -dt / self.time_constant_s)
        self._log_scale += alpha * (log_scale - self._log_scale)
        self._shift += alpha * (corr.shift - self._shift)
        self._stamp_ns = stamp_ns
        return Correction(math.exp(self._log_scale), self._shift)

    def current(self, stamp_ns: int) -> Optional[Correction]:
        """Return the held correction for a frame at `stamp_ns`; None when none is recent."""
        if self._stamp_ns is None or abs(stamp_ns - self._stamp_ns) * 1e-9 > self.hold_s:
            return None
        return Correction(math.exp(self._log_scale), self._shift)

    def reset(self) -> None:
        self._stamp_ns = None
        self._log_scale, self._shift = 0.0, 0.0
