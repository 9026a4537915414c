# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: a tiny real CLIP checkpoint, real sample frames, DDS kept on this host."""

import collections
import os
from pathlib import Path

import numpy as np
import pytest

# No test reaches a hub, and DDS traffic stays on this machine with a domain of our own.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))

REPO = Path(__file__).resolve().parent.parent
# Everything a test reads lives in the repository: the shipped TUM frames (a TUM sequence by
# their associations.txt) and, under test/data, that sequence's ground-truth trajectory.
SAMPLES = REPO / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy'
GROUNDTRUTH = REPO / 'test' / 'data' / 'tum_fr1_rpy_groundtruth.txt'
TINY = 'ViT-T-16-test'


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Build an untrained ViT-T-16-test checkpoint, its random CLIP weights saved beside it."""
    from clip_depth_ros.cli.init import main
    out = tmp_path_factory.mktemp('ckpt') / 'tiny'
    assert main(['--backbone', TINY, '--out', str(out), '--seed', '1']) == 0
    return out


@pytest.fixture(scope='session')
def tiny_estimator(tiny_checkpoint):
    from clip_depth_ros.engine.inference import DepthEstimator
    return DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu')


def sample_paths():
    rgb = sorted((SAMPLES / 'rgb').glob('*.png'))
    assert rgb, f'the shipped sample frames are missing from {SAMPLES}'
    return rgb


@pytest.fixture(scope='session')
def sample_rgb() -> np.ndarray:
    from clip_depth_ros.frames.image_io import read_rgb
    return read_rgb(sample_paths()[0])


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Restore torch's process-wide thread count, which the depth node sets."""
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def pytest_terminal_summary(terminalreporter) -> None:
    """End every run with the skipped tests counted by reason: a green run says what it left."""
    reasons = collections.Counter()
    for report in terminalreporter.stats.get('skipped', []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix('Skipped: ')] += 1
    if not reasons:
        return
    terminalreporter.section(f'{sum(reasons.values())} skipped, by reason')
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f'{count:4d}  {reason}')
