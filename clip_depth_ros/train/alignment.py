# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Evaluation after scale anchoring: what a robot with a sparse range sensor would get.

Each prediction is anchored to its own ground truth sampled as a sensor would see it (P % of
the pixels, or N lidar-like rows; frames.anchoring.sample_ground_truth) with the node's fit,
then scored like the unaligned prediction, so the two tables compare directly.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

from clip_depth_ros.config import AnchorConfig
from clip_depth_ros.frames import anchoring
from clip_depth_ros.train.metrics import average, image_errors, METRICS
import numpy as np

# Per-image columns added to per_image.csv: aligned metrics, then the fit.
ALIGNED_COLUMNS = tuple(f'aligned_{k}' for k in METRICS) + (
    'align_scale', 'align_shift', 'align_points', 'align_ok')


class AlignedScores:
    """`add(item, prediction)` as evaluate's on_prediction; `metrics()` after the run."""

    def __init__(self, spec: str, min_depth: float, max_depth: float,
                 crop: Optional[str] = None, seed: int = 0,
                 config: Optional[AnchorConfig] = None) -> None:
        self.spec = spec
        self.kind, self.value = anchoring.parse_align_spec(spec)
        self.min_depth, self.max_depth, self.crop, self.seed = min_depth, max_depth, crop, seed
        self.config = config or AnchorConfig(mode='depth', max_points=1_000_000)
        self.rows: Dict[str, Dict] = {}
        self._scored: List[Dict[str, float]] = []
        self._index = 0

    def add(self, item: Dict, prediction: np.ndarray) -> None:
        gt = np.asarray(item['depth'], np.float32)
        reference = anchoring.sample_ground_truth(gt, self.kind, self.value,
                                                  (self.seed, self._index))
        self._index += 1
        fit = anchoring.fit_points(prediction, reference, self.config)
        aligned = anchoring.apply_correction(prediction, fit.correction) if fit.ok \
            else prediction
        errors = image_errors(gt, aligned, self.min_depth, self.max_depth, self.crop)
        if errors is None:
            return
        self._scored.append(errors)
        row = {f'aligned_{k}': v for k, v in errors.items()}
        row.update(align_scale=fit.correction.scale, align_shift=fit.correction.shift,
                   align_points=fit.points, align_ok=int(fit.ok))
        self.rows[item['name']] = row

    def metrics(self) -> Dict[str, float]:
        """Aligned metrics as `aligned_<metric>`, plus the fits' summary."""
        out = {f'aligned_{k}': v for k, v in average(self._scored).items()}
        fits = list(self.rows.values())
        scales = [r['align_scale'] for r in fits if r['align_ok']]
        out.update(align=self.spec, align_seed=self.seed,
                   align_fitted=len(scales), align_not_fitted=len(fits) - len(scales),
                   align_scale_median=float(np.median(scales)) if scales else math.nan,
                   align_points_median=float(np.median([r['align_points'] for r in fits]))
                   if fits else 0.0)
        return out


def side_by_side(metrics: Dict[str, float]) -> str:
    """Metrics before and after alignment, one line each, in depth papers' column order."""
    keys = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog', 'delta1', 'delta2',
            'delta3')
    heads = ('AbsRel', 'SqRel', 'RMSE', 'RMSElog', 'log10', 'SILog', 'd<1.25', 'd<1.25^2',
             'd<1.25^3')
    lines = [f'{"":>16} ' + ' '.join(f'{h:>9}' for h in heads),
             f'{"as predicted":>16} ' + ' '.join(f'{metrics[k]:9.4f}' for k in keys),
             f'{"aligned":>16} ' + ' '.join(f'{metrics["aligned_" + k]:9.4f}' for k in keys),
             f'aligned with --align {metrics["align"]} (seed {metrics["align_seed"]}): '
             f'{metrics["align_fitted"]} frames fitted, {metrics["align_not_fitted"]} left as '
             f'predicted; median scale {metrics["align_scale_median"]:.4g}, median '
             f'{metrics["align_points_median"]:.0f} reference points']
    return '\n'.join(lines)
