# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""BTS split lists (NYU Depth v2 and KITTI, as BTS, AdaBins and NeWCRFs ship them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from clip_depth_ros.train.datasets.common import DatasetError, DepthCheck, read_pair
import numpy as np

KB_CROP = (352, 1216)
Entry = Tuple[Path, Optional[Path], float]


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


def kb_crop(array: np.ndarray) -> np.ndarray:
    """KITTI benchmark crop: bottom 352 rows, centre 1216 columns."""
    h, w = array.shape[:2]
    ch, cw = KB_CROP
    if h < ch or w < cw:
        raise DatasetError(f'image {w}x{h} is smaller than the KITTI crop {cw}x{ch}')
    top, left = kb_offset(h, w)
    return array[top:top + ch, left:left + cw]


def kb_offset(height: int, width: int) -> Tuple[int, int]:
    """(top, left) of the KITTI benchmark crop in a full frame (as BTS computes it)."""
    return height - KB_CROP[0], (width - KB_CROP[1]) // 2


class ListDataset:
    """
    Frames from a BTS list; depth PNG value / depth_scale = metres.

    With `crop_kb` (KITTI), image and depth are KB-cropped, and the full-frame ground truth
    stays in the item (`depth_full`, `kb_offset`): BTS's offline protocol scores there.
    """

    def __init__(self, entries: Sequence[Entry], depth_scale: float,
                 crop_kb: bool = False, max_depth_m: Optional[float] = None) -> None:
        self.entries = list(entries)
        self.depth_scale = depth_scale
        self.crop_kb = crop_kb
        kind = 'KITTI PNG depth is value / 256' if crop_kb else 'NYU PNG depth is millimetres'
        self.depth_check = DepthCheck(1e-3, max_depth_m or (80.0 if crop_kb else 10.0),
                                      f'{kind}, read as value / {depth_scale:g}')

    def __len__(self) -> int:
        return len(self.entries)

    def frame_names(self) -> List[str]:
        return [os.path.normpath(str(rgb)) for rgb, _, _ in self.entries]

    def __getitem__(self, index: int) -> Dict:
        rgb_path, depth_path, focal = self.entries[index]
        image, depth = read_pair(rgb_path, depth_path, self.depth_scale)
        self.depth_check(depth, depth_path)
        item = {'image': image, 'depth': depth, 'focal': focal, 'name': str(rgb_path)}
        if self.crop_kb:
            item.update(image=kb_crop(image), depth=kb_crop(depth), depth_full=depth,
                        kb_offset=kb_offset(*depth.shape))
        return item
