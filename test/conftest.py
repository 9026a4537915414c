# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: a tiny real CLIP checkpoint, real sample frames, DDS kept on this host."""

import os
from pathlib import Path

import numpy as np
import pytest

# No test reaches a hub, and DDS traffic stays on this machine with a domain of our own.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / 'shared' / 'samples' / 'tum_freiburg1_rpy'
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
    if not rgb:
        pytest.skip(f'sample frames not found under {SAMPLES}')
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
