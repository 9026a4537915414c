# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one input rule, and frames (uint8 RGB) to network input and logits back to metres.

`network_size` alone decides the network input of a frame, for training, validation, evaluation,
the node, the bag tool and ONNX export. `logits_to_depth` alone turns the network's output into
metres at the frame's size, for every engine (PyTorch and onnxruntime). Training resizes its
frames with `resize_rgb`, the resize inference applies, so a model sees the same pixels per
object in both.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

from clip_depth_ros.frames.limits import FrameRejected
import numpy as np
import torch
import torch.nn.functional as F

PATCH = 16
# CLIPSeg's input size: 480x640 -> 352x464 (22x29 tokens).
DEFAULT_SHORT_SIDE = 352
# Sized for 16:9 HD cameras: 720x1280 -> 352x624 (22x39 = 858 tokens) is not capped. Wider
# frames are scaled down to fit: KITTI's 352x1216 -> 272x944 (17x59 = 1003 tokens). A capped
# frame costs at most about 1.8x a 480x640 one (638 tokens) in the ViT.
DEFAULT_MAX_TOKENS = 1024
# Wider than any camera a robot carries (KITTI 3.5:1, stitched panoramas 4:1..6:1).
DEFAULT_MAX_ASPECT = 8.0
# Below this a frame holds nothing to estimate depth from.
MIN_SIDE_PX = 8


class FrameSizeError(FrameRejected):
    """A frame's size or aspect ratio is outside what the input rule accepts (kind 'size')."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 'size')


def _ratio_beyond(value: float, limit: float) -> str:
    """`value` with the fewest decimals that still show it beyond `limit` (8.01, not 8.0)."""
    for decimals in range(1, 10):
        text = f'{value:.{decimals}f}'
        if float(text) > limit:
            return text
    return repr(value)


def network_size(height: int, width: int, short_side: int = DEFAULT_SHORT_SIDE,
                 multiple: int = PATCH, max_tokens: int = DEFAULT_MAX_TOKENS,
                 max_aspect: float = DEFAULT_MAX_ASPECT) -> Tuple[int, int]:
    """
    Network input (h, w) of a frame: short side `short_side`, aspect kept, sides multiples.

    480x640 -> 352x464. When that exceeds `max_tokens` patches, the frame is scaled down until
    it fits (aspect kept as closely as the multiples allow), so no frame costs more than the cap.
    Raises FrameSizeError for frames under MIN_SIDE_PX or with an aspect beyond `max_aspect`.
    """
    if isinstance(height, bool) or isinstance(width, bool) or \
            not isinstance(height, (int, np.integer)) or not isinstance(width, (int, np.integer)):
        raise FrameSizeError(f'frame size must be integers, got {height!r}x{width!r}')
    height, width = int(height), int(width)
    if height < MIN_SIDE_PX or width < MIN_SIDE_PX:
        raise FrameSizeError(f'frame {width}x{height} is too small: both sides must be at '
                             f'least {MIN_SIDE_PX} px')
    aspect = max(height, width) / min(height, width)
    if aspect > max_aspect:
        raise FrameSizeError(f'frame {width}x{height} has aspect ratio '
                             f'{_ratio_beyond(aspect, max_aspect)}:1, beyond '
                             f'the {max_aspect:g}:1 the network input accepts')
    if max_tokens < 1 or short_side < multiple:
        raise FrameSizeError(f'input rule needs max_tokens >= 1 and short_side >= {multiple}, '
                             f'got {max_tokens}, {short_side}')
    scale = short_side / min(height, width)
    th, tw = height * scale / multiple, width * scale / multiple
    if th * tw <= max_tokens:
        gh, gw = max(1, int(round(th))), max(1, int(round(tw)))
        if gh * gw <= max_tokens:
            return gh * multiple, gw * multiple
    shrink = math.sqrt(max_tokens / (th * tw))
    th, tw = th * min(shrink, 1.0), tw * min(shrink, 1.0)
    # Of the grids around the scaled size that fit the cap, the one closest in aspect.
    target = math.log(width / height)
    best = None
    for gh in {max(1, math.floor(th)), max(1, math.ceil(th))}:
        for gw in {max(1, math.floor(tw)), max(1, math.ceil(tw))}:
            if gh * gw > max_tokens:
                continue
            key = (abs(math.log(gw / gh) - target), -gh * gw)
            if best is None or key < best[0]:
                best = (key, gh, gw)
    if best is None:  # floor both always fits unless the cap is below one row
        gh, gw = max(1, math.floor(th)), max(1, max_tokens // max(1, math.floor(th)))
    else:
        gh, gw = best[1], best[2]
    return gh * multiple, gw * multiple


def config_network_size(config, patch: int, height: int, width: int) -> Tuple[int, int]:
    """`network_size` with the input rule a ModelConfig records (short side, cap, aspect)."""
    return network_size(height, width, config.input_short_side, patch, config.input_max_tokens,
                        config.input_max_aspect)


def describe_input(size: Tuple[int, int], patch: int = PATCH) -> str:
    """'network input 352x464 (22x29 tokens)': what training and evaluation print at start."""
    return (f'network input {size[0]}x{size[1]} ({size[0] // patch}x{size[1] // patch} '
            'tokens)')


def network_focal(focal_px: float, width: int, net_width: int) -> float:
    """Scale the fx of a frame `width` px wide (in its own pixels) to the network's scale."""
    return float(focal_px) * net_width / width


def depth_scale(canonical_focal_px: Optional[float], focal_px, width: int,
                net_width: int) -> Optional[Union[float, list]]:
    """
    Metres per canonical metre for a camera of fx `focal_px` (one or a list; None or 0 = unknown).

    The model predicts depth as seen by a camera of `canonical_focal_px` at network scale; the
    same pixels from a camera with twice the focal length show things twice as far away.
    None: no conversion (a legacy checkpoint, or every focal unknown).
    """
    if canonical_focal_px is None or focal_px is None:
        return None
    values = list(focal_px) if isinstance(focal_px, (list, tuple, np.ndarray)) else [focal_px]
    scales = []
    for f in values:
        if f is None or f == 0:
            scales.append(1.0)
            continue
        f = float(f)
        if not math.isfinite(f) or f < 0:
            raise ValueError(f'focal_px must be a positive number of pixels, got {f!r}')
        scales.append(network_focal(f, width, net_width) / canonical_focal_px)
    if isinstance(focal_px, (list, tuple, np.ndarray)):
        return scales
    return scales[0]


def check_rgb(frame: np.ndarray) -> None:
    """Raise ValueError unless `frame` is a non-empty uint8 H x W x 3 array."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3 or frame.shape[0] == 0 or frame.shape[1] == 0:
        desc = (f'{frame.dtype} {frame.shape}' if isinstance(frame, np.ndarray)
                else type(frame).__name__)
        raise ValueError(f'expected a uint8 H x W x 3 RGB array, got {desc}')


def frames_to_device(frames: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """Same-size uint8 RGB frames -> (B, 3, H, W) uint8 on `device`, one host->device copy."""
    for frame in frames:
        check_rgb(frame)
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f'frames in one batch must share a size, got {sorted(shapes)}')
    # One writable frame: a view, not a copy (a 4000x3000 frame is 36 MB); torch refuses to
    # wrap read-only memory (frames decoded from message buffers) without a warning.
    if len(frames) == 1 and frames[0].flags.writeable:
        host = torch.from_numpy(np.ascontiguousarray(frames[0])[None])
    else:
        host = torch.from_numpy(np.stack(frames))
    if device.type == 'cuda':
        host = host.pin_memory()
    return host.to(device, non_blocking=True).permute(0, 3, 1, 2)


def resize_rgb(images: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """
    (B, 3, H, W) uint8 -> (B, 3, h, w) uint8: bilinear, antialiased; the one resize of frames.

    Working in uint8 keeps a 4000x3000 frame from costing a float copy of itself; training
    calls this too (`resize_rgb_array`), so both see exactly the same pixels.
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    if images.device.type == 'cpu':
        return F.interpolate(images, size=size, mode='bilinear', align_corners=False,
                             antialias=True)
    x = F.interpolate(images.float(), size=size, mode='bilinear', align_corners=False,
                      antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def resize_rgb_array(rgb: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 with `resize_rgb` (training's first step)."""
    check_rgb(rgb)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0)
    return np.ascontiguousarray(resize_rgb(x, size)[0].permute(1, 2, 0).numpy())


def normalise(images: torch.Tensor, size: Tuple[int, int], mean: Sequence[float],
              std: Sequence[float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, h, w) resized by `resize_rgb` and CLIP-normalised."""
    x = resize_rgb(images, size).float().div_(255.0)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return ((x - m) / s).to(dtype)


def logits_to_depth(logits: torch.Tensor, size: Tuple[int, int], max_depth_m: float,
                    min_depth_m: float, scale=None) -> torch.Tensor:
    """
    (B, 1, h, w) logits -> (B, 1, H, W) metres, in float32; every engine's post-processing.

    At network scale: `max_depth_m * sigmoid`, clamped at `min_depth_m`, times `scale` (a
    number, or one per frame; see `depth_scale`); then resized (bilinear) to the frame: the
    sigmoid and the scale act on what the network predicted, not on interpolated values, and
    only the resize runs at the frame's resolution, so a 4000x3000 frame costs one pass over
    its pixels.
    """
    depth = (max_depth_m * torch.sigmoid(logits.float())).clamp_min(min_depth_m)
    if isinstance(scale, (list, tuple)):
        if any(s != 1.0 for s in scale):
            depth = depth * torch.tensor(scale, dtype=depth.dtype,
                                         device=depth.device).view(-1, 1, 1, 1)
    elif scale is not None and scale != 1.0:
        depth = depth * float(scale)
    if tuple(depth.shape[-2:]) != tuple(size):
        depth = F.interpolate(depth, size=size, mode='bilinear', align_corners=False)
    return depth
