# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
ONNX export of the image path, and an onnxruntime engine with the DepthEstimator interface.

The exported graph takes the normalised network input of one frame size and returns depth in
metres at that size; the mirror's text embedding is folded in as a constant. Pre- and
post-processing stay in torch (the same functions the PyTorch engine uses), so both backends
see identical inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Sequence, Tuple, Union

from clip_depth_ros.models.clip_depth import ClipDepth
from clip_depth_ros.transforms import frames_to_device, network_size, normalise, resize_depth
import numpy as np
import torch

META_KEY = 'clip_depth_ros'


class _FoldedQuery(torch.nn.Module):
    def __init__(self, model: ClipDepth) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            self.register_buffer('query', model.query().detach().clone())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images, self.query)


def export_onnx(model: ClipDepth, height: int, width: int, path: Union[str, os.PathLike],
                opset: int = 17) -> Tuple[int, int]:
    """Export for frames of height x width; returns the network input size it was traced at."""
    model = model.cpu().eval()
    size = network_size(height, width, model.config.input_short_side, model.patch_size)
    example = torch.zeros(1, 3, *size)
    wrapper = _FoldedQuery(model).eval()
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp')
    # nn.MultiheadAttention's fused fast path (frozen weights, eval mode) has no ONNX symbolic.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        torch.onnx.export(wrapper, (example,), str(tmp), input_names=['image'],
                          output_names=['depth'], opset_version=opset, dynamo=False,
                          dynamic_axes={'image': {0: 'batch'}, 'depth': {0: 'batch'}})
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    import onnx
    proto = onnx.load(str(tmp))
    meta = {'frame_size': [height, width], 'network_size': list(size),
            'image_mean': list(model.backbone.image_mean),
            'image_std': list(model.backbone.image_std), 'model': model.config.to_dict()}
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
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
        self.path = path
        self.frame_size = tuple(meta['frame_size'])
        self.network_size = tuple(meta['network_size'])
        self.mean, self.std = meta['image_mean'], meta['image_std']
        self.max_depth_m = float(meta['model']['max_depth_m'])
        self.model_name = f'{meta["model"]["backbone"]} (onnxruntime)'
        self.device = torch.device('cpu')
        self.precision = 'fp32'

    def predict_batch(self, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
        images = frames_to_device(frames, self.device)
        height, width = images.shape[-2:]
        if (height, width) != self.frame_size:
            raise ValueError(f'{self.path} was exported for {self.frame_size[1]}x'
                             f'{self.frame_size[0]} frames, got {width}x{height}')
        x = normalise(images, self.network_size, self.mean, self.std).numpy()
        depth = torch.from_numpy(self.session.run(['depth'], {'image': x})[0])
        return list(resize_depth(depth, (height, width))[:, 0].numpy())

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self.predict_batch([rgb])[0]
