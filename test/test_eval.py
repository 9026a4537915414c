# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation next to a paper's table: named protocols, guarded splits, plausible depth."""

import csv
import json
import logging
import os
from pathlib import Path
import subprocess
import sys

from clip_depth_ros.train import datasets as ds
from clip_depth_ros.train.augment import to_network_scale
from clip_depth_ros.train.datasets import splits
from clip_depth_ros.train.engine import evaluate
from clip_depth_ros.train.metrics import compute_errors, crop_mask, resolve_protocol
import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
TUM = REPO / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy'
BIN = os.path.dirname(sys.executable)
KITTI_FOCAL = 721.5377


def write_rgb(path, h, w, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return rgb


def write_png16(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.asarray(values).astype(np.uint16))


def bts_mask(gt, top, bottom, left, right, max_depth):
    """Cut the evaluation mask as BTS's bts_eval.py does: float64 fractions, astype(int32)."""
    h, w = gt.shape
    crop = np.array([top * h, bottom * h, left * w, right * w]).astype(np.int32)
    box = np.zeros(gt.shape)
    box[crop[0]:crop[1], crop[2]:crop[3]] = 1
    return np.logical_and(np.logical_and(gt > 1e-3, gt < max_depth), box)


def constant(depth_m):
    return lambda rgb, focal=None: np.full(rgb.shape[:2], depth_m, np.float32)


# -- 1. named protocols, each against BTS's published fractions on a full-size frame -----------
@pytest.fixture
def kitti_frame(tmp_path):
    """Write a full-size KITTI frame (375x1242, synthetic) with LiDAR-like depth to 100 m."""
    rng = np.random.default_rng(3)
    gt = np.where(rng.random((375, 1242)) < 0.3, rng.uniform(1.0, 100.0, (375, 1242)), 0.0)
    write_rgb(tmp_path / 'raw' / 'd_sync' / 'image_02' / 'data' / '0.png', 375, 1242)
    write_png16(tmp_path / 'gt' / 'd_sync' / '0.png', np.round(gt * 256))
    lst = tmp_path / 'list.txt'
    lst.write_text(f'd_sync/image_02/data/0.png d_sync/0.png {KITTI_FOCAL}\n')
    data = ds.ListDataset(ds.parse_bts_list(lst, tmp_path / 'raw', tmp_path / 'gt'), 256.0,
                          crop_kb=True)
    return data, np.round(gt * 256) / 256


@pytest.mark.parametrize('crop,fractions,full', [
    ('garg', (0.40810811, 0.99189189, 0.03594771, 0.96405229), True),
    ('garg_kb', (0.40810811, 0.99189189, 0.03594771, 0.96405229), False),
    ('eigen', (0.3324324, 0.91351351, 0.0359477, 0.96405229), True),
])
def test_kitti_protocols_match_bts_masks_on_the_full_frame(kitti_frame, crop, fractions, full):
    data, gt_full = kitti_frame
    protocol = resolve_protocol('kitti', crop)
    assert (protocol.min_depth, protocol.max_depth, protocol.full_frame) == (1e-3, 80.0, full)
    metrics, rows = evaluate(constant(15.0), data, protocol)
    # Reference: BTS pads the 352x1216 prediction into the full frame (zeros -> min depth).
    if full:
        gt = gt_full
        pred = np.zeros(gt.shape)
        pred[375 - 352:, 13:13 + 1216] = 15.0
    else:
        gt = gt_full[375 - 352:, 13:13 + 1216]
        pred = np.full(gt.shape, 15.0)
    mask = bts_mask(gt, *fractions, 80.0)
    np.testing.assert_array_equal(crop_mask(protocol.mask, *gt.shape) & (gt > 1e-3) & (gt < 80),
                                  mask)
    expected = compute_errors(gt[mask], np.clip(pred[mask], 1e-3, 80.0))
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-9), key
    outside = ((gt > 0) & (gt >= 80) & crop_mask(protocol.mask, *gt.shape)).sum()
    assert metrics['gt_out_of_range_fraction'] == pytest.approx(
        outside / ((gt > 0) & crop_mask(protocol.mask, *gt.shape)).sum())
    assert rows[0]['gt_out_of_range'] == pytest.approx(metrics['gt_out_of_range_fraction'],
                                                       abs=1e-6)


def test_kitti_crops_have_the_published_pixel_boxes():
    def box(name, h, w):
        rows, cols = np.where(crop_mask(name, h, w))
        return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    assert box('garg', 375, 1242) == (153, 371, 44, 1197)       # BTS offline, full frame
    assert box('garg', 352, 1216) == (143, 349, 43, 1172)       # online: rows 166..371 in full
    assert box('kitti_eigen', 375, 1242) == (124, 342, 44, 1197)
    assert box('nyu_eigen', 480, 640) == (45, 471, 41, 601)


def test_nyu_eigen_protocol_and_refused_crops():
    protocol = resolve_protocol('nyu')
    assert (protocol.crop, protocol.mask, protocol.max_depth) == ('eigen', 'nyu_eigen', 10.0)
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 12.0, (480, 640))
    item = {'image': np.zeros((480, 640, 3), np.uint8), 'depth': gt, 'name': 'n'}
    metrics, _ = evaluate(constant(3.0), [item], protocol)
    mask = np.zeros(gt.shape, bool)
    mask[45:471, 41:601] = True
    mask &= (gt > 1e-3) & (gt < 10)
    assert metrics['abs_rel'] == pytest.approx(compute_errors(gt[mask], np.full(mask.sum(),
                                                                                3.0))['abs_rel'])
    with pytest.raises(ValueError, match=r'--crop garg_kb: not a protocol of nyu'):
        resolve_protocol('nyu', 'garg_kb')
    assert 'BTS offline evaluation' in resolve_protocol('kitti').describe()


def test_eval_cli_names_the_protocol_everywhere(tmp_path, kitti_frame):
    root, gt = tmp_path / 'raw', tmp_path / 'gt'
    out = tmp_path / 'o'
    r = subprocess.run([os.path.join(BIN, 'clip-depth-eval'), '--baseline', 'median',
                        '--constant-depth-m', '15', '--dataset', 'kitti', '--data-root',
                        str(root), '--gt-root', str(gt), '--split-file',
                        str(tmp_path / 'list.txt'), '--out', str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert ('protocol: kitti, crop garg (BTS offline evaluation (bts_eval.py, '
            'eval_with_pngs.py): Garg crop of the full frame') in r.stdout
    assert 'depth 0.001..80 m, flip off, focal not used (baseline)' in r.stdout
    assert 'of the measured pixels in the crop lie outside 0.001..80 m' in r.stdout
    assert 'time per image: model' in r.stdout
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['protocol']['crop'] == 'garg' and metrics['protocol']['max_depth_m'] == 80
    assert metrics['time_model_ms'] >= 0 and metrics['time_end_to_end_ms'] >= 0
    with open(out / 'per_image.csv') as f:
        row = next(csv.DictReader(f))
    assert row['protocol'] == 'kitti garg 0.001..80 m flip off'


# -- 2. guarded splits --------------------------------------------------------------------------
def test_the_shipped_test_lists_have_the_published_sizes():
    assert len(splits.nyu_test_names()) == 654
    indices = splits.nyu_test_indices()
    assert len(indices) == 654 and min(indices) >= 1 and max(indices) <= 1449
    frames = splits.kitti_test_frames()
    left = {f for f in frames if '/image_02/' in f}
    assert len(left) == 697 and len({f.split('/')[0] for f in left}) == 28
    assert 'kitchen/rgb_00000.jpg' in splits.nyu_test_names() and 1 in indices


def nyu_list(tmp_path, name, frames):
    lines = []
    for frame in frames:
        scene, number = frame.split('/')
        write_rgb(tmp_path / scene / f'rgb_{number}.jpg', 48, 64)
        write_png16(tmp_path / scene / f'sync_depth_{number}.png', np.full((48, 64), 2000))
        lines.append(f'/{scene}/rgb_{number}.jpg /{scene}/sync_depth_{number}.png 518.8579')
    path = tmp_path / name
    path.write_text('\n'.join(lines) + '\n')
    return path


def train_cli(tmp_path, *overrides):
    return subprocess.run(
        [os.path.join(BIN, 'clip-depth-train'), str(REPO / 'config' / 'train_tiny.yaml'),
         'data.dataset=nyu', f'data.root={tmp_path / "data"}', f'out_dir={tmp_path / "run"}',
         *overrides], capture_output=True, text=True, timeout=300)


def test_training_refuses_the_nyu_test_split_as_validation(tmp_path):
    train = nyu_list(tmp_path / 'data', 'train.txt', ['kitchen_0028b/00001',
                                                      'office_0004/00002'])
    val = nyu_list(tmp_path / 'data', 'val.txt', ['bathroom/00045', 'office_0004/00003'])
    r = train_cli(tmp_path, f'data.train_list={train}', f'data.val_list={val}')
    assert r.returncode == 2, r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr
    assert ('validation: 1 of 2 frames are in the official NYU Depth v2 test split (654 '
            'images)') in r.stderr and 'bathroom/rgb_00045.jpg' in r.stderr
    assert 'data.allow_test_frames: true' in r.stderr
    assert not (tmp_path / 'run' / 'best').exists()


def test_training_refuses_validation_frames_that_train(tmp_path):
    train = nyu_list(tmp_path / 'data', 'train.txt', ['kitchen_0028b/00001',
                                                      'office_0004/00002'])
    r = train_cli(tmp_path, f'data.train_list={train}', f'data.val_list={train}')
    assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr
    assert 'validation: 2 of 2 frames are training frames too' in r.stderr


def test_test_frames_pass_only_with_the_logged_override(tmp_path, caplog):
    train = ds.ListDataset(ds.parse_bts_list(
        nyu_list(tmp_path, 'train.txt', ['kitchen_0028b/00001']), tmp_path), 1000.0)
    val = ds.ListDataset(ds.parse_bts_list(
        nyu_list(tmp_path, 'val.txt', ['kitchen/00000']), tmp_path), 1000.0)
    with pytest.raises(splits.SplitError):
        splits.check_splits(train, val)
    with caplog.at_level(logging.WARNING):
        splits.check_splits(train, val, allow_test_frames=True)
    assert 'used anyway (data.allow_test_frames: true)' in caplog.text
    assert 'kitchen/rgb_00000.jpg' in caplog.text


def test_kitti_eigen_test_frames_and_splits_mat_indices_are_refused(tmp_path):
    drive = '2011_09_26/2011_09_26_drive_0002_sync/image_02/data'
    write_rgb(tmp_path / drive / '0000000069.png', 8, 8)
    write_rgb(tmp_path / drive / '0000000070.png', 8, 8)
    lst = tmp_path / 'train.txt'
    lst.write_text(f'{drive}/0000000069.png None {KITTI_FOCAL}\n'
                   f'{drive}/0000000070.png None {KITTI_FOCAL}\n')
    train = ds.ListDataset(ds.parse_bts_list(lst, tmp_path, require_depth=False), 256.0, True)
    with pytest.raises(splits.SplitError, match=r"training: 1 of 2 frames are in KITTI's Eigen "
                                                r'test split .*0000000069.png'):
        splits.check_splits(train, None)
    # The labelled .mat by index: splits.mat testNdxs 1, 2, 9 are test images; 3 is not.
    assert splits.test_frame('nyu_mat/1') and splits.test_frame('nyu_mat/9')
    assert splits.test_frame('nyu_mat/3') is None


# -- 3. plausible depth, or a clear word ----------------------------------------------------------
def sunrgbd_png(path, mm):
    """Store millimetres as SUN RGB-D does: rotated left by 3 bits."""
    mm = np.asarray(mm, np.uint32)
    write_png16(path, ((mm << 3) | (mm >> 13)) & 0xFFFF)


def test_sunrgbd_depth_is_a_named_format_and_a_wrong_read_is_said_once(tmp_path, caplog):
    mm = np.random.default_rng(1).integers(1500, 4000, (48, 64))
    for name in ('a', 'b'):
        write_rgb(tmp_path / 'rgb' / f'{name}.png', 48, 64)
        sunrgbd_png(tmp_path / 'depth' / f'{name}.png', mm)
    right = ds.FolderDataset(tmp_path, 1000.0, depth_format='sunrgbd')
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(right[0]['depth'], mm / 1000.0, rtol=1e-6)
    assert caplog.text == ''
    wrong = ds.FolderDataset(tmp_path, 1000.0)
    with caplog.at_level(logging.WARNING):
        wrong[0], wrong[1]
    assert caplog.text.count('lies outside 0.001..10 m') == 1, caplog.text
    assert f'{tmp_path / "depth" / "a.png"}: 100 % of the measured depth' in caplog.text
    assert 'depth scale or format is likely wrong' in caplog.text and 'sunrgbd' in caplog.text


def test_near_sunrgbd_depth_read_linearly_is_named_by_its_signature(tmp_path, caplog):
    """A desk at 0.5..1.2 m read linearly lands at 4..9.6 m: in range, but all multiples of 8."""
    mm = np.random.default_rng(2).integers(500, 1200, (48, 64))
    write_rgb(tmp_path / 'rgb' / 'a.png', 48, 64)
    sunrgbd_png(tmp_path / 'depth' / 'a.png', mm)
    with caplog.at_level(logging.WARNING):
        ds.FolderDataset(tmp_path, 1000.0)[0]
    assert 'every one of the 3072 measured depth values is a multiple of 8' in caplog.text
    assert '--depth-format sunrgbd' in caplog.text
    caplog.clear()
    write_png16(tmp_path / 'depth' / 'a.png', mm)  # the same millimetres stored linearly
    with caplog.at_level(logging.WARNING):
        ds.FolderDataset(tmp_path, 1000.0)[0]
    assert caplog.text == ''


def test_eval_table_gives_the_share_of_ground_truth_left_out_by_range(tmp_path):
    depth = np.full((48, 64), 2000)
    depth[:12] = 20000  # a quarter at 20 m: beyond NYU's and the folder default's 10 m
    write_rgb(tmp_path / 'd' / 'rgb' / 'a.png', 48, 64)
    write_png16(tmp_path / 'd' / 'depth' / 'a.png', depth)
    r = subprocess.run([os.path.join(BIN, 'clip-depth-eval'), '--baseline', 'median',
                        '--constant-depth-m', '2', '--dataset', 'folder', '--data-root',
                        str(tmp_path / 'd'), '--out', str(tmp_path / 'o')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert ('25.00 % of the measured pixels in the crop lie outside 0.001..10 m and are left '
            'out') in r.stdout


# -- 4. aligned targets --------------------------------------------------------------------------
def test_depth_edges_land_on_the_image_edges_after_the_first_resize():
    """Each row steps from dark and near to bright and far at its own column (sharp edge)."""
    h, w, size = 96, 640, (96, 464)   # 640 -> 464 px: 0.725 network px per frame px
    image = np.zeros((h, w, 3), np.uint8)
    depth = np.ones((h, w), np.float32)
    edges = 200 + np.arange(h) * 1.37
    for row, edge in enumerate(edges.astype(int)):
        image[row, edge:] = 255
        depth[row, edge:] = 3.0
    net_image, net_depth = to_network_scale(image, depth, size)
    offsets = []
    for row in range(h):
        values = net_image[row, :, 0].astype(float) / 255
        j = int(np.nonzero(values < 0.5)[0].max())       # last dark pixel centre
        image_edge = j + 0.5 + (0.5 - values[j]) / (values[j + 1] - values[j])
        depth_edge = int(np.argmax(net_depth[row] > 2.0))  # first far pixel: its left side
        offsets.append(depth_edge - image_edge)
    assert abs(np.mean(offsets)) <= 0.1, np.mean(offsets)
    assert np.max(np.abs(offsets)) <= 0.6


# -- 5. smaller ----------------------------------------------------------------------------------
def test_eval_val_gap_leaves_the_gap_out_as_training_does(tmp_path):
    def run(*extra):
        out = tmp_path / ('o' + str(len(extra)))
        r = subprocess.run([os.path.join(BIN, 'clip-depth-eval'), '--baseline', 'median',
                            '--dataset', 'tum', '--data-root', str(TUM), '--subset', 'train',
                            '--val-fraction', '0.3', '--out', str(out), *extra],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        with open(out / 'pairs.csv') as f:
            return json.loads((out / 'metrics.json').read_text()), list(csv.DictReader(f))
    plain, _ = run()
    gapped, rows = run('--val-gap-s', '0.08')  # frames 32 ms apart: two in the gap
    assert plain['count'] == 7 and gapped['count'] == 5
    assert [r['split'] for r in rows].count('gap') == 2
    assert gapped['constant_depth_m'] != plain['constant_depth_m']  # median of the 5 frames


def test_depthclip_flip_is_averaged_once(tmp_path):
    from clip_depth_ros.engine.inference import DepthClipEstimator
    from clip_depth_ros.models.backbone import create_clip, save_clip_weights
    import torch
    torch.manual_seed(0)
    weights = tmp_path / 'clip.safetensors'
    save_clip_weights(create_clip('ViT-T-16-test', None), weights)
    estimator = DepthClipEstimator('ViT-T-16-test', str(weights), 'cpu')
    item = {'image': write_rgb(tmp_path / 'a.png', 48, 64), 'name': 'a',
            'depth': np.full((48, 64), 2.0, np.float32)}
    once, _ = evaluate(estimator.predict, [item], resolve_protocol('folder', flip=False))
    flipped, _ = evaluate(estimator.predict, [item], resolve_protocol('folder', flip=True))
    assert flipped['abs_rel'] == once['abs_rel']


def test_eval_failures_are_one_line(tmp_path):
    write_rgb(tmp_path / 'd' / 'rgb' / 'a.png', 48, 64)
    write_png16(tmp_path / 'd' / 'depth' / 'a.png', np.full((48, 64), 2000))
    # Offline with an empty hub cache: open_clip logs the failed download and raises it.
    r = subprocess.run([os.path.join(BIN, 'clip-depth-eval'), '--baseline', 'depthclip',
                        '--pretrained', 'openai', '--dataset', 'folder', '--data-root',
                        str(tmp_path / 'd'), '--out', str(tmp_path / 'o'), '--device', 'cpu'],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, HF_HUB_OFFLINE='1', HF_HOME=str(tmp_path / 'hf')))
    assert r.returncode == 1 and r.stderr.count('\n') == 1, r.stderr
    assert r.stderr.startswith('clip-depth-eval: error: DepthCLIP baseline: ')
    assert "weights 'openai'" in r.stderr


def test_version_1_checkpoints_keep_the_uncapped_input_rule(tiny_checkpoint, tmp_path):
    import shutil
    from clip_depth_ros.engine.checkpoint import CONFIG_FILE
    from clip_depth_ros.engine.inference import DepthEstimator
    ckpt = tmp_path / 'v1'
    shutil.copytree(tiny_checkpoint, ckpt)
    meta = json.loads((ckpt / CONFIG_FILE).read_text())
    meta['format_version'] = 1
    for name in ('input_max_tokens', 'input_max_aspect', 'canonical_focal_px'):
        meta['model'].pop(name)
    (ckpt / CONFIG_FILE).write_text(json.dumps(meta))
    legacy = DepthEstimator.from_checkpoint(ckpt, device='cpu', precision='fp32')
    current = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='fp32')
    # The rule before the cap: short side 352, each side rounded to a multiple of 16.
    assert legacy.input_size(200, 1400) == (352, 2464)
    assert legacy.input_size(375, 1242) == (352, 1168)
    capped = current.input_size(375, 1242)
    assert capped != (352, 1168) and (capped[0] // 16) * (capped[1] // 16) <= 1024
    assert legacy.input_size(480, 640) == current.input_size(480, 640) == (352, 464)
