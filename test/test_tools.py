# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The command-line tools, run as installed console scripts on real files."""

import os
from pathlib import Path
import subprocess
import sys

from conftest import sample_paths
import cv2
import numpy as np
import pytest


def run(*args, **kw):
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=300, **kw)


def script(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def test_init_then_infer_on_real_photos(tmp_path):
    ckpt, out = tmp_path / 'ckpt', tmp_path / 'out'
    r = run(script('clip-depth-init'), '--backbone', 'ViT-T-16-test', '--out', str(ckpt))
    assert r.returncode == 0, r.stderr
    photos = sample_paths()[:2]
    r = run(script('clip-depth-infer'), *map(str, photos), '--checkpoint', str(ckpt),
            '--out', str(out), '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    for photo in photos:
        depth = np.load(out / f'{photo.stem}.npy')
        assert depth.shape == (480, 640) and depth.dtype == np.float32
        preview = cv2.imread(str(out / f'{photo.stem}.png'))
        assert preview.shape == (480, 640, 3)


def test_infer_names_a_bad_image_and_writes_nothing(tmp_path, tiny_checkpoint):
    bad = tmp_path / 'broken.png'
    bad.write_bytes(b'not a png')
    out = tmp_path / 'out'
    r = run(script('clip-depth-infer'), str(bad), '--checkpoint', str(tiny_checkpoint),
            '--out', str(out))
    assert r.returncode == 1
    assert str(bad) in r.stderr and 'Traceback' not in r.stderr
    assert not out.exists()


def test_infer_names_a_bad_checkpoint(tmp_path):
    photo = sample_paths()[0]
    r = run(script('clip-depth-infer'), str(photo), '--checkpoint', str(tmp_path / 'nope'),
            '--out', str(tmp_path / 'o'))
    assert r.returncode == 1 and 'nope' in r.stderr and 'Traceback' not in r.stderr


def test_colorize_marks_invalid_black_and_near_warm():
    from clip_depth_ros.frames.colormap import colorize_depth
    depth = np.array([[0.5, 9.5, np.nan]], dtype=np.float32)
    rgb = colorize_depth(depth, 0.0, 10.0)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 3, 3)
    assert (rgb[0, 2] == 0).all()
    assert rgb[0, 0, 0] > rgb[0, 0, 2]  # near: red over blue
    assert rgb[0, 1, 2] > rgb[0, 1, 0]  # far: blue over red


# -- faults: one line naming the file, exit 1 (2 for usage), inputs never replaced -------------
def error_line(r):
    assert 'Traceback' not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if ': error: ' in line]
    assert len(lines) == 1, r.stderr
    return lines[0]


def sha256(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_infer_refuses_to_replace_its_input(tmp_path, tiny_checkpoint):
    frame = tmp_path / 'frame.png'
    cv2.imwrite(str(frame), np.full((48, 64, 3), 90, np.uint8))
    before = sha256(frame)
    r = run(script('clip-depth-infer'), str(frame), '--checkpoint', str(tiny_checkpoint),
            '--out', str(tmp_path))
    assert r.returncode == 2 and 'would replace the input' in error_line(r)
    assert sha256(frame) == before and sorted(os.listdir(tmp_path)) == ['frame.png']


def test_infer_keeps_existing_outputs_unless_asked(tmp_path, tiny_checkpoint):
    frame, out = tmp_path / 'frame.jpg', tmp_path / 'out'
    cv2.imwrite(str(frame), np.full((48, 64, 3), 90, np.uint8))
    out.mkdir()
    (out / 'frame.npy').write_bytes(b'mine')
    args = [script('clip-depth-infer'), str(frame), '--checkpoint', str(tiny_checkpoint),
            '--out', str(out), '--device', 'cpu']
    r = run(*args)
    assert r.returncode == 2 and str(out / 'frame.npy') in error_line(r)
    assert (out / 'frame.npy').read_bytes() == b'mine'
    r = run(*args, '--overwrite')
    assert r.returncode == 0, r.stderr
    assert np.load(out / 'frame.npy').shape == (48, 64)
    assert sorted(os.listdir(out)) == ['frame.npy', 'frame.png']  # no temporary left


def test_infer_refuses_a_png_claiming_100000_squared(tmp_path, tiny_checkpoint):
    from bombs import png_header_only
    huge = tmp_path / 'huge.png'
    huge.write_bytes(png_header_only(100_000, 100_000))
    r = run(script('clip-depth-infer'), str(huge), '--checkpoint', str(tiny_checkpoint),
            '--out', str(tmp_path / 'out'))
    line = error_line(r)
    assert r.returncode == 1 and str(huge) in line and '100000x100000' in line


def test_truncated_clip_weights_is_one_line_and_debug_shows_traceback(tmp_path,
                                                                      tiny_checkpoint):
    import shutil
    broken = tmp_path / 'ckpt'
    shutil.copytree(tiny_checkpoint, broken)
    weights = broken / 'clip_weights.safetensors'
    weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])
    frame = tmp_path / 'frame.png'
    cv2.imwrite(str(frame), np.zeros((48, 64, 3), np.uint8))
    args = [script('clip-depth-infer'), str(frame), '--checkpoint', str(broken), '--out',
            str(tmp_path / 'out')]
    r = run(*args)
    line = error_line(r)
    # The file and its problem, in one line (not only the checkpoint directory).
    assert r.returncode == 1 and f'{weights}: corrupt or truncated' in line, line
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run(*args, '--debug')
    assert r.returncode == 1 and 'Traceback' in r.stderr


BAD_OVERRIDES = ['optim.epochs=[1', 'optim.lr=!!python/object/apply:os.system ["echo pwned"]',
                 'optim.epochs', 'optim.nope=3']


@pytest.mark.parametrize('override', BAD_OVERRIDES)
def test_bad_training_override_is_a_usage_error(override):
    config = Path(__file__).resolve().parent.parent / 'config' / 'train_tiny.yaml'
    r = run(script('clip-depth-train'), str(config), override, '--print-config')
    assert r.returncode == 2, r.stderr
    line = error_line(r)
    assert 'pwned' not in r.stdout
    assert 'override' in line or 'optim.nope' in line, line


def test_infer_on_a_full_disk_names_the_output(tmp_path, tiny_checkpoint):
    """RLIMIT_FSIZE: writes past 1000 bytes fail (EFBIG or a short write), as on a full disk."""
    import resource
    frame, out = tmp_path / 'frame.png', tmp_path / 'out'
    cv2.imwrite(str(frame), np.full((48, 64, 3), 90, np.uint8))
    out.mkdir()
    r = subprocess.run([script('clip-depth-infer'), str(frame), '--checkpoint',
                        str(tiny_checkpoint), '--out', str(out), '--device', 'cpu'],
                       capture_output=True, text=True, timeout=300,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                             (1000, 1000)))
    assert r.returncode == 1 and str(out / 'frame.npy') in error_line(r)
    assert os.listdir(out) == []
