# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The standard monocular depth metrics and evaluation crops, computed image by image."""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

METRICS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10',
           'silog')
# Per-image temporal consistency (train/temporal.py): prediction, ground truth, pixels compared.
TEMPORAL_COLUMNS = ('temporal_rel', 'temporal_rel_gt', 'temporal_pixels')


def eigen_crop_mask(height: int, width: int) -> np.ndarray:
    """NYU Eigen crop: rows 45..470, columns 41..600 of a 480x640 image."""
    if (height, width) != (480, 640):
        raise ValueError(f'the Eigen crop is defined for 480x640, got {height}x{width}')
    mask = np.zeros((height, width), bool)
    mask[45:471, 41:601] = True
    return mask


def garg_crop_mask(height: int, width: int) -> np.ndarray:
    """KITTI Garg crop, as fractions of the image size (Garg et al. 2016)."""
    mask = np.zeros((height, width), bool)
    mask[int(0.40810811 * height):int(0.99189189 * height),
         int(0.03594771 * width):int(0.96405229 * width)] = True
    return mask


def crop_mask(name: Optional[str], height: int, width: int) -> np.ndarray:
    if name in (None, '', 'none'):
        return np.ones((height, width), bool)
    if name == 'eigen':
        return eigen_crop_mask(height, width)
    if name == 'garg':
        return garg_crop_mask(height, width)
    raise ValueError(f'unknown crop {name!r} (none, eigen, garg)')


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


def format_table(metrics: Dict[str, float]) -> str:
    """Two lines in the layout of depth papers: lower-is-better errors, then accuracies."""
    keys = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog', 'delta1', 'delta2',
            'delta3')
    heads = ('AbsRel', 'SqRel', 'RMSE', 'RMSElog', 'log10', 'SILog', 'd<1.25', 'd<1.25^2',
             'd<1.25^3')
    head = ' '.join(f'{h:>9}' for h in heads)
    row = ' '.join(f'{metrics[k]:9.4f}' for k in keys)
    text = f'{head}\n{row}\n({metrics["count"]} images)'
    if 'temporal_rel' in metrics:
        text += (f'\ntemporal consistency, frame t vs t+{metrics["temporal_k"]} '
                 f'({metrics["temporal_pairs"]} pairs; mean |warped - depth| / depth on '
                 f'co-visible pixels): prediction {metrics["temporal_rel"]:.4f}, '
                 f'ground truth {metrics["temporal_rel_gt"]:.4f}')
    return text
