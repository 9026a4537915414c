# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Depth datasets in the layouts people download, and a plain folder for a robot's own data.

BTS lists (NYU, KITTI), NYU's labelled .mat, `rgb/` + `depth/` folders, TUM RGB-D sequences,
and rosbag2 bags (`bag_dataset.py`).

Every item is a dict: `image` (H, W, 3) uint8 RGB, `depth` (H, W) float32 metres with 0 where
there is no measurement, `focal` = fx in pixels at the item's own resolution (0 when unknown),
`name`; sequences add `stamp_ns` (int), `sequence` (str) and `intrinsics`
(geometry.Intrinsics) where known, for temporal consistency.
"""

from __future__ import annotations

import bisect
import csv
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from clip_depth_ros.geometry import Intrinsics
from clip_depth_ros.image_io import ImageReadError, read_depth_png, read_rgb
import numpy as np

Entry = Tuple[Path, Optional[Path], float]
KB_CROP = (352, 1216)
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names it."""


def parse_bts_list(list_file: Path, root: Path, gt_root: Optional[Path] = None,
                   require_depth: bool = True) -> List[Entry]:
    """Read a BTS list (`rgb depth focal` per line) and check every file exists up front."""
    gt_root = gt_root or root
    if not Path(list_file).is_file():
        raise DatasetError(f'{list_file}: list file not found')
    entries: List[Entry] = []
    missing: List[str] = []
    for number, line in enumerate(Path(list_file).read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise DatasetError(f'{list_file}:{number}: expected "rgb depth focal", got {line!r}')
        rgb = root / parts[0].lstrip('/')
        depth = None if parts[1] == 'None' else gt_root / parts[1].lstrip('/')
        try:
            focal = float(parts[2])
        except ValueError:
            raise DatasetError(f'{list_file}:{number}: focal {parts[2]!r} is not a number')
        if not rgb.is_file():
            missing.append(f'{list_file}:{number}: {rgb}')
        if depth is not None and not depth.is_file():
            missing.append(f'{list_file}:{number}: {depth}')
        if depth is None and require_depth:
            continue  # KITTI lists mark frames without ground truth with None
        entries.append((rgb, depth, focal))
    if missing:
        more = f' (and {len(missing) - 5} more)' if len(missing) > 5 else ''
        raise DatasetError('missing files: ' + '; '.join(missing[:5]) + more)
    if not entries:
        raise DatasetError(f'{list_file}: lists no usable frames')
    return entries


def _check_pair(image: np.ndarray, depth: np.ndarray, depth_path) -> None:
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
    _check_pair(image, depth, depth_path)
    return image, depth


def kb_crop(array: np.ndarray) -> np.ndarray:
    """KITTI benchmark crop: bottom 352 rows, centre 1216 columns."""
    h, w = array.shape[:2]
    ch, cw = KB_CROP
    if h < ch or w < cw:
        raise DatasetError(f'image {w}x{h} is smaller than the KITTI crop {cw}x{ch}')
    top, left = h - ch, (w - cw) // 2
    return array[top:top + ch, left:left + cw]


class ListDataset:
    """Frames from a BTS list; depth PNG value / depth_scale = metres."""

    def __init__(self, entries: Sequence[Entry], depth_scale: float,
                 crop_kb: bool = False) -> None:
        self.entries = list(entries)
        self.depth_scale = depth_scale
        self.crop_kb = crop_kb

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Dict:
        rgb_path, depth_path, focal = self.entries[index]
        image, depth = read_pair(rgb_path, depth_path, self.depth_scale)
        if self.crop_kb:
            image, depth = kb_crop(image), kb_crop(depth)
        return {'image': image, 'depth': depth, 'focal': focal, 'name': str(rgb_path)}


class NyuMatDataset:
    """NYU Depth v2 `nyu_depth_v2_labeled.mat` (HDF5), optionally a split from `splits.mat`."""

    def __init__(self, mat_path: Path, splits_path: Optional[Path] = None,
                 split: str = 'test') -> None:
        import h5py
        self.mat_path = Path(mat_path)
        if not self.mat_path.is_file():
            raise DatasetError(f'{mat_path}: not found')
        try:
            with h5py.File(self.mat_path, 'r') as f:
                count = f['images'].shape[0]
                if f['depths'].shape[0] != count:
                    raise DatasetError(f'{mat_path}: {count} images but '
                                       f'{f["depths"].shape[0]} depth maps')
        except (OSError, KeyError) as e:
            raise DatasetError(f'{mat_path}: not a labelled NYU .mat (HDF5 with images and '
                               f'depths): {e}') from e
        if splits_path is None:
            self.indices = list(range(count))
        else:
            self.indices = self._read_split(Path(splits_path), split, count)
        self._file = None

    @staticmethod
    def _read_split(path: Path, split: str, count: int) -> List[int]:
        import scipy.io
        key = {'test': 'testNdxs', 'train': 'trainNdxs'}[split]
        try:
            one_based = scipy.io.loadmat(str(path))[key].ravel()
        except (OSError, ValueError, KeyError) as e:
            raise DatasetError(f'{path}: cannot read {key}: {e}') from e
        if one_based.min() < 1 or one_based.max() > count:
            raise DatasetError(f'{path}: {key} indexes outside 1..{count}')
        return [int(i) - 1 for i in one_based]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Dict:
        import h5py
        if self._file is None:  # opened per worker process: h5py handles do not survive fork
            self._file = h5py.File(self.mat_path, 'r')
        i = self.indices[index]
        # MATLAB column-major: images (N, 3, W, H), depths (N, W, H).
        image = np.ascontiguousarray(self._file['images'][i].transpose(2, 1, 0))
        depth = np.ascontiguousarray(self._file['depths'][i].T).astype(np.float32)
        return {'image': image, 'depth': depth, 'focal': 518.8579, 'name': f'nyu_mat/{i + 1}'}

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_file'] = None
        return state


class FolderDataset:
    """`rgb/NAME.(png|jpg)` with `depth/NAME.png` (uint16 / depth_scale) or `depth/NAME.npy`."""

    def __init__(self, root: Path, depth_scale: float = 1000.0,
                 names: Optional[Sequence[str]] = None) -> None:
        self.root = Path(root)
        self.depth_scale = depth_scale
        rgb_dir, depth_dir = self.root / 'rgb', self.root / 'depth'
        if not rgb_dir.is_dir():
            raise DatasetError(f'{rgb_dir}: not found (expected rgb/ and depth/ folders)')
        images = {p.stem: p for p in sorted(rgb_dir.iterdir())
                  if p.suffix.lower() in IMAGE_SUFFIXES}
        pairs = []
        missing = []
        for stem in (names if names is not None else sorted(images)):
            depth = next((depth_dir / f'{stem}{s}' for s in ('.png', '.npy')
                          if (depth_dir / f'{stem}{s}').is_file()), None)
            if stem not in images:
                missing.append(str(rgb_dir / stem) + '.(png|jpg)')
            elif depth is None:
                missing.append(str(depth_dir / stem) + '.(png|npy)')
            else:
                pairs.append((images[stem], depth))
        if missing:
            raise DatasetError('missing files: ' + '; '.join(missing[:5]))
        if not pairs:
            raise DatasetError(f'{self.root}: no image/depth pairs')
        self.pairs = pairs
        self.camera = read_intrinsics_txt(self.root / 'intrinsics.txt')
        self.focal = self.camera[0] if self.camera else 0.0

    def names(self) -> List[str]:
        return [rgb.stem for rgb, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Dict:
        rgb_path, depth_path = self.pairs[index]
        image, depth = read_pair(rgb_path, depth_path, self.depth_scale)
        item = {'image': image, 'depth': depth, 'focal': self.focal, 'name': rgb_path.stem}
        if self.camera:
            item['intrinsics'] = Intrinsics(*self.camera, image.shape[1], image.shape[0])
        return item


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


class TumDataset:
    """
    A TUM RGB-D sequence folder: `associations.txt`, or `rgb.txt` + `depth.txt` paired here.

    Depth PNG value / 5000 = metres (TUM's scale); `intrinsics.txt` (fx fy cx cy) when present.
    Frames keep their stamps, so poses (`groundtruth.txt`) can score temporal consistency.
    """

    def __init__(self, root: Path, depth_scale: float = 5000.0,
                 tolerance_ns: int = 20_000_000,
                 frames: Optional[Sequence[Tuple[int, Path, int, Path]]] = None,
                 gap: Sequence[Tuple[int, Path, int, Path]] = ()) -> None:
        self.root = Path(root)
        self.gap = list(gap)  # frames in the val_gap_s gap: listed in pairs.csv, never used
        self.depth_scale = depth_scale
        self.frames = list(frames) if frames is not None else self._read_lists(tolerance_ns)
        if not self.frames:
            raise DatasetError(f'{self.root}: no rgb/depth pairs')
        missing = [str(p) for f in self.frames for p in (f[1], f[3]) if not p.is_file()]
        if missing:
            raise DatasetError('missing files: ' + '; '.join(missing[:5]))
        self.camera = read_intrinsics_txt(self.root / 'intrinsics.txt')
        self.focal = self.camera[0] if self.camera else 0.0

    def _read_lists(self, tolerance_ns: int) -> List[Tuple[int, Path, int, Path]]:
        assoc = self.root / 'associations.txt'
        if assoc.is_file():
            rows = self._read_list(assoc, 4)
            return sorted((_ns(r[0]), self.root / r[1], _ns(r[2]), self.root / r[3])
                          for r in rows)
        rgb = sorted((_ns(a), self.root / b) for a, b in self._read_list(self.root / 'rgb.txt'))
        depth = sorted((_ns(a), self.root / b)
                       for a, b in self._read_list(self.root / 'depth.txt'))
        pairs = associate([r[0] for r in rgb], [d[0] for d in depth], tolerance_ns)
        return [(rgb[i][0], rgb[i][1], depth[j][0], depth[j][1]) for i, j in pairs]

    @staticmethod
    def _read_list(path: Path, columns: int = 2) -> List[List[str]]:
        if not path.is_file():
            raise DatasetError(f'{path}: not found (a TUM sequence has associations.txt, or '
                               'rgb.txt and depth.txt)')
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts or parts[0].startswith('#'):
                continue
            if len(parts) < columns:
                raise DatasetError(f'{path}:{number}: expected {columns} columns, got {line!r}')
            try:
                float(parts[0])
                if columns == 4:
                    float(parts[2])
            except ValueError:
                raise DatasetError(f'{path}:{number}: timestamp is not a number: {line!r}')
            rows.append(parts[:columns])
        return rows

    def subset(self, start: int, stop: int, gap_stop: Optional[int] = None) -> 'TumDataset':
        """Frames [start:stop]; [stop:gap_stop] are the gap before validation (not used)."""
        return TumDataset(self.root, self.depth_scale, frames=self.frames[start:stop],
                          gap=self.frames[stop:gap_stop] if gap_stop is not None else ())

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Dict:
        stamp, rgb_path, depth_stamp, depth_path = self.frames[index]
        image, depth = read_pair(rgb_path, depth_path, self.depth_scale)
        item = {'image': image, 'depth': depth, 'focal': self.focal, 'name': rgb_path.stem,
                'stamp_ns': stamp, 'depth_stamp_ns': depth_stamp, 'sequence': str(self.root)}
        if self.camera:
            item['intrinsics'] = Intrinsics(*self.camera, image.shape[1], image.shape[0])
        return item

    def pair_rows(self, split: str, frames: Optional[Sequence] = None) -> Iterable[Dict]:
        for stamp, rgb_path, depth_stamp, depth_path in self.frames if frames is None else frames:
            yield {'source': str(self.root), 'image_stamp_ns': stamp,
                   'depth_stamp_ns': depth_stamp,
                   'dt_ms': round((depth_stamp - stamp) / 1e6, 3), 'split': split}

    def unused_rows(self) -> Iterable[Dict]:
        """Frames in the gap before validation."""
        return self.pair_rows('gap', self.gap)


def _ns(seconds: str) -> int:
    """'1305031238.429673' -> ns, exactly (no float rounding of the decimal digits)."""
    whole, _, frac = seconds.partition('.')
    return int(whole) * 1_000_000_000 + int((frac + '000000000')[:9])


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
    with open(path, 'w', newline='', encoding='utf-8') as f:
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
    return path


def build_datasets(data, seed: int = 0):
    """(train, val) datasets for a DataConfig; val never comes from a test split."""
    root = Path(data.root)
    gt_root = Path(data.gt_root) if data.gt_root else root
    if data.dataset == 'folder':
        full = FolderDataset(root, data.depth_scale)
        names = full.names()
        order = np.random.default_rng(seed).permutation(len(names))
        n_val = int(round(len(names) * data.val_fraction))
        if data.val_fraction > 0:
            n_val = max(n_val, 1)
        val_names = sorted(names[i] for i in order[:n_val])
        train_names = sorted(names[i] for i in order[n_val:])
        val = FolderDataset(root, data.depth_scale, val_names) if val_names else None
        return FolderDataset(root, data.depth_scale, train_names), val
    if data.dataset == 'bag':
        from clip_depth_ros.train.bag_dataset import BagTopics, build_bag_datasets
        if not data.root:
            raise DatasetError('data.root: required for the bag dataset (a bag or a folder '
                               'of bags)')
        return build_bag_datasets(
            root, BagTopics(data.image_topic, data.depth_topic, data.camera_info_topic),
            data.pair_tolerance_ms, data.val_fraction, data.bags, data.val_bags,
            data.depth_scale, val_gap_s=data.val_gap_s)
    if data.dataset == 'tum':
        full = TumDataset(root, tolerance_ns=int(round(data.pair_tolerance_ms * 1e6)))
        train_end, val_start = split_with_gap([f[0] for f in full.frames], data.val_fraction,
                                              data.val_gap_s)
        if train_end == 0:
            raise DatasetError(f'{root}: no training frames left {data.val_gap_s:g} s before '
                               'the validation part (data.val_gap_s)')
        val = full.subset(val_start, len(full)) if val_start < len(full) else None
        return full.subset(0, train_end, gap_stop=val_start), val
    if data.dataset == 'nyu_mat':
        raise DatasetError('nyu_mat holds the labelled test images: train on the BTS "sync" '
                           'lists (dataset: nyu) and use nyu_mat for evaluation')
    scale = 1000.0 if data.dataset == 'nyu' else 256.0
    kb = data.dataset == 'kitti'
    if not data.train_list:
        raise DatasetError('data.train_list: required for the nyu and kitti datasets')
    train = ListDataset(parse_bts_list(Path(data.train_list), root, gt_root), scale, kb)
    val = None
    if data.val_list:
        val = ListDataset(parse_bts_list(Path(data.val_list), root, gt_root), scale, kb)
    return train, val
