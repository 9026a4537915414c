# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training checkpoints that load at every instant, whenever the run is killed.

`out_dir/last` and `out_dir/best` are symbolic links to versioned directories beside them
(`out_dir/.last.e0003.<random>.ckpt`). A save writes a complete new version (each file through
a temporary name, fsynced), then swaps the link in one `os.replace`, then removes older
versions. At every moment each link points at a complete version: the old one until the
swap, the new one after it. Random CLIP weights (`pretrained: null`) are saved once as
`out_dir/clip_weights.safetensors` and hard-linked into each version: every version loads on
its own, at no extra space.

The history of epochs goes into each `last` version before its swap (`history.jsonl`, every
epoch up to that one), and `out_dir/history.jsonl` is a link to `last/history.jsonl`: the
history always ends at the epoch `last` holds, whenever the run is killed.

Copy a checkpoint with `cp -rL out_dir/best dest` (follow the link).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
import random
import re
import secrets
import shutil
from typing import Dict, List, Optional, Sequence

from clip_depth_ros.engine.checkpoint import (CLIP_WEIGHTS_FILE, read_tensors, save_checkpoint,
                                              save_random_clip_weights)
from clip_depth_ros.engine.output_files import fsync_path, new_temp_dir, write_atomic
import torch

STATE_FILE = 'training_state.pt'
HISTORY_FILE = 'history.jsonl'
_VERSION_SUFFIX = '.ckpt'
_LINK_SUFFIX = '.link'


def _version_pattern(name: str) -> re.Pattern:
    """Names this module gives versions and temporary links of `name`; nothing else is removed."""
    return re.compile(re.escape(f'.{name}.')
                      + r'(e\d{4,}\.[A-Za-z0-9_]+\.ckpt|[0-9a-f]{16}\.link)')


def save_run(directory: Path, model, optimizer, scheduler, scaler, epoch: int, step: int,
             best: float, extra: Optional[dict] = None,
             files: Optional[Dict[str, bytes]] = None) -> Path:
    """
    Write an inference-loadable checkpoint (plus optimiser and RNG state) as `directory`.

    `files` (name -> contents) go into the version too. `directory` becomes a link to the
    new version only once that version is complete; returns the version directory.
    """
    directory = Path(directory)
    parent, name = directory.parent, directory.name
    parent.mkdir(parents=True, exist_ok=True)
    version = new_temp_dir(parent, f'.{name}.e{epoch:04d}.', _VERSION_SUFFIX)
    if model.config.pretrained == CLIP_WEIGHTS_FILE:  # random weights, kept beside it
        save_random_clip_weights(version, model, link_from=parent / CLIP_WEIGHTS_FILE)
    save_checkpoint(version, model.config, model.trainable_state_dict(), extra)
    if optimizer is not None:
        state = {'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                 'scaler': scaler.state_dict(), 'epoch': epoch, 'step': step, 'best': best,
                 'torch_rng': torch.get_rng_state(), 'python_rng': random.getstate()}
        if torch.cuda.is_available():
            state['cuda_rng'] = torch.cuda.get_rng_state_all()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(version / STATE_FILE, buffer.getvalue())
    for name, data in (files or {}).items():
        write_atomic(version / name, data)
    fsync_path(version)
    _point(directory, version)
    _remove_old_versions(directory, keep=version)
    return version


def _point(directory: Path, version: Path) -> None:
    """Make `directory` a link to `version` in one atomic step."""
    if directory.is_dir() and not directory.is_symlink():
        # A run from before versioned checkpoints: its real directory becomes a version
        # (the one moment without `directory`, once per output directory, ever).
        os.rename(directory, new_temp_dir(directory.parent, f'.{directory.name}.e0000.',
                                          _VERSION_SUFFIX))
    link = directory.parent / f'.{directory.name}.{secrets.token_hex(8)}{_LINK_SUFFIX}'
    os.symlink(version.name, link)
    os.replace(link, directory)
    fsync_path(directory.parent)


def _remove_old_versions(directory: Path, keep: Path) -> None:
    """Remove versions and stray links of `directory` that nothing points at (ours only)."""
    pattern = _version_pattern(directory.name)
    current = os.readlink(directory) if directory.is_symlink() else None
    for entry in directory.parent.iterdir():
        if not pattern.fullmatch(entry.name) or entry.name in (keep.name, current):
            continue
        if entry.is_symlink():
            entry.unlink()
        elif entry.is_dir():
            shutil.rmtree(entry)


def load_run(directory: Path, model, optimizer, scheduler, scaler) -> Dict:
    """Restore everything `save_run` wrote; returns epoch, step and best."""
    from clip_depth_ros.engine.checkpoint import check_tensors, WEIGHTS_FILE
    directory = Path(directory)
    tensors = read_tensors(directory)
    check_tensors(directory / WEIGHTS_FILE, model.trainable_state_dict(), tensors)
    model.load_state_dict(tensors, strict=False)
    path = directory / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f'{path}: missing: resume needs a training checkpoint '
                                '(out_dir/last), not an inference-only one')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise RuntimeError(f'{path}: corrupt training state: {e}') from e
    optimizer.load_state_dict(state['optimizer'])
    scheduler.load_state_dict(state['scheduler'])
    scaler.load_state_dict(state['scaler'])
    torch.set_rng_state(state['torch_rng'])
    random.setstate(_as_random_state(state['python_rng']))
    if 'cuda_rng' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda_rng'])
    return {'epoch': state['epoch'], 'step': state['step'], 'best': state['best']}


def _as_random_state(value):
    version, internal, gauss = value
    return version, tuple(internal), gauss


def save_epoch(out_dir: Path, model, optimizer, scheduler, scaler, epoch: int, step: int,
               best: float, improved: bool, best_extra: Optional[dict] = None,
               history: Sequence[dict] = ()) -> None:
    """
    Save the checkpoints of one finished epoch: `best` (when improved) first, then `last`.

    In this order a kill between the two leaves `last` at the previous epoch: the resumed
    run retrains this epoch and saves `best` again, exactly as the uninterrupted run did.
    `history` (one record per epoch up to this one) is saved inside `last`.
    """
    out_dir = Path(out_dir)
    if improved:
        save_run(out_dir / 'best', model, None, None, None, epoch, step, best,
                 extra=best_extra)
    lines = ''.join(json.dumps(record) + '\n' for record in history)
    save_run(out_dir / 'last', model, optimizer, scheduler, scaler, epoch, step, best,
             files={HISTORY_FILE: lines.encode()})
    _link_history(out_dir)


def _link_history(out_dir: Path) -> None:
    """Make out_dir/history.jsonl a link to last's (once per run directory, atomically)."""
    path, target = out_dir / HISTORY_FILE, os.path.join('last', HISTORY_FILE)
    if path.is_symlink() and os.readlink(path) == target:
        return
    # Named as last's temporary links: if a kill leaves it, the next save of last removes it.
    link = out_dir / f'.last.{secrets.token_hex(8)}{_LINK_SUFFIX}'
    os.symlink(target, link)
    os.replace(link, path)


def read_history(checkpoint: Path, epoch: int) -> List[dict]:
    """
    Read the history records of epochs 1..`epoch` saved with a `last` checkpoint.

    Checkpoints from before history lived in them: the run directory's history.jsonl. Lines
    that do not parse (a kill in the middle of an old-style append) are left out.
    """
    checkpoint = Path(checkpoint)
    path = checkpoint / HISTORY_FILE
    if not path.is_file():
        path = checkpoint.parent / HISTORY_FILE
    if not path.is_file():
        return []
    records: Dict[int, dict] = {}
    for line in path.read_text(encoding='utf-8').splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get('epoch'), int) \
                and 1 <= record['epoch'] <= epoch:
            records[record['epoch']] = record  # a retrained epoch: its latest record
    return [records[e] for e in sorted(records)]
