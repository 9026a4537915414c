# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Scale-invariant log loss (Eigen et al.), as the BTS family trains metric depth."""

from __future__ import annotations

import torch


def silog_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
               variance_focus: float = 0.85, alpha: float = 10.0) -> torch.Tensor:
    """Compute alpha * sqrt(mean(g^2) - lambda * mean(g)^2), g = log pred - log gt, valid only."""
    if not bool(valid.any()):
        return pred.sum() * 0.0  # keeps the graph; a batch with no ground truth teaches nothing
    g = torch.log(pred[valid].float()) - torch.log(target[valid].float())
    d = (g ** 2).mean() - variance_focus * g.mean() ** 2
    return alpha * torch.sqrt(d.clamp_min(1e-12))
