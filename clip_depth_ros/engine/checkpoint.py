# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Checkpoints: the trainable tensors (safetensors) and the model config (JSON) in one directory.

Pretrained CLIP weights are never copied in. `pretrained` in the config is either an open_clip
tag or a weights file; a relative file path is resolved against the checkpoint directory, which
is how checkpoints with random CLIP weights (saved beside them) reload to the same predictions.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Dict, Optional, Union

from clip_depth_ros.config import ConfigError, ModelConfig
from clip_depth_ros.engine.output_files import write_atomic
import torch

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
CLIP_WEIGHTS_FILE = 'clip_weights.safetensors'
# 2: the input rule's cap (input_max_tokens, input_max_aspect) and canonical_focal_px; every
# field required. Version 1 checkpoints load as legacy: no focal-length conversion.
FORMAT_VERSION = 2
_V1_FIELDS = ('backbone', 'pretrained', 'taps', 'mirror_tokens', 'mirror_init_std',
              'mirror_sos_eos', 'prompt', 'decoder_width', 'decoder_heads', 'decoder_ffn_dim',
              'max_depth_m', 'min_depth_m', 'input_short_side')
_WEIGHT_SUFFIXES = ('.safetensors', '.bin', '.pt', '.pth')

PathLike = Union[str, os.PathLike]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match the model it describes."""


def is_weights_path(pretrained: Optional[str]) -> bool:
    """Tell whether `pretrained` names a file rather than an open_clip tag."""
    return bool(pretrained) and (pretrained.endswith(_WEIGHT_SUFFIXES) or os.sep in pretrained)


def resolve_pretrained(pretrained: Optional[str], base: Path) -> Optional[str]:
    """Relative weight paths are relative to the checkpoint directory; tags pass through."""
    if is_weights_path(pretrained) and not os.path.isabs(pretrained):
        return str(base / pretrained)
    return pretrained


def save_random_clip_weights(directory: PathLike, model, link_from: Optional[Path] = None
                             ) -> ModelConfig:
    """
    Keep a model's random CLIP weights as `directory/clip_weights.safetensors`.

    Random weights exist nowhere else, so the checkpoint must hold them to reload to the same
    predictions (clip-depth-init, training with `pretrained: null`). With `link_from` (the
    same weights, saved before) the file is a hard link to it: every version of a training
    checkpoint loads standalone and survives `cp -rL` at no extra space (written out where the
    filesystem has no hard links). Returns the model's config naming the file.
    """
    from clip_depth_ros.models.backbone import clip_weights_bytes

    path = Path(directory) / CLIP_WEIGHTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    linked = False
    if link_from is not None and Path(link_from).is_file():
        try:
            os.link(link_from, path)
            linked = True
        except OSError:  # no hard links on this filesystem: write the weights out
            pass
    if not linked:
        write_atomic(path, clip_weights_bytes(model.backbone.clip))
    return dataclasses.replace(model.config, pretrained=CLIP_WEIGHTS_FILE)


def save_checkpoint(directory: PathLike, config: ModelConfig,
                    tensors: Dict[str, torch.Tensor], extra: Optional[dict] = None) -> Path:
    """
    Write `tensors` (the trainable state) and `config` into `directory`, atomically per file.

    Files are created with the user's umask (0644 under 022): a node running under another
    account reads a checkpoint its trainer made.
    """
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    write_atomic(directory / WEIGHTS_FILE, save(payload))
    meta = {'format_version': FORMAT_VERSION, 'model': config.to_dict()}
    if extra:
        meta.update(extra)
    write_atomic(directory / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=True) + '\n')
    return directory


def read_config(directory: PathLike) -> ModelConfig:
    """Read and validate `config.json`; errors name the file."""
    path = Path(directory) / CONFIG_FILE
    try:  # another user's private checkpoint: say so plainly (not 'missing', not 'JSON')
        if not Path(directory).is_dir():
            raise CheckpointError(f'checkpoint directory not found: {directory}')
        if not path.is_file():
            raise CheckpointError(f'{path}: missing (a checkpoint needs {CONFIG_FILE} and '
                                  f'{WEIGHTS_FILE})')
        text = path.read_text(encoding='utf-8')
    except OSError as e:
        raise CheckpointError(f'{path}: cannot read it: {e.strerror or e}') from e
    try:
        meta = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f'{path}: not valid JSON: {e}') from e
    if not isinstance(meta, dict) or not isinstance(meta.get('model'), dict):
        raise CheckpointError(f'{path}: no "model" section')
    version = meta.get('format_version')
    model = dict(meta['model'])
    if version == 1:
        model = migrate_v1(model, path)
    elif version != FORMAT_VERSION:
        raise CheckpointError(f'{path}: format_version {version!r} is not supported (this '
                              f'version reads {FORMAT_VERSION} and migrates 1)')
    try:
        return ModelConfig.from_dict(model)
    except ConfigError as e:
        raise CheckpointError(f'{path}: model.{e}') from e


def migrate_v1(model: dict, path: Path) -> dict:
    """
    Read a format-1 model section as format 2: legacy, no canonical focal (depth as before).

    Version 1 had no cap on the network input; the default cap applies now, which leaves frames
    up to 16:9 HD unchanged and bounds wider ones.
    """
    known = set(_V1_FIELDS)
    unknown = sorted(set(model) - known)
    missing = [f for f in _V1_FIELDS if f not in model]
    if unknown or missing:
        field = (unknown or missing)[0]
        what = 'unknown' if unknown else 'missing'
        raise CheckpointError(f'{path}: model.{field}: {what} field in a format_version 1 '
                              'checkpoint')
    defaults = ModelConfig()
    model.update(input_max_tokens=defaults.input_max_tokens,
                 input_max_aspect=defaults.input_max_aspect, canonical_focal_px=None)
    return model


def read_tensors(directory: PathLike) -> Dict[str, torch.Tensor]:
    """Read the trainable tensors; a missing or corrupt file names itself."""
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f'{path}: missing')
    try:
        open(path, 'rb').close()
    except OSError as e:  # not the file's fault: say so plainly, not 'corrupt'
        raise CheckpointError(f'{path}: cannot read it: {e.strerror or e}') from e
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types, and OSError
        raise CheckpointError(f'{path}: corrupt or unreadable safetensors file: {e}') from e


def check_tensors(path: Path, expected: Dict[str, torch.Tensor],
                  found: Dict[str, torch.Tensor]) -> None:
    """Strict key and shape check, naming every mismatch."""
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f'missing tensors: {", ".join(missing)}')
    if unexpected:
        problems.append(f'unexpected tensors: {", ".join(unexpected)}')
    for key in sorted(set(expected) & set(found)):
        if tuple(expected[key].shape) != tuple(found[key].shape):
            problems.append(f'{key} has shape {tuple(found[key].shape)}, the model built from '
                            f'the config expects {tuple(expected[key].shape)}')
    if problems:
        raise CheckpointError(f'{path} does not match its backbone: ' + '; '.join(problems))


def load_checkpoint(directory: PathLike, device: Union[str, torch.device] = 'cpu',
                    clip_weights: Optional[str] = None):
    """Rebuild the backbone named in the checkpoint (or on `clip_weights`), load the heads."""
    from clip_depth_ros.models.backbone import BackboneError, ClipWeightsError
    from clip_depth_ros.models.factory import build_model

    directory = Path(directory)
    config = read_config(directory)
    tensors = read_tensors(directory)
    try:
        weights = clip_weights if clip_weights else resolve_pretrained(config.pretrained,
                                                                       directory)
        model = build_model(config, weights)
    except ClipWeightsError as e:  # names the weights file and its problem already
        raise CheckpointError(str(e)) from e
    except (BackboneError, ConfigError) as e:
        raise CheckpointError(f'{directory / CONFIG_FILE}: model.{e}') from e
    check_tensors(directory / WEIGHTS_FILE, model.trainable_state_dict(), tensors)
    model.load_state_dict(tensors, strict=False)
    return model.to(device).eval()
