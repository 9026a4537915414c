# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A robot's own data as `rgb/` and `depth/` folders of matching file names."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from clip_depth_ros.frames.geometry import Intrinsics
from clip_depth_ros.train.datasets.common import (DatasetError, DepthCheck, IMAGE_SUFFIXES,
                                                  read_intrinsics_txt, read_pair, scale_hint)


class FolderDataset:
    """`rgb/NAME.(png|jpg)` with `depth/NAME.png` (uint16 / depth_scale) or `depth/NAME.npy`."""

    def __init__(self, root: Path, depth_scale: float = 1000.0,
                 names: Optional[Sequence[str]] = None, depth_format: str = 'linear',
                 max_depth_m: float = 10.0, depth_check: Optional[DepthCheck] = None) -> None:
        self.root = Path(root)
        self.depth_scale = depth_scale
        self.depth_format = depth_format
        self.depth_check = depth_check or DepthCheck(
            1e-3, max_depth_m, scale_hint(depth_scale, depth_format),
            png_scale=depth_scale if depth_format == 'linear' else None)
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

    def frame_names(self) -> List[str]:
        return [str(rgb) for rgb, _ in self.pairs]

    def names(self) -> List[str]:
        return [rgb.stem for rgb, _ in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Dict:
        rgb_path, depth_path = self.pairs[index]
        image, depth = read_pair(rgb_path, depth_path, self.depth_scale, self.depth_format)
        self.depth_check(depth, depth_path)
        item = {'image': image, 'depth': depth, 'focal': self.focal, 'name': rgb_path.stem}
        if self.camera:
            item['intrinsics'] = Intrinsics(*self.camera, image.shape[1], image.shape[0])
        return item
