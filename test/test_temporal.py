# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Temporal consistency with poses: TUM trajectories, warping, and the ten TUM sample frames."""

import csv
import json

from clip_depth_ros.frames.geometry import Intrinsics
from clip_depth_ros.train.datasets import TumDataset
from clip_depth_ros.train.temporal import (PoseFileError, quaternion_matrix, read_tum_poses,
                                           relative_difference, TemporalConsistency, warp_depth)
from conftest import GROUNDTRUTH, REPO, SAMPLES
import numpy as np
import pytest

CAMERA = (517.3, 516.5, 318.6, 255.3)   # TUM freiburg1, as published


def test_tum_poses_read_and_interpolate(tmp_path):
    path = tmp_path / 'traj.txt'
    half = np.sin(np.pi / 4)  # 90 degrees about z at t = 2 s
    path.write_text('# timestamp tx ty tz qx qy qz qw\n'
                    f'2.0 2 0 0 0 0 {half} {half}\n'
                    '1.0 0 0 0 0 0 0 1\n')
    track = read_tum_poses(path)
    assert track.stamps_ns == [1_000_000_000, 2_000_000_000]
    np.testing.assert_allclose(track.at(1_000_000_000), np.eye(4), atol=1e-12)
    assert track.at(1_500_000_000) is None   # 1 s between poses: no interpolation by default
    mid = track.at(1_500_000_000, max_gap_ns=2 * 10**9)
    np.testing.assert_allclose(mid[:3, 3], [1, 0, 0])
    np.testing.assert_allclose(mid[:3, :3], quaternion_matrix(
        [0, 0, np.sin(np.pi / 8), np.cos(np.pi / 8)]), atol=1e-12)   # slerp: 45 degrees
    assert track.at(999_999_999, 2 * 10**9) is None and track.at(2_000_000_001, 2 * 10**9) is None
    path.write_text('1.0 0 0 0 0 0 0 1\n2.0 0 0 zero 0 0 0 1\n')
    with pytest.raises(PoseFileError, match=r'traj.txt:2: expected'):
        read_tum_poses(path)
    with pytest.raises(PoseFileError, match='not found'):
        read_tum_poses(tmp_path / 'none.txt')


def test_warp_of_a_plane_moved_away_from():
    """A fronto-parallel plane at 2 m, camera 0.5 m further back: 2.5 m wherever it is seen."""
    intr = Intrinsics(50.0, 50.0, 31.5, 23.5, 64, 48)
    depth = np.full((48, 64), 2.0, np.float32)
    dst_from_src = np.eye(4)
    dst_from_src[2, 3] = 0.5
    warped = warp_depth(depth, depth > 0, intr, dst_from_src)
    seen = warped > 0
    np.testing.assert_allclose(warped[seen], 2.5, rtol=1e-6)
    # Stepping back shrinks the old view to the middle 2/2.5 of the new one, without holes.
    rows, cols = np.nonzero(seen)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 42, 6, 57)
    assert seen[5:43, 6:58].all()
    rel, count = relative_difference(warped, np.full_like(depth, 2.5), np.ones_like(seen))
    assert rel == pytest.approx(0.0, abs=1e-6) and count == seen.sum()
    rel, _ = relative_difference(warp_depth(depth, depth > 0, intr, np.eye(4)),
                                 np.full_like(depth, 2.5), np.ones_like(seen))
    assert rel == pytest.approx(0.2)


def half_resolution(item):
    """Every second pixel: exactly the same camera with fx/2, fy/2, cx/2, cy/2."""
    out = dict(item)
    out['depth'] = item['depth'][::2, ::2]
    out['intrinsics'] = Intrinsics(*(v / 2 for v in CAMERA), 320, 240)
    return out


@pytest.fixture(scope='module')
def tum_root(tmp_path_factory):
    """
    Link the shipped frames as a TUM sequence folder, as TUM publishes one: no intrinsics.txt.

    rgb/, depth/ and associations.txt are links to the shipped ones; groundtruth.txt is the
    trajectory over the same 0.3 s from test/data.
    """
    root = tmp_path_factory.mktemp('tum_fr1_rpy')
    for name in ('rgb', 'depth', 'associations.txt'):
        (root / name).symlink_to(SAMPLES / name)
    (root / 'groundtruth.txt').write_bytes(GROUNDTRUTH.read_bytes())
    return root


@pytest.fixture(scope='module')
def sequence(tum_root):
    data = TumDataset(tum_root)
    assert len(data) == 10
    return [half_resolution(data[i]) for i in range(len(data))], read_tum_poses(
        tum_root / 'groundtruth.txt')


def score(frames, poses, predict, k=1):
    tc = TemporalConsistency(poses, k)
    for i, item in enumerate(frames):
        tc.add(item, predict(i, item['depth']))
    return tc.summary()


def test_ground_truth_is_near_zero_and_flicker_scores_worse(sequence):
    frames, poses = sequence
    truth = score(frames, poses, lambda i, d: d)
    assert truth['temporal_pairs'] == 9 and truth['temporal_pairs_without_pose'] == 0
    assert truth['temporal_rel'] == truth['temporal_rel_gt'] < 0.02
    steady = score(frames, poses, lambda i, d: np.where(d > 0, 1.1 * d, 3.0))
    flicker = score(frames, poses,
                    lambda i, d: np.where(d > 0, (1.1 if i % 2 else 0.9) * d, 3.0))
    assert steady['temporal_rel'] < truth['temporal_rel_gt'] + 0.01
    assert flicker['temporal_rel'] > 0.15 > 5 * steady['temporal_rel']
    # The warp matters: comparing frames unwarped (identity poses) is far from the floor.
    frozen = read_tum_poses_identity(frames)
    assert score(frames, frozen, lambda i, d: d)['temporal_rel'] > 3 * truth['temporal_rel']
    k3 = score(frames, poses, lambda i, d: d, k=3)
    assert k3['temporal_k'] == 3 and k3['temporal_pairs'] == 7 and k3['temporal_rel'] < 0.03


def read_tum_poses_identity(frames):
    from clip_depth_ros.train.temporal import PoseTrack
    stamps = [f['stamp_ns'] for f in frames]
    return PoseTrack(stamps, np.zeros((len(stamps), 3)), np.tile([0, 0, 0, 1.0],
                                                                 (len(stamps), 1)))


def test_frames_outside_the_trajectory_are_counted(sequence, tmp_path):
    frames, _ = sequence
    path = tmp_path / 'short.txt'
    lines = GROUNDTRUTH.read_text().splitlines()
    path.write_text('\n'.join(lines[:20]) + '\n')   # poses up to 238.493 s: frames 0, 1
    s = score(frames[:6], read_tum_poses(path), lambda i, d: d)
    assert (s['temporal_pairs'], s['temporal_pairs_without_pose']) == (1, 4)
    with pytest.raises(ValueError, match='stamps'):
        TemporalConsistency(read_tum_poses(path)).add({'name': 'x', 'depth': frames[0]['depth']},
                                                      frames[0]['depth'])


def test_eval_cli_reports_temporal_consistency(tum_root, tmp_path, capsys):
    from clip_depth_ros.cli.eval import main
    (tmp_path / 'intrinsics.txt').write_text(' '.join(map(str, CAMERA)) + '\n')
    out = tmp_path / 'eval'
    assert main(['--baseline', 'median', '--dataset', 'tum', '--data-root', str(tum_root),
                 '--subset', 'val', '--val-fraction', '0.5',
                 '--intrinsics', str(tmp_path / 'intrinsics.txt'),
                 '--poses', str(tum_root / 'groundtruth.txt'), '--temporal-k', '2',
                 '--out', str(out)]) == 0
    stdout = capsys.readouterr().out
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['count'] == 5 and metrics['temporal_k'] == 2
    assert metrics['temporal_pairs'] == 3 and metrics['temporal_rel_gt'] < 0.02
    assert metrics['temporal_rel'] > metrics['temporal_rel_gt']  # a constant is not a warp
    assert 'temporal consistency, frame t vs t+2 (3 pairs' in stdout
    assert 'baseline constant' in stdout
    rows = list(csv.DictReader(open(out / 'per_image.csv')))
    assert sum(1 for row in rows if row['temporal_rel_gt']) == 3
    assert rows[-1]['temporal_rel'] == ''   # the last frames have no t+k
    pairs = list(csv.DictReader(open(out / 'pairs.csv')))
    assert len(pairs) == 5 and {p['split'] for p in pairs} == {'val'}
    assert main(['--baseline', 'median', '--dataset', 'tum', '--data-root', str(tum_root),
                 '--poses', str(tmp_path / 'none.txt'), '--out', str(tmp_path / 'o2')]) == 1
    err = capsys.readouterr().err
    assert 'none.txt' in err and 'Traceback' not in err and not (tmp_path / 'o2').exists()
    poses = str(tum_root / 'groundtruth.txt')
    assert main(['--baseline', 'median', '--dataset', 'tum', '--data-root', str(tum_root),
                 '--poses', poses, '--out', str(tmp_path / 'o3')]) == 1
    assert 'give --intrinsics' in capsys.readouterr().err
    assert main(['--baseline', 'median', '--constant-depth-m', '2', '--dataset', 'folder',
                 '--data-root', str(REPO / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy'),
                 '--poses', poses, '--out', str(tmp_path / 'o4')]) == 1
    assert 'no frame stamps' in capsys.readouterr().err


def test_poses_from_tf_in_a_bag_match_the_trajectory_file(tum_root, tmp_path, capsys):
    from clip_depth_ros.cli.rgbd_bag import RgbdFrame, write_rgbd_bag
    from clip_depth_ros.train.datasets.bag import tf_poses
    from clip_depth_ros.cli.eval import main
    data = TumDataset(tum_root)
    frames = [RgbdFrame(it['stamp_ns'], it['image'], it['depth_stamp_ns'], it['depth'])
              for it in (data[i] for i in range(4))]
    trajectory = read_tum_poses(tum_root / 'groundtruth.txt')
    bag = write_rgbd_bag(tmp_path / 'tf', frames, CAMERA, poses=trajectory)
    plain = write_rgbd_bag(tmp_path / 'plain', frames, CAMERA)
    results = []
    for poses in ('tf', str(tum_root / 'groundtruth.txt')):
        out = tmp_path / f'eval_{len(results)}'
        assert main(['--baseline', 'median', '--constant-depth-m', '2', '--dataset', 'bag',
                     '--data-root', str(bag), '--poses', poses, '--out', str(out)]) == 0
        results.append(json.loads((out / 'metrics.json').read_text()))
    assert results[0]['temporal_pairs'] == 3
    for key in ('temporal_rel', 'temporal_rel_gt'):
        assert results[0][key] == pytest.approx(results[1][key], rel=1e-6)
    capsys.readouterr()
    assert main(['--baseline', 'median', '--constant-depth-m', '2', '--dataset', 'bag',
                 '--data-root', str(plain), '--poses', 'tf', '--out', str(tmp_path / 'o')]) == 1
    err = capsys.readouterr().err
    assert str(plain) in err and 'no /tf' in err and len(err.strip().splitlines()) == 1
    from clip_depth_ros.train.datasets.bag import BagTopics, build_bag_datasets
    from clip_depth_ros.cli.rgbd_bag import COLOR, COLOR_INFO, DEPTH
    train, _ = build_bag_datasets(bag, BagTopics(COLOR, DEPTH, COLOR_INFO), val_fraction=0)
    track = tf_poses(train.indexes)   # world -> camera_link -> optical frame, chained
    for stamp in track.stamps_ns:
        np.testing.assert_allclose(track.at(stamp), trajectory.at(stamp), atol=1e-9)
