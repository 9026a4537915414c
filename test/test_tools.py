# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The command-line tools, run as installed console scripts on real files."""

import os
import subprocess
import sys

from conftest import sample_paths
import cv2
import numpy as np


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
    from clip_depth_ros.colormap import colorize_depth
    depth = np.array([[0.5, 9.5, np.nan]], dtype=np.float32)
    rgb = colorize_depth(depth, 0.0, 10.0)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 3, 3)
    assert (rgb[0, 2] == 0).all()
    assert rgb[0, 0, 0] > rgb[0, 0, 2]  # near: red over blue
    assert rgb[0, 1, 2] > rgb[0, 1, 0]  # far: blue over red
