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
