# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DepthEstimator: uint8 RGB frames in, float32 metric depth out, as fast as the device allows."""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Tuple, Union
import weakref

from clip_depth_ros.config import InferenceConfig, RANDOM_CLIP_WEIGHTS_MESSAGE
from clip_depth_ros.engine.checkpoint import load_checkpoint
from clip_depth_ros.engine.precision import autocast, AUTOCAST_DTYPES, resolve_precision
from clip_depth_ros.engine.transforms import (config_network_size, depth_scale, frames_to_device,
                                              logits_to_depth, normalise)
from clip_depth_ros.models.clip_depth import ClipDepth
import numpy as np
import torch

_log = logging.getLogger(__name__)

FocalArg = Union[None, float, Sequence[Optional[float]]]
# Models whose random CLIP weights were already reported (weakly held).
_WARNED_MODELS: 'weakref.WeakSet' = weakref.WeakSet()


def select_device(device: Optional[Union[str, torch.device]]) -> torch.device:
    """None -> CUDA when available, else CPU; anything else is taken as asked."""
    if device is None or device == '':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


class DepthEstimator:
    """
    Runs a ClipDepth model on frames; the mirror's text embedding is computed once.

    `precision` / `precision_reason` say what `auto` chose and why; `random_clip_weights` and
    `random_clip_weights_message` say when the depth means nothing (logged once here too).
    """

    def __init__(self, model: ClipDepth, config: InferenceConfig = InferenceConfig()) -> None:
        self.config = config
        self.device = select_device(config.device)
        self.model = model.to(self.device).eval()
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.precision, self.precision_reason = resolve_precision(config.precision, self.device)
        self.random_clip_weights: bool = bool(model.random_clip_weights)
        self.random_clip_weights_message: str = (
            RANDOM_CLIP_WEIGHTS_MESSAGE if self.random_clip_weights else '')
        if self.random_clip_weights and model not in _WARNED_MODELS:
            _log.warning(RANDOM_CLIP_WEIGHTS_MESSAGE)  # once per model, not per validation
            _WARNED_MODELS.add(model)
        with torch.inference_mode():
            self._query = self.model.query().detach()
        self._logits = self.model.logits
        if config.compile_mode:
            self._logits = torch.compile(self.model.logits, mode=config.compile_mode,
                                         dynamic=False)
        self._mean = self.model.backbone.image_mean
        self._std = self.model.backbone.image_std

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike],
                        device: Optional[Union[str, torch.device]] = None,
                        precision: str = 'auto', channels_last: bool = False,
                        clip_weights: Optional[str] = None,
                        compile_mode: str = '') -> 'DepthEstimator':
        """Load a checkpoint; `clip_weights` overrides the CLIP weights it names."""
        config = InferenceConfig(device=None if device is None else str(device),
                                 precision=precision, channels_last=channels_last,
                                 compile_mode=compile_mode)
        model = load_checkpoint(path, device=select_device(config.device),
                                clip_weights=clip_weights)
        return cls(model, config)

    @property
    def max_depth_m(self) -> float:
        return self.model.config.max_depth_m

    @property
    def model_name(self) -> str:
        return self.model.config.backbone

    @property
    def canonical_focal_px(self) -> Optional[float]:
        """Return the fx at network scale the depth refers to (None = legacy: no conversion)."""
        return self.model.config.canonical_focal_px

    @property
    def patch_size(self) -> int:
        return self.model.patch_size

    def input_size(self, height: int, width: int) -> Tuple[int, int]:
        """Network input (h, w) for a frame of the given size (the one input rule)."""
        return config_network_size(self.model.config, self.model.patch_size, height, width)

    def _autocast(self) -> torch.autocast:
        return autocast(self.device.type, AUTOCAST_DTYPES.get(self.precision))

    def predict_tensor(self, frames: Sequence[np.ndarray],
                       focal_px: FocalArg = None) -> torch.Tensor:
        """
        Same-size uint8 RGB frames -> (B, H, W) float32 metres, left on the device.

        `focal_px`: the camera's fx in px at the frames' own resolution (one for all, or one per
        frame); None (or 0) = the canonical camera.
        """
        images = frames_to_device(frames, self.device)
        height, width = images.shape[-2:]
        size = self.input_size(height, width)
        if isinstance(focal_px, (list, tuple)) and len(focal_px) != len(frames):
            raise ValueError(f'{len(focal_px)} focal lengths for {len(frames)} frames')
        scale = depth_scale(self.canonical_focal_px, focal_px, width, size[1])
        with torch.inference_mode(), self._autocast():
            x = normalise(images, size, self._mean, self._std)
            if self.config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = self._logits(x, self._query)
        with torch.inference_mode():
            depth = logits_to_depth(logits, (height, width), self.model.config.max_depth_m,
                                    self.model.config.min_depth_m, scale)
        return depth[:, 0]

    def predict(self, rgb: np.ndarray, focal_px: Optional[float] = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) float32 metres; `focal_px` as in predict_tensor."""
        return self.predict_tensor([rgb], focal_px)[0].cpu().numpy()

    def predict_batch(self, frames: Sequence[np.ndarray],
                      focal_px: FocalArg = None) -> List[np.ndarray]:
        """Predict a list of RGB frames; frames of the same size run as one batch."""
        focals = list(focal_px) if isinstance(focal_px, (list, tuple)) \
            else [focal_px] * len(frames)
        if len(focals) != len(frames):
            raise ValueError(f'{len(focals)} focal lengths for {len(frames)} frames')
        out: List[Optional[np.ndarray]] = [None] * len(frames)
        by_size = {}
        for i, frame in enumerate(frames):
            by_size.setdefault(getattr(frame, 'shape', None), []).append(i)
        for indices in by_size.values():
            depth = self.predict_tensor([frames[i] for i in indices],
                                        [focals[i] for i in indices]).cpu().numpy()
            for j, i in enumerate(indices):
                out[i] = depth[j]
        return out


class DepthClipEstimator:
    """
    The DepthCLIP zero-shot baseline behind DepthEstimator's interface.

    Same input rule and resize as the depth model; the original's flip averaging; the depth is
    resized (bilinear) to the frame. `focal_px` is accepted and ignored: DepthCLIP's bins are
    fixed metres, whatever the camera.
    """

    def __init__(self, backbone: str = 'ViT-B-16', pretrained: Optional[str] = 'openai',
                 device: Optional[Union[str, torch.device]] = None) -> None:
        from clip_depth_ros.config import ModelConfig
        from clip_depth_ros.models.backbone import create_clip, FrozenClip
        from clip_depth_ros.models.depthclip import DepthClip
        self.device = select_device(device)
        clip = FrozenClip(create_clip(backbone, pretrained), (1,), backbone)
        self.model = DepthClip(clip).to(self.device).eval()
        self.rule = ModelConfig(backbone=backbone, pretrained=pretrained)
        self.model_name = f'DepthCLIP ({backbone})'
        self.max_depth_m = float(self.model.bins.max())
        self.precision, self.precision_reason = 'fp32', 'fp32: zero-shot baseline'
        self.random_clip_weights = clip.random_weights
        self.random_clip_weights_message = (
            RANDOM_CLIP_WEIGHTS_MESSAGE if self.random_clip_weights else '')
        if self.random_clip_weights:
            _log.warning(RANDOM_CLIP_WEIGHTS_MESSAGE)

    @property
    def patch_size(self) -> int:
        return self.model.patch_size

    def input_size(self, height: int, width: int) -> Tuple[int, int]:
        """Network input (h, w) for a frame of the given size (the one input rule)."""
        return config_network_size(self.rule, self.model.patch_size, height, width)

    def predict(self, rgb: np.ndarray, focal_px: Optional[float] = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) float32 metres, averaged with the flipped image."""
        images = frames_to_device([rgb], self.device)
        height, width = images.shape[-2:]
        size = self.input_size(height, width)
        backbone = self.model.backbone
        with torch.inference_mode():
            x = normalise(images, size, backbone.image_mean, backbone.image_std)
            depth = 0.5 * (self.model(x) + self.model(x.flip(-1)).flip(-1))
            depth = torch.nn.functional.interpolate(depth, size=(height, width),
                                                    mode='bilinear', align_corners=False)
        return depth[0, 0].cpu().numpy()
