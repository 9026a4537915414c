# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The built-in demo, offline with the tiny model, end to end over real DDS."""

import json
import os
import subprocess
import sys

import cv2
from rosbags.rosbag2 import Reader


def demo(*args, env_extra=None):
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-demo')
    env = dict(os.environ, HF_HUB_OFFLINE='1', **(env_extra or {}))
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_demo_runs_offline_with_tiny_model(tmp_path):
    out = tmp_path / 'demo'
    r = demo('--tiny', '--frames', '3', '--out', out, '--device', 'cpu')
    assert r.returncode == 0, r.stderr + r.stdout
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 3 and summary['model'] == 'ViT-T-16-test'
    assert (out / '.clip-depth-demo').is_file()  # the marker that lets a rerun reuse it
    with Reader(out / 'bag') as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert any(p.suffix == '.mcap' for p in (out / 'bag').iterdir())
    for topic in ('/image', '/camera_info', '/depth/image', '/depth/camera_info',
                  '/depth/points'):
        assert counts[topic] == 3, (topic, counts)
    previews = sorted((out / 'previews').glob('*.png'))
    assert len(previews) == 3
    assert cv2.imread(str(previews[0])).shape == (480, 1280, 3)
    # A second run replaces its own earlier output.
    r = demo('--tiny', '--frames', '1', '--out', out, '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    assert json.loads((out / 'summary.json').read_text())['frames'] == 1


def test_demo_says_plainly_when_offline(tmp_path):
    r = demo('--frames', '1', '--out', tmp_path / 'demo')
    assert r.returncode == 2
    assert 'offline' in r.stdout and '--tiny' in r.stdout and 'Traceback' not in r.stderr


def test_demo_refuses_a_directory_it_did_not_create(tmp_path):
    out = tmp_path / 'mine'
    (out / 'checkpoint').mkdir(parents=True)
    (out / 'bag').mkdir()
    (out / 'checkpoint' / 'model.safetensors').write_bytes(b'my weights')
    (out / 'bag' / 'ride.mcap').write_bytes(b'my bag')
    (out / 'summary.json').write_text('{}')  # looked like a demo output before
    r = demo('--tiny', '--frames', '1', '--out', out, '--device', 'cpu')
    assert r.returncode == 2 and 'not created by clip-depth-demo' in r.stderr
    assert 'Traceback' not in r.stderr
    assert (out / 'checkpoint' / 'model.safetensors').read_bytes() == b'my weights'
    assert (out / 'bag' / 'ride.mcap').read_bytes() == b'my bag'
    assert sorted(p.name for p in out.iterdir()) == ['bag', 'checkpoint', 'summary.json']
