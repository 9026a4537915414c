# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Configuration dataclasses: the one source of defaults for model and inference.

Standard library only, so that the ROS layer and the tools can read and validate a
configuration without importing torch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional, Tuple, Type, TypeVar

T = TypeVar('T')

PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
# '' = eager; otherwise a torch.compile mode ('reduce-overhead' replays CUDA graphs on GPU).
COMPILE_MODES = ('', 'default', 'reduce-overhead', 'max-autotune')
TRANSPORTS = ('raw', 'compressed')


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind."""


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ConfigError(f'{field}: {message}')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a ClipDepth model; stored with every checkpoint."""

    backbone: str = 'ViT-B-16'
    # An open_clip pretrained tag ('openai'), a path to a weights file, or None (random init).
    pretrained: Optional[str] = 'openai'
    # 1-based ViT block indices whose outputs feed the decoder; later blocks never run.
    taps: Tuple[int, ...] = (3, 6, 9)
    mirror_tokens: int = 64
    mirror_init_std: float = 0.02
    # True: [SOS] + mirror + [EOS], pooled at EOS. False: mirror only, pooled at its last token.
    mirror_sos_eos: bool = True
    # Baseline: condition on this natural-language prompt instead of a mirror (empty = mirror).
    prompt: str = ''
    decoder_width: int = 64
    decoder_heads: int = 4
    decoder_ffn_dim: int = 2048
    max_depth_m: float = 10.0
    min_depth_m: float = 1e-3
    # Network input: short side fixed, long side scaled and rounded to a multiple of the patch.
    input_short_side: int = 352

    def __post_init__(self) -> None:
        object.__setattr__(self, 'taps', tuple(int(t) for t in self.taps))
        _require(bool(self.backbone), 'backbone', 'must name an open_clip model')
        _require(len(self.taps) > 0, 'taps', 'at least one ViT block must be tapped')
        _require(all(t >= 1 for t in self.taps), 'taps', f'blocks are 1-based, got {self.taps}')
        _require(list(self.taps) == sorted(set(self.taps)), 'taps',
                 f'must be strictly increasing, got {self.taps}')
        _require(self.mirror_tokens >= 1, 'mirror_tokens',
                 f'must be >= 1, got {self.mirror_tokens}')
        _require(self.mirror_init_std > 0, 'mirror_init_std', 'must be > 0')
        _require(self.decoder_width >= 1, 'decoder_width', 'must be >= 1')
        _require(self.decoder_heads >= 1 and self.decoder_width % self.decoder_heads == 0,
                 'decoder_heads', f'must divide decoder_width={self.decoder_width}')
        _require(self.decoder_ffn_dim >= 1, 'decoder_ffn_dim', 'must be >= 1')
        _require(0 < self.min_depth_m < self.max_depth_m, 'max_depth_m',
                 f'need 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}')
        _require(self.input_short_side >= 16, 'input_short_side', 'must be >= 16')

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d['taps'] = list(self.taps)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ModelConfig':
        return from_mapping(cls, data)


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
    """How the engine runs a model; never stored in a checkpoint."""

    # None picks CUDA when available; otherwise a torch device string ('cpu', 'cuda:1').
    device: Optional[str] = None
    # 'auto' = bf16 autocast on CUDA, fp32 on CPU.
    precision: str = 'auto'
    channels_last: bool = False
    # Off until measured for a deployment: compiling costs start-up time and recompiles per
    # input size; 'reduce-overhead' captures CUDA graphs for a fixed camera resolution.
    compile_mode: str = ''

    def __post_init__(self) -> None:
        _require(self.precision in PRECISIONS, 'precision',
                 f'must be one of {PRECISIONS}, got {self.precision!r}')
        _require(self.compile_mode in COMPILE_MODES, 'compile_mode',
                 f'must be one of {COMPILE_MODES}, got {self.compile_mode!r}')


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """The depth node's parameters; `ros/parameters.py` adds descriptors to these defaults."""

    checkpoint: str = ''
    # Overrides the CLIP weights named in the checkpoint: an open_clip tag or a file path.
    clip_weights: str = ''
    device: str = ''
    precision: str = 'auto'
    input_transport: str = 'raw'
    publish_points: bool = True
    point_stride: int = 1
    colorize_points: bool = True
    max_range: float = 10.0
    colormap_min: float = 0.0
    colormap_max: float = 10.0
    diagnostics_period: float = 1.0
    autostart: bool = True
    # CPU inference threads; 0 = all cores but one, which stays free for callbacks and DDS.
    cpu_threads: int = 0

    def __post_init__(self) -> None:
        _require(self.precision in PRECISIONS, 'precision',
                 f'must be one of {PRECISIONS}, got {self.precision!r}')
        _require(self.input_transport in TRANSPORTS, 'input_transport',
                 f'must be one of {TRANSPORTS}, got {self.input_transport!r}')
        _require(1 <= self.point_stride <= 64, 'point_stride',
                 f'must be in 1..64, got {self.point_stride}')
        _require(self.max_range > 0, 'max_range', f'must be > 0 m, got {self.max_range}')
        _require(self.colormap_max > self.colormap_min >= 0, 'colormap_max',
                 f'need 0 <= colormap_min < colormap_max, got {self.colormap_min}, '
                 f'{self.colormap_max}')
        _require(self.diagnostics_period > 0, 'diagnostics_period', 'must be > 0 s')
        _require(self.cpu_threads >= 0, 'cpu_threads', f'must be >= 0, got {self.cpu_threads}')

    def inference_threads(self, cpu_count: int) -> int:
        """Torch intra-op threads for CPU inference on a machine with `cpu_count` cores."""
        return self.cpu_threads or max(1, cpu_count - 1)


def from_mapping(cls: Type[T], data: Mapping[str, Any]) -> T:
    """Build a dataclass from a mapping, refusing unknown keys by name."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f'unknown {cls.__name__} field(s): {", ".join(unknown)}')
    return cls(**dict(data))
