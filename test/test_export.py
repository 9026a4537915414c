# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export and the onnxruntime engine agree with PyTorch."""

import os
import subprocess
import sys

from clip_depth_ros.engine.onnx import OnnxDepthEstimator
import numpy as np
import pytest


@pytest.fixture(scope='module')
def onnx_model(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp('onnx') / 'tiny.onnx'
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-export')
    r = subprocess.run([exe, '--checkpoint', str(tiny_checkpoint), '--height', '480',
                        '--width', '640', '--out', str(out), '--check'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'max relative difference' in r.stdout
    assert float(r.stdout.rsplit(':', 1)[1]) <= 1e-4, r.stdout  # whole pipeline, a real frame
    return out


def test_onnxruntime_matches_pytorch_end_to_end(onnx_model, tiny_checkpoint, sample_rgb):
    """Same post-processing in both engines: only the graph's arithmetic differs (<= 1e-4)."""
    from clip_depth_ros.engine.inference import DepthEstimator
    ort = OnnxDepthEstimator(onnx_model)
    assert ort.network_size == (352, 464)
    torch_engine = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu',
                                                  precision='fp32')
    for focal in (None, 300.0):
        ours = torch_engine.predict(sample_rgb, focal_px=focal)
        theirs = ort.predict(sample_rgb, focal_px=focal)
        assert theirs.shape == ours.shape == (480, 640)
        assert np.max(np.abs(theirs - ours) / ours) <= 1e-4
    assert ort.random_clip_weights


def test_onnx_refuses_other_frame_sizes(onnx_model):
    with pytest.raises(ValueError, match='exported for 640x480'):
        OnnxDepthEstimator(onnx_model).predict(np.zeros((240, 320, 3), np.uint8))


def test_not_our_onnx_is_named(tmp_path):
    bad = tmp_path / 'x.onnx'
    bad.write_bytes(b'not onnx')
    with pytest.raises(RuntimeError, match='x.onnx'):
        OnnxDepthEstimator(bad)


def test_bag_with_onnx_engine_skips_the_frames_it_cannot_run(onnx_model, tmp_path):
    """A frame the engine's input rule refuses is skipped and counted, as the node does."""
    from clip_depth_ros.bags.depth_writer import process_bag
    from test_bag_tool import write_bag
    src = write_bag(tmp_path / 'in', n=2)  # 64x48 frames; the model was exported for 640x480
    summary = process_bag(src, tmp_path / 'out', OnnxDepthEstimator(onnx_model))
    assert summary.frames == 0
    ((topic, kind), (count, first)), = summary.skip_reasons.items()
    assert (topic, kind, count) == ('/cam/color/image_raw', 'image.size', 2)
    assert 'exported for 640x480' in first
