# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""NYU Depth v2's labelled .mat file and the official splits.mat (654 test images)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from clip_depth_ros.train.datasets.common import DatasetError, DepthCheck
import numpy as np


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
        self.depth_check = DepthCheck(1e-3, 10.0, 'the labelled .mat holds metres')

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

    def frame_names(self) -> List[str]:
        """`nyu_mat/N`, N the 1-based index in the .mat (as splits.mat counts)."""
        return [f'nyu_mat/{i + 1}' for i in self.indices]

    def __getitem__(self, index: int) -> Dict:
        import h5py
        if self._file is None:  # opened per worker process: h5py handles do not survive fork
            self._file = h5py.File(self.mat_path, 'r')
        i = self.indices[index]
        # MATLAB column-major: images (N, 3, W, H), depths (N, W, H).
        image = np.ascontiguousarray(self._file['images'][i].transpose(2, 1, 0))
        depth = np.ascontiguousarray(self._file['depths'][i].T).astype(np.float32)
        self.depth_check(depth, f'{self.mat_path} image {i + 1}')
        return {'image': image, 'depth': depth, 'focal': 518.8579, 'name': f'nyu_mat/{i + 1}'}

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_file'] = None
        return state
