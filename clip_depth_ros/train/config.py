# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training configuration: one dataclass tree holds every default; YAML and key=value on top.

`clip-depth-train config/train_nyu.yaml optim.epochs=5 data.root=datasets/nyu` reads the YAML
(safe_load) over the defaults, then the dotted overrides over that.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
import typing
from typing import Any, Dict, Optional, Sequence, Tuple

from clip_depth_ros.config import (check_field_types, check_known_keys, ConfigError, ModelConfig,
                                   PRECISIONS)

DATASETS = ('nyu', 'nyu_mat', 'kitti', 'folder', 'tum', 'bag')


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data lives and how it is cropped and augmented."""

    dataset: str = 'nyu'
    root: str = ''
    # Depth root when it differs from the image root (BTS keeps them apart for KITTI).
    gt_root: str = ''
    train_list: str = ''
    val_list: str = ''
    # Folder datasets: uint16 PNG value / depth_scale = metres (1000 = millimetres).
    depth_scale: float = 1000.0
    val_fraction: float = 0.1
    # Time-ordered datasets (tum, bag): training ends this many seconds before the validation
    # part of each sequence, so neighbouring frames are not on both sides of the split.
    val_gap_s: float = 0.0
    # Random training crop in NETWORK pixels, taken after each frame is resized by the input
    # rule (480x640 -> 352x464): BTS's 416x544 of 480x640 at that scale.
    crop_height: int = 304
    crop_width: int = 400
    rotation_deg: float = 2.5
    flip: bool = True
    color_jitter: bool = True
    num_workers: int = 2
    # dataset: bag. root = one rosbag2 bag (MCAP or sqlite3) or a folder of bags; `bags` picks
    # some by name, `val_bags` validates on whole bags instead of the last val_fraction of each.
    bags: Tuple[str, ...] = ()
    val_bags: Tuple[str, ...] = ()
    image_topic: str = '/camera/color/image_raw'
    depth_topic: str = '/camera/aligned_depth_to_color/image_raw'
    camera_info_topic: str = '/camera/color/camera_info'
    pair_tolerance_ms: float = 20.0

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.dataset not in DATASETS:
            raise ConfigError(f'data.dataset: must be one of {DATASETS}, got {self.dataset!r}')
        if not 0 < self.pair_tolerance_ms <= 1000:
            raise ConfigError('data.pair_tolerance_ms: must be in (0, 1000], got '
                              f'{self.pair_tolerance_ms}')
        for name in ('image_topic', 'depth_topic', 'camera_info_topic'):
            if not getattr(self, name).startswith('/'):
                raise ConfigError(f'data.{name}: must be an absolute topic name, got '
                                  f'{getattr(self, name)!r}')
        if self.crop_height < 1 or self.crop_width < 1:  # multiples of the patch: checked in fit
            raise ConfigError('data.crop_height/crop_width: must be positive, '
                              f'got {self.crop_height}x{self.crop_width}')
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f'data.val_fraction: must be in [0, 1), got {self.val_fraction}')
        if not 0 <= self.val_gap_s < 1e6:
            raise ConfigError(f'data.val_gap_s: must be in [0, 1e6) s, got {self.val_gap_s}')
        if self.val_gap_s > 0 and self.dataset not in ('tum', 'bag'):
            raise ConfigError(f'data.val_gap_s: only for time-ordered datasets (tum, bag), not '
                              f'{self.dataset!r}')
        if self.depth_scale <= 0:
            raise ConfigError('data.depth_scale: must be > 0')


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """AdamW with a mirror group (no weight decay, higher lr), warm-up then cosine decay."""

    epochs: int = 25
    batch_size: int = 16
    lr: float = 1e-4
    mirror_lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 500
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    # auto: as inference (precision.resolve_precision): bf16 autocast on CUDA (fp16 + grad
    # scaler without bf16) and on CPUs computing bf16 natively, fp32 elsewhere.
    precision: str = 'auto'
    silog_lambda: float = 0.85
    silog_alpha: float = 10.0

    def __post_init__(self) -> None:
        try:
            check_field_types(self)
        except ConfigError as e:
            raise ConfigError(f'optim.{e}') from None
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError('optim.epochs and optim.batch_size must be >= 1')
        if self.precision not in PRECISIONS:
            raise ConfigError(f'optim.precision: must be one of {PRECISIONS}, got '
                              f'{self.precision!r}')
        if not 0 <= self.silog_lambda <= 1:
            raise ConfigError('optim.silog_lambda: must be in [0, 1]')
        for name in ('lr', 'mirror_lr', 'silog_alpha'):
            if not 0 < getattr(self, name) <= 10:
                raise ConfigError(f'optim.{name}: must be in (0, 10], got {getattr(self, name)}')
        for name in ('weight_decay', 'grad_clip'):
            if getattr(self, name) < 0:
                raise ConfigError(f'optim.{name}: must be >= 0, got {getattr(self, name)}')
        if self.warmup_steps < 0:
            raise ConfigError(f'optim.warmup_steps: must be >= 0, got {self.warmup_steps}')
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f'optim.min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}')


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved as train_config.yaml in out_dir."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    out_dir: str = 'runs/clip_depth'
    seed: int = 0
    device: str = ''
    resume: str = ''
    # Validation every n epochs; images written to TensorBoard per validation.
    val_every: int = 1
    log_images: int = 4
    max_steps_per_epoch: int = 0  # 0 = the whole epoch; >0 caps it (smoke tests)

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ('seed', 'log_images', 'max_steps_per_epoch'):
            if getattr(self, name) < 0:
                raise ConfigError(f'{name}: must be >= 0, got {getattr(self, name)}')
        if self.val_every < 1:
            raise ConfigError(f'val_every: must be >= 1, got {self.val_every}')

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d['model']['taps'] = list(self.model.taps)
        return d


def _hints(cls) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls, values: Dict[str, Any], prefix: str = ''):
    """Build dataclass `cls` from nested dicts, naming unknown keys by their dotted path."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    check_known_keys(values, names, prefix)
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f'{prefix}{name}: expected a mapping')
            kwargs[name] = build(hint, value, f'{prefix}{name}.')
        else:
            kwargs[name] = value  # types: the dataclass's check_field_types, as for checkpoints
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f'{prefix}{e}' if prefix and not str(e).startswith(prefix) else str(e))


def _set_dotted(tree: Dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split('.')
    node = tree
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f'{dotted}: {p} is not a section')
    node[leaf] = value


def load_config(path: Optional[Path], overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults <- YAML file <- `key=value` overrides (values parsed as YAML: parse_override)."""
    import yaml
    tree: Dict[str, Any] = TrainConfig().to_dict()
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f'{path}: cannot read config: {e}') from e
        if not isinstance(loaded, dict):
            raise ConfigError(f'{path}: top level must be a mapping')
        _resolve_data_paths(loaded, Path(path).resolve().parent)
        _merge(tree, loaded, str(path))
    for item in overrides:
        _set_dotted(tree, *parse_override(item))
    return build(TrainConfig, tree)


def parse_override(item: str) -> Tuple[str, Any]:
    """
    Split `key=value`; the value is read as YAML (safe_load), as the same value in the file.

    `null`/`~`/empty -> None, `true` -> bool, `5` -> int, `[2, 4]` -> list. A text field (path,
    topic, tag) keeps the characters typed when YAML reads a number or bool (`data.root=2024`);
    an empty value there is the empty text.
    """
    import yaml
    key, sep, raw = item.partition('=')
    if not sep or not key:
        raise ConfigError(f'override {item[:80]!r}: expected key=value')
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        reason = getattr(e, 'problem', None) or str(e).splitlines()[0]
        raise ConfigError(f'override {item[:80]!r}: not a YAML value: {reason[:160]}') from e
    hint = _field_hint(TrainConfig, key)
    if hint is str or hint == Optional[str]:
        if isinstance(value, (bool, int, float)):
            value = raw
        elif value is None and hint is str and not raw.strip():
            value = ''
    return key, value


def _field_hint(cls, dotted: str) -> Any:
    """Type of the field at dotted path `dotted` of dataclass `cls` (None: no such field)."""
    hint: Any = cls
    for part in dotted.split('.'):
        if not dataclasses.is_dataclass(hint) or part not in _hints(hint):
            return None
        hint = _hints(hint)[part]
    return hint


def _resolve_data_paths(loaded: Dict[str, Any], base: Path) -> None:
    """Relative data paths in a YAML file are relative to that file (CLI ones to the cwd)."""
    data = loaded.get('data')
    if not isinstance(data, dict):
        return
    for key in ('root', 'gt_root', 'train_list', 'val_list'):
        value = data.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            data[key] = str(base / value)


def _merge(base: Dict[str, Any], new: Dict[str, Any], where: str) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, where)
        else:
            base[key] = value
