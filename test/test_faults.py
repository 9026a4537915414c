# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Hostile input without ROS: frame limits before decoding, throttled problem reports."""

import re

from bombs import jpeg_bomb, png_bomb, png_header_only
from clip_depth_ros.config import ConfigError
from clip_depth_ros.frames import pixels
from clip_depth_ros.frames.image_io import ImageReadError, read_depth_png, read_rgb
from clip_depth_ros.frames.limits import (check_compressed, declared_format, FrameLimits,
                                          FrameRejected, read_header)
from clip_depth_ros.serving.health import MESSAGE_CHARS, ProblemLog
import cv2
import numpy as np
import pytest


def encode(ext, shape=(37, 53, 3), params=()):
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(ext, rng.integers(0, 256, shape, dtype=np.uint8), list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('ext,params,name', [
    ('.png', (), 'png'), ('.jpg', (), 'jpeg'),
    ('.jpg', (cv2.IMWRITE_JPEG_PROGRESSIVE, 1), 'jpeg'),   # SOF2
    ('.bmp', (), 'bmp'), ('.webp', (), 'webp'),
    ('.webp', (cv2.IMWRITE_WEBP_QUALITY, 101), 'webp'),    # lossless VP8L
    ('.webp', (cv2.IMWRITE_WEBP_QUALITY, 80), 'webp'),     # lossy VP8 (the default is lossless)
])
def test_header_gives_the_size_the_decoder_finds(ext, params, name):
    for shape in ((37, 53, 3), (480, 640, 3), (1, 3000, 3)):
        data = encode(ext, shape, params)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert read_header(data) == (name, decoded.shape[1], decoded.shape[0])


@pytest.fixture
def imdecode_calls(monkeypatch):
    """Every frame that reaches cv2.imdecode (the real one still decodes it)."""
    calls = []
    real = cv2.imdecode

    def spy(buf, flags):
        calls.append(len(buf))
        return real(buf, flags)
    monkeypatch.setattr(cv2, 'imdecode', spy)
    return calls


@pytest.mark.parametrize('bomb,fmt', [(png_bomb, 'png'), (jpeg_bomb, 'jpeg'),
                                      (jpeg_bomb, ''), (png_bomb, 'bgr8; png compressed bgr8')])
def test_bombs_are_refused_before_decoding(bomb, fmt, imdecode_calls):
    data = bomb()
    assert len(data) < 400_000  # a few hundred KB at most, 20000 x 20000 declared
    with pytest.raises(FrameRejected) as e:
        pixels.compressed_to_rgb(data, fmt)
    assert e.value.kind == 'too_large' and '20000x20000' in str(e.value)
    assert imdecode_calls == []


def test_raw_frames_get_the_same_limit_before_any_allocation():
    with pytest.raises(FrameRejected) as e:  # no data at all: refused on the header alone
        pixels.raw_to_rgb(b'', 'rgb8', 20000, 20000, 60000)
    assert e.value.kind == 'too_large'
    small = FrameLimits(max_pixels=100)
    with pytest.raises(FrameRejected):
        pixels.raw_to_rgb(bytes(11 * 10 * 3), 'rgb8', 11, 10, 33, limits=small)
    assert pixels.raw_to_rgb(bytes(10 * 10 * 3), 'rgb8', 10, 10, 30, limits=small).shape == \
        (10, 10, 3)
    with pytest.raises(FrameRejected) as e:
        pixels.raw_to_rgb(bytes(5), 'rgb8', 10, 10, 30)
    assert e.value.kind == 'short_buffer'


@pytest.mark.parametrize('ext,declared,kind', [
    ('.bmp', 'bmp', 'unsupported_format'), ('.bmp', '', 'unsupported_format'),
    ('.tiff', 'tiff', 'unsupported_format'), ('.tiff', 'png', 'unsupported_format'),
    ('.webp', 'jpeg', 'unsupported_format'), ('.webp', '', 'unsupported_format'),
    ('.png', 'jpeg', 'format_mismatch'), ('.jpg', 'png', 'format_mismatch'),
])
def test_only_declared_jpeg_and_png_reach_the_decoder(ext, declared, kind, imdecode_calls):
    with pytest.raises(FrameRejected) as e:
        pixels.compressed_to_rgb(encode(ext), declared)
    assert e.value.kind == kind
    assert imdecode_calls == []


def test_formats_can_be_widened_only_to_ones_whose_header_is_read(imdecode_calls):
    wide = FrameLimits(compressed_formats=('JPEG', 'png', 'bmp'))
    assert wide.compressed_formats == ('jpeg', 'png', 'bmp')
    assert pixels.compressed_to_rgb(encode('.bmp'), 'bmp', wide).shape == (37, 53, 3)
    with pytest.raises(FrameRejected, match='too_large|over the limit'):
        pixels.compressed_to_rgb(encode('.bmp'), 'bmp', FrameLimits(
            max_pixels=100, compressed_formats=('bmp',)))
    assert len(imdecode_calls) == 1
    for bad in (('tiff',), (), 'png'):
        with pytest.raises(ConfigError, match='compressed_formats'):
            FrameLimits(compressed_formats=bad)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match='max_pixels'):
            FrameLimits(max_pixels=bad)


@pytest.mark.parametrize('data,kind', [
    (b'', 'empty'), (b'\x89PNG\r\n\x1a\n\x00\x00', 'corrupt'), (b'\xff\xd8\xff\xe0\x00',
                                                                'corrupt'),
    (b'\xff\xd8\xff\xda\x00\x08' + bytes(8), 'corrupt'),   # scan before any frame header
    (bytes(range(256)) * 4, 'corrupt'),
])
def test_corrupt_headers_are_named(data, kind, imdecode_calls):
    with pytest.raises(FrameRejected) as e:
        pixels.compressed_to_rgb(data, 'jpeg' if data[:2] == b'\xff\xd8' else '')
    assert e.value.kind == kind and imdecode_calls == []


def test_random_bytes_after_a_valid_header_fail_in_the_decoder_not_the_process():
    data = encode('.jpg')[:200] + np.random.default_rng(1).bytes(500)
    check_compressed(data, 'jpeg')  # the header is fine and small
    try:
        pixels.compressed_to_rgb(data, 'jpeg')
    except FrameRejected as e:
        assert e.kind == 'corrupt'


def test_declared_format_strings():
    assert declared_format('jpeg') == 'jpeg' and declared_format('JPG') == 'jpeg'
    assert declared_format('rgb8; jpeg compressed bgr8') == 'jpeg'
    assert declared_format('16UC1; compressedDepth png') == 'compresseddepth'
    assert declared_format('') is None
    assert len(declared_format('x' * 10_000)) <= 40


def test_file_readers_check_before_decoding(tmp_path, imdecode_calls):
    huge = tmp_path / 'huge.png'
    huge.write_bytes(png_header_only(100_000, 100_000))
    for read in (read_rgb, lambda p: read_depth_png(p, 1000.0)):
        with pytest.raises(ImageReadError) as e:
            read(huge)
        assert str(huge) in str(e.value) and e.value.kind == 'too_large'
    bmp = tmp_path / 'frame.bmp'
    bmp.write_bytes(encode('.bmp'))
    with pytest.raises(ImageReadError, match='frame.bmp') as e:
        read_rgb(bmp)
    assert e.value.kind == 'unsupported_format' and imdecode_calls == []
    good = tmp_path / 'good.jpg'
    good.write_bytes(encode('.jpg'))
    assert read_rgb(good).shape == (37, 53, 3)
    depth = tmp_path / 'depth.png'
    cv2.imwrite(str(depth), np.full((4, 6), 2000, np.uint16))
    np.testing.assert_array_equal(read_depth_png(depth, 1000.0), np.full((4, 6), 2.0))


# -- problem log ---------------------------------------------------------------------------------
def test_varying_text_bursts_give_one_line_per_key():
    now = [0.0]
    log = ProblemLog(throttle_s=10.0, expire_s=5.0, clock=lambda: now[0])
    rng = np.random.default_rng(0)
    said = []
    for i in range(300):  # 10 s at 30 Hz, texts differ every time, two kinds alternate
        now[0] = i / 30.0
        key = ('image.short_buffer', 'image.corrupt')[i % 2]
        said.append(log.report(key, f'data holds {int(rng.integers(1e6))} bytes; frame {i}'))
        if i % 3 == 0:
            log.clear_prefix('image.')  # a good frame in between does not reset the throttle
    assert said.count(True) == 2, said.index(True)
    assert log.totals() == {'image.short_buffer': 150, 'image.corrupt': 150}
    now[0] = 10.5
    assert log.report('image.corrupt', 'yet another text') is True  # next throttle period


def test_messages_are_cut_and_counted_per_key():
    log = ProblemLog()
    log.report('image.encoding', 'unsupported encoding ' + 'x' * 10_000)
    for _ in range(4):
        log.report('image.encoding', 'e' * 5000)
    (key, problem), = log.active()
    assert key == 'image.encoding' and problem.count == 5
    assert len(problem.message) <= MESSAGE_CHARS and '5000 chars' in problem.message


def test_keys_from_data_cannot_grow_the_log_without_bound():
    log = ProblemLog()
    for i in range(1000):
        log.report(f'key{i}', 'm')
    assert len(log.totals()) <= 65 and log.totals()['problems.other'] == 1000 - 64


# -- training checkpoints: a kill between any two file operations of a save --------------------
class Killed(BaseException):
    """The process died here: nothing after it runs, no handler cleans up."""


OS_OPERATIONS = ('mkdir', 'open', 'fsync', 'replace', 'rename', 'symlink', 'unlink', 'rmdir')


class KillSwitch:
    """Count os-level file operations; from the n-th on, every one raises Killed."""

    def __init__(self, monkeypatch, kill_at=None):
        import os
        self.count, self.kill_at, self.ops = 0, kill_at, []
        for name in OS_OPERATIONS:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))

    def _wrap(self, name, real):
        def op(*args, **kwargs):
            if self.kill_at is not None and self.count >= self.kill_at:
                raise Killed(name)
            self.count += 1
            self.ops.append(name)
            return real(*args, **kwargs)
        return op


def _tiny_cfg(out, *extra):
    from pathlib import Path
    from clip_depth_ros.train.config import load_config
    yaml_path = Path(__file__).resolve().parent.parent / 'config' / 'train_tiny.yaml'
    return load_config(yaml_path, [f'out_dir={out}', 'optim.epochs=2', 'max_steps_per_epoch=1',
                                   'optim.batch_size=2', 'model.input_short_side=64',
                                   'data.crop_height=48', 'data.crop_width=64', *extra])


def _epoch_of(path):
    """Epoch of the checkpoint at `path`, after checking that every file of it loads."""
    import json
    from clip_depth_ros.engine.checkpoint import read_config, read_tensors
    from clip_depth_ros.train.run_state import STATE_FILE
    import torch
    read_config(path)
    read_tensors(path)
    meta = json.loads((path / 'config.json').read_text())
    if (path / STATE_FILE).exists():
        state = torch.load(path / STATE_FILE, weights_only=True)
        return state['epoch']
    return meta['epoch']


def _history(out):
    """history.jsonl without its timings (the only fields that differ between runs)."""
    import json

    def results(entry):
        return {k: results(v) if isinstance(v, dict) else v for k, v in entry.items()
                if k != 'images_per_s_per_device' and not k.startswith('time_')}
    return [results(json.loads(line)) for line in (out / 'history.jsonl').read_text().splitlines()]


def _same_tensors(a, b):
    from safetensors.torch import load_file
    import torch
    ta, tb = load_file(str(a / 'model.safetensors')), load_file(str(b / 'model.safetensors'))
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def test_checkpoints_load_after_a_kill_at_every_file_operation(tmp_path, monkeypatch, capsys):
    import shutil
    from clip_depth_ros.engine.inference import DepthEstimator
    from clip_depth_ros.train import engine, run_state

    import random
    import torch

    # The uninterrupted run; just before its epoch-2 save, keep the directory and what the
    # save needs (the live model and optimiser do not change after the last save).
    reference, split = tmp_path / 'reference', tmp_path / 'split'
    captured = {}

    def capture(*args, **kwargs):
        if args[5] == 2:
            shutil.copytree(args[0], split, symlinks=True)
            captured.update(args=args, kwargs=kwargs, torch_rng=torch.get_rng_state(),
                            python_rng=random.getstate())
        return run_state.save_epoch(*args, **kwargs)
    monkeypatch.setattr(engine, 'save_epoch', capture)
    engine.fit(_tiny_cfg(reference))
    monkeypatch.undo()
    args, kwargs = captured['args'], captured['kwargs']

    def save_into(out, kill_at):
        shutil.copytree(split, out, symlinks=True)
        torch.set_rng_state(captured['torch_rng'])  # saved with `last`: as at the real save
        random.setstate(captured['python_rng'])
        switch = KillSwitch(monkeypatch, kill_at)
        try:
            run_state.save_epoch(out, *args[1:], **kwargs)
        except Killed:
            pass
        finally:
            monkeypatch.undo()
        return switch

    total = save_into(tmp_path / 'count', None).count
    assert total >= 10  # best and last: files, fsyncs, link swaps, removal of old versions
    outcomes = {}
    for n in range(total):
        out = tmp_path / f'kill{n:03d}'
        save_into(out, n)
        epochs = (_epoch_of(out / 'best'), _epoch_of(out / 'last'))
        assert epochs[1] in (1, 2) and epochs[0] >= epochs[1], (n, epochs)
        # The history always ends at the epoch `last` holds: none lost, none ahead.
        assert [h['epoch'] for h in _history(out)] == list(range(1, epochs[1] + 1)), n
        outcomes.setdefault(epochs, n)
    print(f'{total} file operations per save; kill outcomes (best, last epoch): {outcomes}')
    assert (1, 1) in outcomes and (2, 2) in outcomes and len(outcomes) >= 2, outcomes

    # Every state a kill can leave is resumed, and retraces the uninterrupted run exactly,
    # its history included (one line per epoch, as the uninterrupted run wrote them).
    expected = _history(reference)
    assert [h['epoch'] for h in expected] == [1, 2]
    for epochs, n in sorted(outcomes.items()):
        out = tmp_path / f'kill{n:03d}'
        capsys.readouterr()
        engine.fit(_tiny_cfg(out, f'resume={out / "last"}'))
        # Resumed, not restarted (a restart retraces the same weights): only the epochs after
        # the one `last` holds are trained.
        trained = re.findall(r'^epoch (\d+)/2:', capsys.readouterr().out, re.M)
        assert trained == [str(e) for e in range(epochs[1] + 1, 3)], (epochs, trained)
        for name in ('last', 'best'):
            assert _same_tensors(out / name, reference / name), (epochs, name)
        assert _history(out) == expected, (epochs, n)
        estimator = DepthEstimator.from_checkpoint(out / 'best', device='cpu')
        assert estimator.predict(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)
        # What a killed save leaves is ours alone, and the next save removes it.
        hidden = sorted(p.name.split('.')[1] for p in out.iterdir() if p.name.startswith('.'))
        assert set(hidden) == {'best', 'last'}, hidden
        if epochs[1] == 1:  # the resumed run saved epoch 2 again
            assert hidden == ['best', 'last'], hidden


def test_load_run_restores_the_whole_training_state(tmp_path):
    """Weights, optimiser moments, scheduler position, step and both RNG streams come back."""
    import random
    from clip_depth_ros.config import ModelConfig
    from clip_depth_ros.models import build_model
    from clip_depth_ros.train.config import OptimConfig
    from clip_depth_ros.train.engine import build_optimizer
    from clip_depth_ros.train.losses import silog_loss
    from clip_depth_ros.train.run_state import load_run, save_run
    import torch

    def parts(seed):
        torch.manual_seed(seed)
        model = build_model(ModelConfig(backbone='ViT-T-16-test', pretrained=None), None)
        optimizer = build_optimizer(model, OptimConfig(lr=1e-3, mirror_lr=1e-2))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 / (1 + s))
        return model, optimizer, scheduler, torch.amp.GradScaler('cpu', enabled=False)

    model, optimizer, scheduler, scaler = parts(0)
    target = torch.linspace(1.0, 6.0, 64).view(1, 1, 64, 1).expand(2, 1, 64, 96).contiguous()
    for _ in range(3):
        loss = silog_loss(model(torch.randn(2, 3, 64, 96)), target, torch.ones_like(
            target, dtype=torch.bool))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    save_run(tmp_path / 'last', model, optimizer, scheduler, scaler, 1, 3, 0.5)
    torch_next, python_next = torch.rand(4), random.random()   # the streams as saved

    again = parts(1)   # other weights, fresh optimiser and scheduler, other RNG streams
    random.seed(1)
    assert load_run(tmp_path / 'last', *again) == {'epoch': 1, 'step': 3, 'best': 0.5}
    assert torch.equal(torch.rand(4), torch_next) and random.random() == python_next
    new_model, new_optimizer, new_scheduler, _ = again
    for key, value in model.trainable_state_dict().items():
        assert torch.equal(new_model.trainable_state_dict()[key], value), key
    assert new_scheduler.state_dict()['last_epoch'] == 3
    assert new_scheduler.get_last_lr() == scheduler.get_last_lr()
    saved, loaded = optimizer.state_dict(), new_optimizer.state_dict()
    assert loaded['state'].keys() == saved['state'].keys() and saved['state']
    for index, moments in saved['state'].items():
        for name, value in moments.items():
            assert torch.equal(loaded['state'][index][name], value), (index, name)


def test_history_saved_with_the_state_reads_back_only_valid_epochs(tmp_path):
    from clip_depth_ros.train.run_state import HISTORY_FILE, read_history
    (tmp_path / HISTORY_FILE).write_text('\n'.join([
        '{"epoch": 1, "loss": 3.0}', '{"epoch": 2, "loss": 2.0}', '{"epoch": 2, "loss": 1.5}',
        '[2]', '{"epoch": "3"}', '{"epoch": 0}', '{"loss": 1}', '{"epoch": 3, "lo',
        '{"epoch": 4, "loss": 0.5}']) + '\n')
    assert read_history(tmp_path, 3) == [{'epoch': 1, 'loss': 3.0}, {'epoch': 2, 'loss': 1.5}]
    assert [r['epoch'] for r in read_history(tmp_path, 4)] == [1, 2, 4]
    # Checkpoints from before history lived in them: the run directory's file.
    assert read_history(tmp_path / 'last', 3) == read_history(tmp_path, 3)
    assert read_history(tmp_path / 'other' / 'last', 4) == []
