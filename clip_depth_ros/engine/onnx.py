# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
ONNX export of the image path, and an onnxruntime engine with the DepthEstimator interface.

The exported graph takes the normalised network input of one frame size and returns the depth
logits at that size; the mirror's text embedding is folded in as a constant. Pre- and
post-processing stay in torch and are the PyTorch engine's own functions (`normalise`,
`logits_to_depth`: sigmoid, clamp and camera scale at network size, then the resize), so both
engines differ only by the graph's arithmetic.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from clip_depth_ros.config import RANDOM_CLIP_WEIGHTS_MESSAGE
from clip_depth_ros.engine.output_files import write_atomic
from clip_depth_ros.engine.transforms import (config_network_size, depth_scale, frames_to_device,
                                              logits_to_depth, normalise)
from clip_depth_ros.models.clip_depth import ClipDepth
import numpy as np
import torch

META_KEY = 'clip_depth_ros'
# 2: the graph outputs logits (post-processing in torch); 1 output depth and is refused.
EXPORT_FORMAT = 2


class _FoldedQuery(torch.nn.Module):
    def __init__(self, model: ClipDepth) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            self.register_buffer('query', model.query().detach().clone())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.logits(images, self.query)


def export_onnx(model: ClipDepth, height: int, width: int, path: Union[str, os.PathLike],
                opset: int = 17) -> Tuple[int, int]:
    """
    Export for frames of height x width; returns the network input size it was traced at.

    The graph is written through a temporary file beside `path` (removed if the export fails)
    and renamed into place complete, with the user's umask.
    """
    model = model.cpu().eval()
    size = config_network_size(model.config, model.patch_size, height, width)
    example = torch.zeros(1, 3, *size)
    wrapper = _FoldedQuery(model).eval()
    meta = {'format': EXPORT_FORMAT, 'frame_size': [height, width], 'network_size': list(size),
            'image_mean': list(model.backbone.image_mean),
            'image_std': list(model.backbone.image_std), 'model': model.config.to_dict(),
            'random_clip_weights': bool(model.random_clip_weights)}

    def write(tmp: Path) -> None:
        import onnx
        # nn.MultiheadAttention's fused fast path (frozen weights, eval mode) has no ONNX
        # symbolic.
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            torch.onnx.export(wrapper, (example,), str(tmp), input_names=['image'],
                              output_names=['logits'], opset_version=opset, dynamo=False,
                              dynamic_axes={'image': {0: 'batch'}, 'logits': {0: 'batch'}})
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(meta)
        onnx.save(proto, str(tmp))

    write_atomic(path, write)
    return size


class OnnxDepthEstimator:
    """`predict` / `predict_batch` on an exported model, with onnxruntime."""

    def __init__(self, path: Union[str, os.PathLike], providers: Sequence[str] = ()) -> None:
        import onnxruntime as ort
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'{path}: ONNX model not found')
        try:
            self.session = ort.InferenceSession(
                str(path), providers=list(providers) or ['CPUExecutionProvider'])
        except Exception as e:  # onnxruntime raises its own exception types
            raise RuntimeError(f'{path}: cannot load ONNX model: {e}') from e
        props = self.session.get_modelmeta().custom_metadata_map
        if META_KEY not in props:
            raise RuntimeError(f'{path}: not exported by clip-depth-export (no metadata)')
        meta = json.loads(props[META_KEY])
        if meta.get('format') != EXPORT_FORMAT:
            raise RuntimeError(f'{path}: exported by an older clip-depth-export (format '
                               f'{meta.get("format", 1)}); export it again')
        self.path = path
        self.frame_size = tuple(meta['frame_size'])
        self.network_size = tuple(meta['network_size'])
        self.mean, self.std = meta['image_mean'], meta['image_std']
        self.max_depth_m = float(meta['model']['max_depth_m'])
        self.min_depth_m = float(meta['model']['min_depth_m'])
        self.canonical_focal_px = meta['model']['canonical_focal_px']
        self.random_clip_weights = bool(meta.get('random_clip_weights', False))
        self.random_clip_weights_message = (RANDOM_CLIP_WEIGHTS_MESSAGE
                                            if self.random_clip_weights else '')
        if self.random_clip_weights:
            logging.getLogger(__name__).warning(f'{path}: {RANDOM_CLIP_WEIGHTS_MESSAGE}')
        self.model_name = f'{meta["model"]["backbone"]} (onnxruntime)'
        self.device = torch.device('cpu')
        self.precision = 'fp32'
        self.precision_reason = 'onnxruntime CPU engine runs the graph in fp32'

    def input_size(self, height: int, width: int) -> Tuple[int, int]:
        """Return the network input the graph was exported for (only for its frame size)."""
        if (height, width) != self.frame_size:
            raise ValueError(f'{self.path} was exported for {self.frame_size[1]}x'
                             f'{self.frame_size[0]} frames, got {width}x{height}')
        return self.network_size

    def predict_batch(self, frames: Sequence[np.ndarray], focal_px=None) -> List[np.ndarray]:
        """Same-size frames -> list of (H, W) metres; `focal_px` as DepthEstimator's."""
        images = frames_to_device(frames, self.device)
        height, width = images.shape[-2:]
        size = self.input_size(height, width)
        scale = depth_scale(self.canonical_focal_px, focal_px, width, size[1])
        x = normalise(images, size, self.mean, self.std).numpy()
        logits = torch.from_numpy(self.session.run(['logits'], {'image': x})[0])
        depth = logits_to_depth(logits, (height, width), self.max_depth_m, self.min_depth_m,
                                scale)
        return list(depth[:, 0].numpy())

    def predict(self, rgb: np.ndarray, focal_px: Optional[float] = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) float32 metres."""
        return self.predict_batch([rgb], focal_px)[0]
