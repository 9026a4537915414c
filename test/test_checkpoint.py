# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Checkpoints: safetensors + JSON, exact reload, clear failures for bad ones."""

import json
import shutil

from clip_depth_ros.cli.init import main as init_main
from clip_depth_ros.config import ModelConfig
from clip_depth_ros.engine.checkpoint import (CheckpointError, CLIP_WEIGHTS_FILE, CONFIG_FILE,
                                              load_checkpoint, WEIGHTS_FILE)
from clip_depth_ros.engine.inference import DepthEstimator
from clip_depth_ros.models.backbone import BackboneError, create_clip, save_clip_weights
import numpy as np
import pytest
from safetensors.torch import load_file, save_file
import torch


def copy_ckpt(src, tmp_path):
    dst = tmp_path / 'ckpt'
    shutil.copytree(src, dst)
    return dst


def test_checkpoint_holds_only_trainable_parts(tiny_checkpoint):
    tensors = load_file(str(tiny_checkpoint / WEIGHTS_FILE))
    assert tensors and all(k.startswith(('mirror.', 'decoder.')) for k in tensors)
    meta = json.loads((tiny_checkpoint / CONFIG_FILE).read_text())
    assert meta['model']['backbone'] == 'ViT-T-16-test'
    assert meta['model']['pretrained'] == CLIP_WEIGHTS_FILE


def test_reload_gives_bit_identical_predictions(tiny_checkpoint, sample_rgb):
    a = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu').predict(sample_rgb)
    b = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu').predict(sample_rgb)
    assert np.array_equal(a, b)


def test_two_inits_with_different_seeds_differ(tmp_path, tiny_checkpoint, sample_rgb):
    other = tmp_path / 'other'
    assert init_main(['--backbone', 'ViT-T-16-test', '--out', str(other), '--seed', '2']) == 0
    a = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu').predict(sample_rgb)
    b = DepthEstimator.from_checkpoint(other, device='cpu').predict(sample_rgb)
    assert not np.array_equal(a, b)


def test_init_refuses_to_overwrite(tiny_checkpoint, capsys):
    assert init_main(['--backbone', 'ViT-T-16-test', '--out', str(tiny_checkpoint)]) == 2
    assert 'already holds a checkpoint' in capsys.readouterr().err


def test_mirror_size_mismatch_is_named(tiny_checkpoint, tmp_path):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    meta['model']['mirror_tokens'] = 32
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt)
    assert WEIGHTS_FILE in str(e.value) and 'mirror.embedding' in str(e.value)
    assert '(64, 64)' in str(e.value) and '(32, 64)' in str(e.value)


def test_width_mismatch_is_named(tiny_checkpoint, tmp_path):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    tensors = load_file(str(ckpt / WEIGHTS_FILE))
    tensors['mirror.embedding'] = torch.zeros(64, 512)
    save_file(tensors, str(ckpt / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match=r'mirror\.embedding has shape \(64, 512\)'):
        load_checkpoint(ckpt)


def test_missing_and_unexpected_tensors_are_named(tiny_checkpoint, tmp_path):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    tensors = load_file(str(ckpt / WEIGHTS_FILE))
    tensors.pop('mirror.embedding')
    tensors['extra.weight'] = torch.zeros(1)
    save_file(tensors, str(ckpt / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match='missing tensors: mirror.embedding.*extra.weight'):
        load_checkpoint(ckpt)


@pytest.mark.parametrize('victim,content,expected', [
    (WEIGHTS_FILE, b'\x00garbage', 'corrupt or unreadable'),
    (CONFIG_FILE, b'{"model": ', 'not valid JSON'),
    (CONFIG_FILE, b'{"format_version": 2, "model": {"bogus": 1}}', 'model.bogus: unknown'),
])
def test_corrupt_files_are_named(tiny_checkpoint, tmp_path, victim, content, expected):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    (ckpt / victim).write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as e:
        load_checkpoint(ckpt)
    assert str(ckpt / victim) in str(e.value)


def test_truncated_weights_file(tiny_checkpoint, tmp_path):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    data = (ckpt / WEIGHTS_FILE).read_bytes()
    (ckpt / WEIGHTS_FILE).write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=str(ckpt / WEIGHTS_FILE)):
        load_checkpoint(ckpt)


@pytest.mark.parametrize('victim', [WEIGHTS_FILE, CONFIG_FILE])
def test_missing_files_are_named(tiny_checkpoint, tmp_path, victim):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    (ckpt / victim).unlink()
    with pytest.raises(CheckpointError, match=f'{victim}: missing'):
        load_checkpoint(ckpt)


def test_missing_clip_weights_file_is_named(tiny_checkpoint, tmp_path):
    ckpt = copy_ckpt(tiny_checkpoint, tmp_path)
    (ckpt / CLIP_WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=CLIP_WEIGHTS_FILE):
        load_checkpoint(ckpt)


def test_local_weights_file_takes_the_pretrained_path(tmp_path):
    """Weights saved to a file load back through open_clip's own pretrained= argument."""
    torch.manual_seed(3)
    clip = create_clip('ViT-T-16-test', None)
    path = tmp_path / 'weights.safetensors'
    save_clip_weights(clip, path)
    reloaded = create_clip('ViT-T-16-test', str(path))
    for (k, a), (_, b) in zip(clip.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), k
    fresh = create_clip('ViT-T-16-test', None)
    assert not torch.equal(fresh.visual.conv1.weight, clip.visual.conv1.weight)


def test_checkpoint_referring_to_absolute_weights_file(tmp_path, sample_rgb):
    torch.manual_seed(4)
    weights = tmp_path / 'clip.safetensors'
    save_clip_weights(create_clip('ViT-T-16-test', None), weights)
    out = tmp_path / 'ck'
    assert init_main(['--backbone', 'ViT-T-16-test', '--out', str(out),
                      '--pretrained', str(weights)]) == 0
    assert not (out / CLIP_WEIGHTS_FILE).exists()
    depth = DepthEstimator.from_checkpoint(out, device='cpu').predict(sample_rgb)
    assert np.isfinite(depth).all()


def test_offline_pretrained_tag_fails_clearly(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(BackboneError, match="'openai'"):
        create_clip('ViT-T-16-test', 'openai')


def test_unknown_backbone_is_named():
    with pytest.raises(BackboneError, match='ViT-Nope'):
        create_clip('ViT-Nope', None)


def test_model_config_round_trips():
    c = ModelConfig(backbone='ViT-T-16-test', taps=(1, 2), max_depth_m=80.0)
    assert ModelConfig.from_dict(c.to_dict()) == c


# -- strict config.json ------------------------------------------------------------------------
def edit_config(src, tmp_path, edit, version=None):
    ckpt = copy_ckpt(src, tmp_path)
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    edit(meta['model'])
    if version is not None:
        meta['format_version'] = version
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))  # json writes inf/nan as Infinity/NaN
    return ckpt


def set_field(name, value):
    return lambda model: model.__setitem__(name, value)


@pytest.mark.parametrize('edit,field,says', [
    (set_field('taps', '3,6,9'), 'taps', 'a list of integers'),
    (set_field('taps', [3.0, 6, 9]), 'taps', 'a list of integers'),
    (set_field('taps', [3.5, 6, 9]), 'taps', 'a list of integers'),
    (set_field('taps', [True, 6]), 'taps', 'a list of integers'),
    (set_field('max_depth_m', float('inf')), 'max_depth_m', 'finite'),
    (set_field('min_depth_m', float('nan')), 'min_depth_m', 'finite'),
    (set_field('max_depth_m', -1.0), 'max_depth_m', 'min_depth_m < max_depth_m'),
    (set_field('mirror_sos_eos', 'false'), 'mirror_sos_eos', 'true/false'),
    (set_field('mirror_tokens', '64'), 'mirror_tokens', 'an integer'),
    (set_field('mirror_tokens', 76), 'mirror_tokens', 'exceed the text context'),
    (set_field('decoder_heads', 4.0), 'decoder_heads', 'an integer'),
    (set_field('canonical_focal_px', -5.0), 'canonical_focal_px', 'null or'),
    (set_field('input_max_tokens', 0), 'input_max_tokens', '1..65536'),
    (set_field('pretrained', 3), 'pretrained', 'a string or null'),
    (set_field('surprise', 1), 'surprise', 'unknown'),
    (lambda m: m.pop('taps'), 'taps', 'missing'),
    (lambda m: m.pop('canonical_focal_px'), 'canonical_focal_px', 'missing'),
])
def test_bad_config_fields_are_refused_naming_file_and_field(
        tiny_checkpoint, tmp_path, edit, field, says):
    ckpt = edit_config(tiny_checkpoint, tmp_path, edit)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ckpt)
    message = str(e.value)
    assert message.startswith(f'{ckpt / CONFIG_FILE}: model.{field}: '), message
    assert says in message and '\n' not in message


def test_format_version_is_2_and_records_the_new_fields(tiny_checkpoint):
    from clip_depth_ros.engine.checkpoint import FORMAT_VERSION
    meta = json.loads((tiny_checkpoint / CONFIG_FILE).read_text())
    assert FORMAT_VERSION == 2 and meta['format_version'] == 2
    assert meta['model']['canonical_focal_px'] == pytest.approx(376.172)
    assert meta['model']['input_max_tokens'] == 1024


def v1_config(model):
    for name in ('input_max_tokens', 'input_max_aspect', 'canonical_focal_px'):
        model.pop(name)


def test_version_1_checkpoints_load_as_legacy_without_focal_conversion(tiny_checkpoint,
                                                                       tmp_path, sample_rgb):
    ckpt = edit_config(tiny_checkpoint, tmp_path, v1_config, version=1)
    legacy = DepthEstimator.from_checkpoint(ckpt, device='cpu', precision='fp32')
    assert legacy.canonical_focal_px is None and legacy.model.config.canonical_focal_px is None
    current = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='fp32')
    a = legacy.predict(sample_rgb, focal_px=300.0)
    np.testing.assert_array_equal(a, legacy.predict(sample_rgb, focal_px=600.0))
    np.testing.assert_array_equal(a, current.predict(sample_rgb))  # as before: no conversion
    # Saved again, a migrated checkpoint states it: canonical_focal_px null, format 2.
    from clip_depth_ros.engine.checkpoint import read_config, save_checkpoint
    again = save_checkpoint(tmp_path / 'again', legacy.model.config,
                            legacy.model.trainable_state_dict())
    meta = json.loads((again / CONFIG_FILE).read_text())
    assert meta['format_version'] == 2 and meta['model']['canonical_focal_px'] is None
    assert read_config(again).canonical_focal_px is None


def test_version_1_with_a_bad_field_and_unknown_versions_are_refused(tiny_checkpoint, tmp_path):
    def v1_bad(model):
        v1_config(model)
        model.pop('prompt')
    ckpt = edit_config(tiny_checkpoint, tmp_path / 'a', v1_bad, version=1)
    with pytest.raises(CheckpointError, match=r'config.json: model.prompt: missing field in a '
                                              r'format_version 1'):
        load_checkpoint(ckpt)
    ckpt = edit_config(tiny_checkpoint, tmp_path / 'b', lambda m: None, version=3)
    with pytest.raises(CheckpointError, match='format_version 3 is not supported'):
        load_checkpoint(ckpt)


# -- random CLIP weights are never silent --------------------------------------------------------
def test_tools_say_when_clip_weights_are_random(tmp_path, tiny_checkpoint):
    import os
    import subprocess
    import sys
    from clip_depth_ros.config import RANDOM_CLIP_WEIGHTS_MESSAGE
    from conftest import sample_paths
    bindir = os.path.dirname(sys.executable)
    r = subprocess.run([os.path.join(bindir, 'clip-depth-infer'), str(sample_paths()[0]),
                        '--checkpoint', str(tiny_checkpoint), '--out', str(tmp_path / 'o'),
                        '--device', 'cpu'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert RANDOM_CLIP_WEIGHTS_MESSAGE in r.stdout + r.stderr
    r = subprocess.run([os.path.join(bindir, 'clip-depth-init'), '--backbone', 'ViT-T-16-test',
                        '--out', str(tmp_path / 'ck')], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and RANDOM_CLIP_WEIGHTS_MESSAGE in r.stdout
