# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The standard monocular depth metrics and evaluation crops, computed image by image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

METRICS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10',
           'silog')
# Per-image temporal consistency (train/temporal.py): prediction, ground truth, pixels compared.
TEMPORAL_COLUMNS = ('temporal_rel', 'temporal_rel_gt', 'temporal_pixels')


# Crops given as fractions of the ground truth's rows and columns, cut as BTS cuts them
# (bts_eval.py, utils/eval_with_pngs.py: float64 product truncated to an integer).
FRACTION_CROPS = {
    'garg': ((0.40810811, 0.99189189), (0.03594771, 0.96405229)),
    'kitti_eigen': ((0.3324324, 0.91351351), (0.0359477, 0.96405229)),
}
NYU_SIZE = (480, 640)


def eigen_crop_mask(height: int, width: int) -> np.ndarray:
    """NYU Eigen crop: rows 45..470, columns 41..600 of a 480x640 image."""
    if (height, width) != NYU_SIZE:
        raise ValueError(f'the NYU Eigen crop is defined for 480x640, got {height}x{width}')
    mask = np.zeros((height, width), bool)
    mask[45:471, 41:601] = True
    return mask


def fraction_crop_mask(name: str, height: int, width: int) -> np.ndarray:
    """Cut a crop of FRACTION_CROPS on a frame of this size."""
    (top, bottom), (left, right) = FRACTION_CROPS[name]
    mask = np.zeros((height, width), bool)
    mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    return mask


def garg_crop_mask(height: int, width: int) -> np.ndarray:
    """KITTI Garg crop, as fractions of the image size (Garg et al. 2016)."""
    return fraction_crop_mask('garg', height, width)


def crop_mask(name: Optional[str], height: int, width: int) -> np.ndarray:
    """Return the mask of a crop geometry (`Protocol.mask`) on a frame of this size."""
    if name in (None, '', 'none'):
        return np.ones((height, width), bool)
    if name == 'nyu_eigen':
        return eigen_crop_mask(height, width)
    if name in FRACTION_CROPS:
        return fraction_crop_mask(name, height, width)
    raise ValueError(f'unknown crop {name!r} (none, nyu_eigen, {", ".join(FRACTION_CROPS)})')


# -- evaluation protocols by name ---------------------------------------------------------------
# (dataset family, crop) -> (mask geometry, scored on the full KITTI frame, where it comes from)
CROPS = {
    ('kitti', 'garg'): ('garg', True, 'BTS offline evaluation (bts_eval.py, eval_with_pngs.py): '
                        'Garg crop of the full frame, the KB-crop prediction padded back'),
    ('kitti', 'garg_kb'): ('garg', False, 'BTS online validation (bts_main.py), as AdaBins and '
                           'NeWCRFs: Garg crop of the 352x1216 KB crop'),
    ('kitti', 'eigen'): ('kitti_eigen', True, 'BTS offline evaluation: Eigen crop of the full '
                         'frame, the KB-crop prediction padded back'),
    ('kitti', 'none'): ('none', False, 'every pixel of the KB crop'),
    ('nyu', 'eigen'): ('nyu_eigen', False, 'Eigen crop, rows 45:471, cols 41:601 of 480x640 '
                       '(as BTS, AdaBins, NeWCRFs)'),
    ('nyu', 'none'): ('none', False, 'every pixel'),
    ('frame', 'none'): ('none', False, 'every pixel'),
    ('frame', 'eigen'): ('nyu_eigen', False, 'NYU Eigen crop (480x640 frames)'),
    ('frame', 'garg'): ('garg', False, 'Garg fractions of the frame as given'),
}
DEFAULT_CROP = {'kitti': 'garg', 'nyu': 'eigen', 'frame': 'none'}
DEPTH_RANGE_M = {'kitti': (1e-3, 80.0), 'nyu': (1e-3, 10.0)}
CROP_NAMES = ('none', 'garg', 'garg_kb', 'eigen')


def dataset_family(dataset: str) -> str:
    """'kitti', 'nyu' (nyu, nyu_mat) or 'frame' (folder, tum, bag: scored as given)."""
    return {'kitti': 'kitti', 'nyu': 'nyu', 'nyu_mat': 'nyu'}.get(dataset, 'frame')


@dataclass(frozen=True)
class Protocol:
    """What a table of metrics was computed under: dataset, crop, depth range, flip, focal."""

    dataset: str
    crop: str
    min_depth: float
    max_depth: float
    flip: bool = False
    focal: str = ''

    @property
    def family(self) -> str:
        return dataset_family(self.dataset)

    @property
    def mask(self) -> str:
        """Name the crop geometry on the ground truth the protocol scores."""
        return CROPS[(self.family, self.crop)][0]

    @property
    def full_frame(self) -> bool:
        """KITTI `garg`, `eigen`: scored on the full frame, the KB-crop prediction padded."""
        return CROPS[(self.family, self.crop)][1]

    @property
    def source(self) -> str:
        return CROPS[(self.family, self.crop)][2]

    def describe(self) -> str:
        """One line for tables and logs."""
        text = (f'protocol: {self.dataset}, crop {self.crop} ({self.source}), depth '
                f'{self.min_depth:g}..{self.max_depth:g} m, flip {"on" if self.flip else "off"}')
        return text + (f', focal {self.focal}' if self.focal else '')

    def tag(self) -> str:
        """Short form for per-image rows: `kitti garg 0.001..80 m flip off`."""
        return (f'{self.dataset} {self.crop} {self.min_depth:g}..{self.max_depth:g} m flip '
                f'{"on" if self.flip else "off"}')

    def to_dict(self) -> Dict[str, object]:
        return {'dataset': self.dataset, 'crop': self.crop, 'crop_source': self.source,
                'min_depth_m': self.min_depth, 'max_depth_m': self.max_depth,
                'flip': self.flip, 'focal': self.focal}


def resolve_protocol(dataset: str, crop: Optional[str] = None,
                     max_depth: Optional[float] = None, flip: bool = False,
                     focal: str = '') -> Protocol:
    """
    Return the protocol of a dataset: its published crop and depth range, or `crop`.

    KITTI 1e-3..80 m, NYU 1e-3..10 m; other datasets (folder, tum, bag) are scored on the frame
    as given, up to `max_depth` (the model's, 10 m when unknown).
    """
    family = dataset_family(dataset)
    crop = crop or DEFAULT_CROP[family]
    if (family, crop) not in CROPS:
        offered = ', '.join(c for f, c in CROPS if f == family)
        raise ValueError(f'--crop {crop}: not a protocol of {dataset} (offered: {offered})')
    low, high = DEPTH_RANGE_M.get(family, (1e-3, max_depth or 10.0))
    return Protocol(dataset, crop, low, high, flip, focal)


def scored_frame(item: Dict, pred: np.ndarray, protocol: Protocol
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """
    (ground truth, prediction) on the frame the protocol scores.

    KITTI `garg` and `eigen` score the full frame, as BTS's offline evaluation: the prediction
    for the KB crop is padded back with zeros (which count as the minimum depth) into the
    full-size ground truth the dataset keeps (`depth_full`, `kb_offset`).
    """
    if not protocol.full_frame:
        return item['depth'], pred
    if 'depth_full' not in item:
        raise ValueError(f'{item.get("name", "frame")}: the {protocol.dataset} {protocol.crop} '
                         'protocol needs the full-frame ground truth (a KITTI list dataset); '
                         'use --crop garg_kb for ground truth cropped already')
    full = item['depth_full']
    top, left = item['kb_offset']
    padded = np.zeros(full.shape, np.float32)
    padded[top:top + pred.shape[0], left:left + pred.shape[1]] = pred
    return full, padded


def range_counts(gt: np.ndarray, min_depth: float, max_depth: float,
                 mask: np.ndarray) -> Tuple[int, int]:
    """(measured pixels in the crop, those outside (min, max): left out of the metrics)."""
    measured = (gt > 0) & mask
    inside = measured & (gt > min_depth) & (gt < max_depth)
    n = int(measured.sum())
    return n, n - int(inside.sum())


def compute_errors(gt: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """Metrics over matching 1-D arrays of valid ground truth and predictions (metres)."""
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    err = np.log(pred) - np.log(gt)
    return {
        'delta1': float((thresh < 1.25).mean()),
        'delta2': float((thresh < 1.25 ** 2).mean()),
        'delta3': float((thresh < 1.25 ** 3).mean()),
        'abs_rel': float(np.mean(np.abs(diff) / gt)),
        'sq_rel': float(np.mean(diff ** 2 / gt)),
        'rmse': float(np.sqrt(np.mean(diff ** 2))),
        'rmse_log': float(np.sqrt(np.mean(err ** 2))),
        'log10': float(np.mean(np.abs(np.log10(gt) - np.log10(pred)))),
        'silog': float(np.sqrt(max(np.mean(err ** 2) - np.mean(err) ** 2, 0.0)) * 100),
    }


def image_errors(gt: np.ndarray, pred: np.ndarray, min_depth: float, max_depth: float,
                 crop: Optional[str] = None) -> Optional[Dict[str, float]]:
    """One image: clip predictions to [min, max], keep valid in-crop ground truth."""
    pred = np.clip(np.nan_to_num(pred, nan=min_depth), min_depth, max_depth)
    valid = (gt > min_depth) & (gt < max_depth) & crop_mask(crop, *gt.shape)
    if not valid.any():
        return None
    return compute_errors(gt[valid].astype(np.float64), pred[valid].astype(np.float64))


def average(per_image: List[Dict[str, float]]) -> Dict[str, float]:
    """Mean of each metric over images (the papers' protocol), plus `count`."""
    out = {k: float(np.mean([m[k] for m in per_image])) if per_image else float('nan')
           for k in METRICS}
    out['count'] = len(per_image)
    return out


def format_table(metrics: Dict[str, float], protocol: Optional[Protocol] = None) -> str:
    """
    Print the protocol, then two lines in the layout of depth papers: errors, accuracies.

    Below them: the share of measured ground truth left out by the depth range, and the time
    per image where measured.
    """
    keys = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog', 'delta1', 'delta2',
            'delta3')
    heads = ('AbsRel', 'SqRel', 'RMSE', 'RMSElog', 'log10', 'SILog', 'd<1.25', 'd<1.25^2',
             'd<1.25^3')
    head = ' '.join(f'{h:>9}' for h in heads)
    row = ' '.join(f'{metrics[k]:9.4f}' for k in keys)
    text = f'{head}\n{row}\n({metrics["count"]} images)'
    if protocol is not None:
        text = f'{protocol.describe()}\n{text}'
    if 'gt_out_of_range_fraction' in metrics and protocol is not None:
        text += (f'\nground truth: median {metrics["gt_median_m"]:.3g} m; '
                 f'{100 * metrics["gt_out_of_range_fraction"]:.2f} % of the measured pixels in '
                 f'the crop lie outside {protocol.min_depth:g}..{protocol.max_depth:g} m and '
                 'are left out')
    if 'time_model_ms' in metrics:
        text += (f'\ntime per image: model {metrics["time_model_ms"]:.1f} ms, end to end '
                 f'{metrics["time_end_to_end_ms"]:.1f} ms (reading, prediction, metrics)')
    if 'temporal_rel' in metrics:
        text += (f'\ntemporal consistency, frame t vs t+{metrics["temporal_k"]} '
                 f'({metrics["temporal_pairs"]} pairs; mean |warped - depth| / depth on '
                 f'co-visible pixels): prediction {metrics["temporal_rel"]:.4f}, '
                 f'ground truth {metrics["temporal_rel_gt"]:.4f}')
    return text
