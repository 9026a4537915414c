# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TUM RGB-D sequences: rgb.txt/depth.txt associated by stamp, time-ordered splits."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from clip_depth_ros.frames.geometry import Intrinsics
from clip_depth_ros.train.datasets.common import (associate, DatasetError, DepthCheck,
                                                  read_intrinsics_txt, read_pair)


class TumDataset:
    """
    A TUM RGB-D sequence folder: `associations.txt`, or `rgb.txt` + `depth.txt` paired here.

    Depth PNG value / 5000 = metres (TUM's scale); `intrinsics.txt` (fx fy cx cy) when present.
    Frames keep their stamps, so poses (`groundtruth.txt`) can score temporal consistency.
    """

    def __init__(self, root: Path, depth_scale: float = 5000.0,
                 tolerance_ns: int = 20_000_000,
                 frames: Optional[Sequence[Tuple[int, Path, int, Path]]] = None,
                 gap: Sequence[Tuple[int, Path, int, Path]] = (),
                 depth_check: Optional[DepthCheck] = None) -> None:
        self.root = Path(root)
        self.depth_check = depth_check or DepthCheck(
            1e-3, 10.0, f'TUM PNG depth is value / 5000, read as value / {depth_scale:g}')
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
                          gap=self.frames[stop:gap_stop] if gap_stop is not None else (),
                          depth_check=self.depth_check)

    def __len__(self) -> int:
        return len(self.frames)

    def frame_names(self) -> List[str]:
        return [str(f[1]) for f in self.frames]

    def __getitem__(self, index: int) -> Dict:
        stamp, rgb_path, depth_stamp, depth_path = self.frames[index]
        image, depth = read_pair(rgb_path, depth_path, self.depth_scale)
        self.depth_check(depth, depth_path)
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
