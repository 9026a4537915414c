# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Depth datasets in the layouts people download, and a plain folder for a robot's own data.

BTS lists (NYU, KITTI), NYU's labelled .mat, and `rgb/` + `depth/` folders.

Every item is a dict: `image` (H, W, 3) uint8 RGB, `depth` (H, W) float32 metres with 0 where
there is no measurement, `focal` in pixels (0 when unknown), `name`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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
        try:
            image = read_rgb(rgb_path)
            if depth_path is None:
                depth = np.zeros(image.shape[:2], np.float32)
            else:
                depth = read_depth_png(depth_path, self.depth_scale)
        except ImageReadError as e:
            raise DatasetError(str(e)) from e
        _check_pair(image, depth, depth_path)
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
        self.focal = self._read_focal()

    def _read_focal(self) -> float:
        path = self.root / 'intrinsics.txt'
        if not path.is_file():
            return 0.0
        try:
            fx, fy, cx, cy = map(float, path.read_text().split())
        except ValueError:
            raise DatasetError(f'{path}: expected four numbers "fx fy cx cy"')
        return fx

    def names(self) -> List[str]:
        return [rgb.stem for rgb, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Dict:
        rgb_path, depth_path = self.pairs[index]
        try:
            image = read_rgb(rgb_path)
            if depth_path.suffix == '.npy':
                depth = np.load(depth_path, allow_pickle=False)
                if depth.dtype != np.float32 or depth.ndim != 2:
                    raise DatasetError(f'{depth_path}: expected float32 (H, W) metres, got '
                                       f'{depth.dtype} {depth.shape}')
                depth = np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
            else:
                depth = read_depth_png(depth_path, self.depth_scale)
        except (ImageReadError, ValueError) as e:
            raise DatasetError(str(e) if str(depth_path) in str(e) or str(rgb_path) in str(e)
                               else f'{depth_path}: {e}') from e
        _check_pair(image, depth, depth_path)
        return {'image': image, 'depth': depth, 'focal': self.focal, 'name': rgb_path.stem}


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
