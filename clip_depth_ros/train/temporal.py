# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Temporal consistency of depth sequences with known camera poses.

Depth at frame t is unprojected, moved into frame t+k with the relative pose, projected with the
intrinsics (nearest surface wins per pixel) and compared with the depth at t+k on co-visible
pixels: mean |warped - depth_t+k| / depth_t+k. The same quantity for the ground truth is the
floor a perfect predictor would reach (sensor noise, lens distortion, timing). Poses come as a
TUM trajectory (`timestamp tx ty tz qx qy qz qw`, world-from-camera, metres).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Deque, Dict, List, Optional, Sequence, Tuple

from clip_depth_ros.frames.geometry import Intrinsics
from clip_depth_ros.train.metrics import crop_mask
import numpy as np

# Poses further apart than this around a frame's stamp are not interpolated (TUM: 100 Hz).
MAX_POSE_GAP_NS = 50_000_000


class PoseFileError(ValueError):
    """A pose file is missing or malformed; the message names the file and line."""


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """(qx, qy, qz, qw) -> 3x3 rotation matrix (normalised first)."""
    x, y, z, w = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _slerp(q0: np.ndarray, q1: np.ndarray, a: float) -> np.ndarray:
    dot = float(np.dot(q0, q1))
    if dot < 0:  # the shorter way round
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + a * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - a) * theta) * q0 + np.sin(a * theta) * q1) / np.sin(theta)


@dataclass
class PoseTrack:
    """World-from-camera poses sorted by stamp; interpolated between neighbours."""

    stamps_ns: List[int]
    positions: np.ndarray   # (N, 3)
    quaternions: np.ndarray  # (N, 4) x, y, z, w, unit

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def at(self, stamp_ns: int, max_gap_ns: int = MAX_POSE_GAP_NS) -> Optional[np.ndarray]:
        """4x4 world-from-camera at `stamp_ns`, or None outside the track or across a gap."""
        i = bisect.bisect_left(self.stamps_ns, stamp_ns)
        if i < len(self.stamps_ns) and self.stamps_ns[i] == stamp_ns:
            i0 = i1 = i
        elif i == 0 or i == len(self.stamps_ns):
            return None
        else:
            i0, i1 = i - 1, i
            if self.stamps_ns[i1] - self.stamps_ns[i0] > max_gap_ns:
                return None
        a = 0.0 if i0 == i1 else (stamp_ns - self.stamps_ns[i0]) / (
            self.stamps_ns[i1] - self.stamps_ns[i0])
        pose = np.eye(4)
        pose[:3, :3] = quaternion_matrix(_slerp(self.quaternions[i0], self.quaternions[i1], a))
        pose[:3, 3] = (1 - a) * self.positions[i0] + a * self.positions[i1]
        return pose


def read_tum_poses(path: Path) -> PoseTrack:
    """Read a TUM trajectory file: `timestamp tx ty tz qx qy qz qw` a line, `#` comments."""
    path = Path(path)
    if not path.is_file():
        raise PoseFileError(f'{path}: pose file not found')
    rows: List[Tuple[int, List[float]]] = []
    for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = line.replace(',', ' ').split()
        try:
            values = [float(v) for v in parts]
        except ValueError:
            values = []
        if len(values) != 8 or not np.all(np.isfinite(values)):
            raise PoseFileError(f'{path}:{number}: expected "timestamp tx ty tz qx qy qz qw", '
                                f'got {line[:80]!r}')
        if np.linalg.norm(values[4:]) < 1e-6:
            raise PoseFileError(f'{path}:{number}: zero quaternion')
        rows.append((int(round(values[0] * 1e9)), values[1:]))
    if not rows:
        raise PoseFileError(f'{path}: holds no poses')
    rows.sort(key=lambda r: r[0])
    values = np.array([r[1] for r in rows], np.float64)
    quats = values[:, 3:] / np.linalg.norm(values[:, 3:], axis=1, keepdims=True)
    return PoseTrack([r[0] for r in rows], values[:, :3], quats)


class TransformTree:
    """
    Parent-from-child transforms over time, as /tf and /tf_static carry them.

    `world_from(frame, t)` chains them from the root of the frame's tree (or `fixed_frame`)
    down to `frame`, interpolating each moving transform at `t`.
    """

    def __init__(self) -> None:
        self._edges: Dict[str, Tuple[str, bool, List[Tuple[int, List[float]]]]] = {}
        self._tracks: Dict[str, PoseTrack] = {}

    def add(self, parent: str, child: str, stamp_ns: int, translation: Sequence[float],
            rotation_xyzw: Sequence[float], static: bool = False) -> None:
        entry = self._edges.setdefault(child.lstrip('/'), (parent.lstrip('/'), static, []))
        entry[2].append((int(stamp_ns), [*map(float, translation), *map(float, rotation_xyzw)]))
        self._tracks.pop(child.lstrip('/'), None)

    def frames(self) -> List[str]:
        return sorted(set(self._edges) | {p for p, _, _ in self._edges.values()})

    def _track(self, child: str) -> PoseTrack:
        if child not in self._tracks:
            rows = sorted(self._edges[child][2], key=lambda r: r[0])
            values = np.array([r[1] for r in rows], np.float64)
            quats = values[:, 3:] / np.linalg.norm(values[:, 3:], axis=1, keepdims=True)
            self._tracks[child] = PoseTrack([r[0] for r in rows], values[:, :3], quats)
        return self._tracks[child]

    def world_from(self, frame: str, stamp_ns: int, fixed_frame: str = '',
                   max_gap_ns: int = MAX_POSE_GAP_NS) -> Optional[np.ndarray]:
        """4x4 root-from-`frame` at `stamp_ns`; None where a moving link has no data."""
        pose, node, seen = np.eye(4), frame.lstrip('/'), set()
        while node in self._edges and node != fixed_frame and node not in seen:
            seen.add(node)
            parent, static, _ = self._edges[node]
            track = self._track(node)
            link = track.at(track.stamps_ns[-1]) if static else track.at(stamp_ns, max_gap_ns)
            if link is None:
                return None
            pose, node = link @ pose, parent
        if fixed_frame and node != fixed_frame:
            return None
        return pose


def warp_depth(depth: np.ndarray, valid: np.ndarray, intr: Intrinsics,
               dst_from_src: np.ndarray) -> np.ndarray:
    """
    Depth (H, W) of the source frame seen from the destination camera -> (H, W), 0 = none.

    Forward warp: each valid source pixel lands on the nearest destination pixel; where several
    land on one, the nearest surface wins (a z-buffer), so occluded points do not count.
    """
    h, w = depth.shape
    v, u = np.nonzero(valid)
    z = depth[v, u].astype(np.float64)
    points = np.stack([(u - intr.cx) * z / intr.fx, (v - intr.cy) * z / intr.fy, z])
    moved = dst_from_src[:3, :3] @ points + dst_from_src[:3, 3:4]
    z2 = moved[2]
    front = z2 > 1e-6
    moved, z2 = moved[:, front], z2[front]
    u2 = np.rint(intr.fx * moved[0] / z2 + intr.cx).astype(np.int64)
    v2 = np.rint(intr.fy * moved[1] / z2 + intr.cy).astype(np.int64)
    inside = (u2 >= 0) & (u2 < w) & (v2 >= 0) & (v2 < h)
    flat, z2 = v2[inside] * w + u2[inside], z2[inside]
    order = np.argsort(z2, kind='stable')
    first = np.unique(flat[order], return_index=True)[1]  # the nearest point per pixel
    out = np.zeros(h * w, np.float32)
    out[flat[order][first]] = z2[order][first]
    return out.reshape(h, w)


def relative_difference(warped: np.ndarray, target: np.ndarray,
                        target_valid: np.ndarray) -> Tuple[float, int]:
    """Mean |warped - target| / target over co-visible pixels, and how many there were."""
    covisible = (warped > 0) & target_valid & (target > 0)
    count = int(covisible.sum())
    if count == 0:
        return float('nan'), 0
    t = target[covisible].astype(np.float64)
    return float(np.mean(np.abs(warped[covisible] - t) / t)), count


def sample_track(stamps_ns: Sequence[int], poses: Sequence[Optional[np.ndarray]]) -> PoseTrack:
    """Build a PoseTrack holding exactly the given poses (4x4 or None) at the given stamps."""
    keep = sorted((int(t), p) for t, p in zip(stamps_ns, poses) if p is not None)
    if not keep:
        return PoseTrack([], np.zeros((0, 3)), np.zeros((0, 4)))
    return PoseTrack([t for t, _ in keep], np.array([p[:3, 3] for _, p in keep]),
                     np.array([matrix_quaternion(p[:3, :3]) for _, p in keep]))


def matrix_quaternion(r: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> (qx, qy, qz, qw), the inverse of quaternion_matrix."""
    w = np.sqrt(max(0.0, 1 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    x = np.sqrt(max(0.0, 1 + r[0, 0] - r[1, 1] - r[2, 2])) / 2
    y = np.sqrt(max(0.0, 1 - r[0, 0] + r[1, 1] - r[2, 2])) / 2
    z = np.sqrt(max(0.0, 1 - r[0, 0] - r[1, 1] + r[2, 2])) / 2
    x = np.copysign(x, r[2, 1] - r[1, 2])
    y = np.copysign(y, r[0, 2] - r[2, 0])
    z = np.copysign(z, r[1, 0] - r[0, 1])
    q = np.array([x, y, z, w])
    return q / np.linalg.norm(q)


@dataclass
class _Frame:
    name: str
    pose: Optional[np.ndarray]
    intr: Optional[Intrinsics]
    pred: np.ndarray
    gt: np.ndarray
    valid: np.ndarray


class TemporalConsistency:
    """
    Fed frame by frame in time order; scores each frame t against frame t+k of its sequence.

    Keeps only the last k + 1 frames of each sequence, so memory does not grow with the data.
    Prediction and ground truth are compared on the pixels where ground truth exists in both
    frames (inside the crop), so the two figures describe the same part of the scene.
    """

    def __init__(self, poses: PoseTrack, k: int = 1, min_depth: float = 1e-3,
                 max_depth: float = 10.0, crop: Optional[str] = None,
                 intrinsics: Optional[Intrinsics] = None) -> None:
        if k < 1:
            raise ValueError(f'temporal k must be >= 1, got {k}')
        self.poses, self.k = poses, k
        self.min_depth, self.max_depth, self.crop = min_depth, max_depth, crop
        self.intrinsics = intrinsics
        self._recent: Dict[str, Deque[_Frame]] = {}
        self.rows: Dict[str, Dict[str, float]] = {}
        self.without_pose = 0
        self.without_overlap = 0

    def add(self, item: Dict, pred: np.ndarray) -> None:
        """Take one evaluated frame (a dataset item and its prediction in metres)."""
        if 'stamp_ns' not in item:
            raise ValueError(f'{item["name"]}: temporal consistency needs frame stamps; this '
                             'dataset has none (use a bag, a tum sequence, or drop --poses)')
        intr = self.intrinsics or item.get('intrinsics')
        if intr is None:
            raise ValueError(f'{item["name"]}: temporal consistency needs the intrinsics '
                             '(camera_info, intrinsics.txt or --intrinsics)')
        gt = item['depth']
        valid = (gt > self.min_depth) & (gt < self.max_depth) & crop_mask(self.crop, *gt.shape)
        pred = np.clip(np.nan_to_num(pred, nan=self.min_depth), self.min_depth, self.max_depth)
        frame = _Frame(item['name'], self.poses.at(int(item['stamp_ns'])), intr,
                       pred.astype(np.float32), gt, valid)
        recent = self._recent.setdefault(str(item.get('sequence', '')),
                                         deque(maxlen=self.k + 1))
        recent.append(frame)
        if len(recent) == self.k + 1:
            self._score(recent[0], recent[-1])

    def _score(self, src: _Frame, dst: _Frame) -> None:
        if src.pose is None or dst.pose is None:
            self.without_pose += 1
            return
        dst_from_src = np.linalg.inv(dst.pose) @ src.pose
        pred_rel, _ = relative_difference(
            warp_depth(src.pred, src.valid, src.intr, dst_from_src), dst.pred, dst.valid)
        gt_rel, count = relative_difference(
            warp_depth(src.gt, src.valid, src.intr, dst_from_src), dst.gt, dst.valid)
        if count == 0 or not np.isfinite(pred_rel):
            self.without_overlap += 1
            return
        self.rows[src.name] = {'temporal_rel': pred_rel, 'temporal_rel_gt': gt_rel,
                               'temporal_pixels': count}

    def summary(self) -> Dict[str, float]:
        """Means over scored pairs, the pair count and why other pairs were left out."""
        rows = list(self.rows.values())
        mean = (lambda key: float(np.mean([r[key] for r in rows])) if rows else float('nan'))
        return {'temporal_k': self.k, 'temporal_pairs': len(rows),
                'temporal_rel': mean('temporal_rel'), 'temporal_rel_gt': mean('temporal_rel_gt'),
                'temporal_pairs_without_pose': self.without_pose,
                'temporal_pairs_without_overlap': self.without_overlap}
