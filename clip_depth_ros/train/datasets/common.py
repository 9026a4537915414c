# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What every dataset shares: errors, reading a pair, stamps, splits, pairs.csv."""

from __future__ import annotations

import bisect
import csv
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from clip_depth_ros.engine.output_files import write_atomic
from clip_depth_ros.frames.image_io import ImageReadError, read_depth_png, read_rgb
import numpy as np

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names it."""


def check_pair(image: np.ndarray, depth: np.ndarray, depth_path) -> None:
    if depth.shape != image.shape[:2]:
        raise DatasetError(f'{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]}, its '
                           f'image is {image.shape[1]}x{image.shape[0]}')


def read_pair(rgb_path: Path, depth_path: Optional[Path],
              depth_scale: float) -> Tuple[np.ndarray, np.ndarray]:
    """
    Read an image and its depth in metres, checked to be the same size; errors name the file.

    Depth: a uint16 PNG (value / depth_scale), a float32 (H, W) .npy in metres, or None (no
    ground truth: all zero).
    """
    try:
        image = read_rgb(rgb_path)
        if depth_path is None:
            depth = np.zeros(image.shape[:2], np.float32)
        elif Path(depth_path).suffix == '.npy':
            depth = np.load(depth_path, allow_pickle=False)
            if depth.dtype != np.float32 or depth.ndim != 2:
                raise DatasetError(f'{depth_path}: expected float32 (H, W) metres, got '
                                   f'{depth.dtype} {depth.shape}')
            depth = np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
        else:
            depth = read_depth_png(depth_path, depth_scale)
    except (ImageReadError, ValueError) as e:
        raise DatasetError(str(e) if str(depth_path) in str(e) or str(rgb_path) in str(e)
                           else f'{depth_path}: {e}') from e
    check_pair(image, depth, depth_path)
    return image, depth


def read_intrinsics_txt(path: Path, required: bool = False
                        ) -> Optional[Tuple[float, float, float, float]]:
    """`fx fy cx cy` in pixels from an intrinsics.txt; None when absent and not required."""
    path = Path(path)
    if not path.is_file():
        if required:
            raise DatasetError(f'{path}: intrinsics file not found')
        return None
    try:
        fx, fy, cx, cy = map(float, path.read_text().split())
    except ValueError:
        raise DatasetError(f'{path}: expected four numbers "fx fy cx cy"')
    if not (fx > 0 and fy > 0 and np.isfinite([fx, fy, cx, cy]).all()):
        raise DatasetError(f'{path}: focal lengths must be positive and finite')
    return fx, fy, cx, cy


def associate(first: Sequence[int], second: Sequence[int], tolerance_ns: int
              ) -> List[Tuple[int, int]]:
    """
    One-to-one pairs (i, j) of stamps with |first[i] - second[j]| <= tolerance, closest first.

    The rule of TUM's associate tool, used for rosbags and TUM lists alike; `second` sorted.
    """
    candidates = []
    for i, stamp in enumerate(first):
        lo = bisect.bisect_left(second, stamp - tolerance_ns)
        hi = bisect.bisect_right(second, stamp + tolerance_ns)
        candidates.extend((abs(stamp - second[j]), i, j) for j in range(lo, hi))
    candidates.sort()
    used_i, used_j, pairs = set(), set(), []
    for _, i, j in candidates:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def time_split(count: int, val_fraction: float) -> int:
    """How many of `count` time-ordered frames go to training; the last ones validate."""
    n_val = int(round(count * val_fraction))
    if val_fraction > 0 and count >= 2:
        n_val = max(n_val, 1)
    return count - min(n_val, count - 1 if count >= 2 else 0)


def split_with_gap(stamps_ns: Sequence[int], val_fraction: float,
                   gap_s: float = 0.0) -> Tuple[int, int]:
    """
    (train_end, val_start) of time-ordered frames: [:train_end] train, [val_start:] validate.

    `time_split` decides where validation starts; training then ends `gap_s` before the first
    validation frame, so that near-duplicate neighbours (30 Hz) are not on both sides.
    """
    val_start = time_split(len(stamps_ns), val_fraction)
    if gap_s <= 0 or val_start >= len(stamps_ns):
        return val_start, val_start
    limit = stamps_ns[val_start] - int(round(gap_s * 1e9))
    return bisect.bisect_right(stamps_ns, limit, 0, val_start), val_start


PAIR_FIELDS = ('source', 'image_stamp_ns', 'depth_stamp_ns', 'dt_ms', 'split')


def write_pairs(out_dir: Path, train=None, val=None, split_name: str = '') -> Optional[Path]:
    """
    List every frame pair of a run's data in `out_dir/pairs.csv` (bag or TUM datasets).

    Rows: source (bag or folder), colour and depth stamps, their offset, and the split
    (train, val, gap for pairs within `val_gap_s` before validation, or unmatched_colour /
    unmatched_depth for frames left without a partner).
    Datasets without stamps write nothing.
    """
    parts = [(d, split_name or s) for d, s in ((train, 'train'), (val, 'val'))
             if d is not None and hasattr(d, 'pair_rows')]
    if not parts:
        return None
    path = Path(out_dir) / 'pairs.csv'
    path.parent.mkdir(parents=True, exist_ok=True)
    seen_unused = set()  # train and val of one run share the bags' unmatched frames

    def write(tmp: Path) -> None:
        with open(tmp, 'w', newline='', encoding='utf-8') as f:
            writer = csv.DictWriter(f, fieldnames=PAIR_FIELDS)
            writer.writeheader()
            for dataset, split in parts:
                writer.writerows(dataset.pair_rows(split))
            for dataset, _ in parts:
                for row in getattr(dataset, 'unused_rows', lambda: ())():
                    key = tuple(row.values())
                    if key not in seen_unused:
                        seen_unused.add(key)
                        writer.writerow(row)

    return write_atomic(path, write)
