# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rosbags as a dataset: real rosbag2 files (MCAP, sqlite3) written from the TUM sample frames."""

import csv
import json
import logging
from pathlib import Path

from clip_depth_ros.cli.rgbd_bag import COLOR, COLOR_INFO, DEPTH, RgbdFrame, write_rgbd_bag
from clip_depth_ros.train import datasets as ds
from clip_depth_ros.train.config import load_config
from clip_depth_ros.train.datasets.bag import (BagTopics, build_bag_datasets, depth_to_metres,
                                               index_bag)
import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
FRAMES = REPO / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy'   # the 10 shipped frames
CAMERA = (517.3, 516.5, 318.6, 255.3)
TOPICS = BagTopics(COLOR, DEPTH, COLOR_INFO)
COMPRESSED_TOPICS = BagTopics(COLOR + '/compressed', DEPTH, COLOR_INFO)


@pytest.fixture(scope='module')
def tum():
    data = ds.TumDataset(FRAMES)
    return [data[i] for i in range(len(data))]


def frames(tum, drop_depth=(), depth_offset_ns=None, depth_size=None):
    out = []
    for i, item in enumerate(tum):
        depth = None if i in drop_depth else item['depth']
        if depth is not None and depth_size is not None:
            depth = cv2.resize(depth, depth_size, interpolation=cv2.INTER_NEAREST)
        d_stamp = item['depth_stamp_ns'] if depth_offset_ns is None \
            else item['stamp_ns'] + depth_offset_ns
        out.append(RgbdFrame(item['stamp_ns'], item['image'], d_stamp, depth))
    return out


def split_column(pairs_csv: Path, tum) -> list:
    """pairs.csv's split per TUM sample frame, in the frames' order (each frame once)."""
    rows = list(csv.DictReader(open(pairs_csv)))
    assert sorted(int(r['image_stamp_ns']) for r in rows) == [t['stamp_ns'] for t in tum], rows
    split = {int(r['image_stamp_ns']): r['split'] for r in rows}
    return [split[t['stamp_ns']] for t in tum]


def test_mcap_raw_16uc1_pairs_split_by_time_and_values(tmp_path, tum):
    bag = write_rgbd_bag(tmp_path / 'a', frames(tum), CAMERA, 'mcap')
    assert any(p.suffix == '.mcap' for p in bag.iterdir())
    train, val = build_bag_datasets(bag, TOPICS, val_fraction=0.2)
    assert (len(train), len(val)) == (8, 2)
    stamps = [p.image_stamp_ns for p in train.pairs + val.pairs]
    assert stamps == [t['stamp_ns'] for t in tum]            # in time order, none lost
    assert max(p.image_stamp_ns for p in train.pairs) < min(p.image_stamp_ns for p in val.pairs)
    item = val[1]
    ref = tum[9]
    np.testing.assert_array_equal(item['image'], ref['image'])
    assert np.abs(item['depth'] - ref['depth']).max() <= 0.0005 + 1e-6  # millimetre rounding
    assert ((item['depth'] == 0) == (ref['depth'] == 0)).all()   # 0 stays "no measurement"
    assert item['focal'] == pytest.approx(517.3)
    assert (item['intrinsics'].cx, item['intrinsics'].height) == (318.6, 480)
    assert item['stamp_ns'] == ref['stamp_ns'] and item['depth_stamp_ns'] == ref['depth_stamp_ns']
    # A gap before validation: training ends gap_s before the first validation frame (8).
    gap_s = (tum[8]['stamp_ns'] - tum[6]['stamp_ns']) / 1e9
    train, val = build_bag_datasets(bag, TOPICS, val_fraction=0.2, val_gap_s=gap_s)
    assert [p.image_stamp_ns for p in train.pairs] == [t['stamp_ns'] for t in tum[:7]]
    assert [p.image_stamp_ns for p in val.pairs] == [t['stamp_ns'] for t in tum[8:]]
    assert split_column(ds.write_pairs(tmp_path / 'run', train, val), tum) == \
        ['train'] * 7 + ['gap'] + ['val'] * 2  # every pair listed, frame 7 as in the gap
    with pytest.raises(ds.DatasetError, match='val_gap_s 60 s'):
        build_bag_datasets(bag, TOPICS, val_fraction=0.2, val_gap_s=60.0)


def test_distorted_bag_trains_on_the_node_s_rectified_frames(tmp_path, tum):
    """Colour and its registered depth are rectified with the node's maps, focal from P."""
    from clip_depth_ros.frames.rectify import CameraModel
    d = [-0.3, 0.05, 0.0, 0.0, 0.0]
    bag = write_rgbd_bag(tmp_path / 'a', frames(tum)[:2], CAMERA, 'mcap', distortion=d)
    train, _ = build_bag_datasets(bag, TOPICS, val_fraction=0.5)
    item, ref = train[0], tum[0]
    fx, fy, cx, cy = CAMERA
    model = CameraModel.from_camera_info([fx, 0, cx, 0, fy, cy, 0, 0, 1],
                                         [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], 640, 480,
                                         d=d, r=np.eye(3).ravel())
    assert not np.array_equal(item['image'], ref['image'])
    np.testing.assert_array_equal(item['image'], model.rectify(ref['image']))
    expected = model.rectify(np.rint(ref['depth'] * 1000).astype(np.float32) / 1000,
                             cv2.INTER_NEAREST)
    np.testing.assert_allclose(item['depth'], expected, atol=1e-6)
    assert item['focal'] == pytest.approx(fx)


def test_sqlite3_compressed_colour_32fc1_depth_rep117(tmp_path, tum):
    fr = frames(tum)
    special = fr[0].depth_m.copy()
    special[0, :3] = [np.nan, np.inf, -np.inf]
    fr[0].depth_m = special
    bag = write_rgbd_bag(tmp_path / 'b', fr, CAMERA, 'sqlite3', compressed=True,
                         depth_encoding='32FC1')
    assert any(p.suffix == '.db3' for p in bag.iterdir())
    train, val = build_bag_datasets(bag, COMPRESSED_TOPICS, val_fraction=0.1)
    assert (len(train), len(val)) == (9, 1)
    item = train[0]
    assert item['depth'].dtype == np.float32
    assert (item['depth'][0, :3] == 0).all()       # NaN, +Inf, -Inf: no measurement
    np.testing.assert_array_equal(item['depth'][1:], tum[0]['depth'][1:])
    assert np.abs(item['image'].astype(int) - tum[0]['image']).mean() < 3  # JPEG, lossy


def test_a_missing_depth_frame_is_counted_reported_and_listed(tmp_path, tum, caplog):
    bag = write_rgbd_bag(tmp_path / 'c', frames(tum, drop_depth={4}), CAMERA)
    with caplog.at_level(logging.WARNING):
        index = index_bag(bag, TOPICS, 20_000_000)
    assert len(index.pairs) == 9 and index.unmatched_colour == [tum[4]['stamp_ns']]
    assert index.unmatched_depth == []
    assert '1 colour frames without depth' in caplog.text and str(bag) in caplog.text
    train, val = build_bag_datasets(bag, TOPICS, val_fraction=0.2)
    path = ds.write_pairs(tmp_path / 'run', train, val)
    rows = list(csv.DictReader(open(path)))
    assert [r['split'] for r in rows] == ['train'] * 7 + ['val'] * 2 + ['unmatched_colour']
    assert rows[-1]['image_stamp_ns'] == str(tum[4]['stamp_ns'])
    assert all(float(r['dt_ms']) == pytest.approx(
        (int(r['depth_stamp_ns']) - int(r['image_stamp_ns'])) / 1e6) for r in rows[:-1])


def test_pairing_tolerance(tmp_path, tum):
    # Depth 12 ms after colour; frames are ~33 ms apart, so 10 ms pairs none and 20 ms all.
    bag = write_rgbd_bag(tmp_path / 'd', frames(tum, depth_offset_ns=12_000_000), CAMERA)
    with pytest.raises(ds.DatasetError) as e:
        index_bag(bag, TOPICS, 10_000_000)
    assert COLOR in str(e.value) and DEPTH in str(e.value) and '10 ms' in str(e.value)
    index = index_bag(bag, TOPICS, 20_000_000)
    assert len(index.pairs) == 10
    assert all(p.depth_stamp_ns - p.image_stamp_ns == 12_000_000 for p in index.pairs)


def test_depth_of_another_size_is_refused_naming_both_topics(tmp_path, tum):
    bag = write_rgbd_bag(tmp_path / 'e', frames(tum, depth_size=(320, 240)), CAMERA)
    with pytest.raises(ds.DatasetError) as e:
        build_bag_datasets(bag, TOPICS)
    message = str(e.value)
    assert '\n' not in message and str(bag) in message
    assert f'depth {DEPTH} is 320x240 but colour {COLOR} is 640x480' in message
    assert 'align_depth.enable:=true' in message


def test_depth_from_another_camera_is_refused(tmp_path, tum):
    other = (580.0, 580.0, 320.0, 240.0)
    bag = write_rgbd_bag(tmp_path / 'f', frames(tum), CAMERA, depth_camera=other)
    with pytest.raises(ds.DatasetError, match=r'another camera .*align_depth.enable'):
        build_bag_datasets(bag, TOPICS)


def test_missing_topic_names_the_bag_and_lists_topics(tmp_path, tum):
    bag = write_rgbd_bag(tmp_path / 'g', frames(tum)[:2], CAMERA)
    with pytest.raises(ds.DatasetError) as e:
        build_bag_datasets(bag, BagTopics('/cam/image', DEPTH, COLOR_INFO))
    assert str(bag) in str(e.value) and '/cam/image' in str(e.value)
    assert f'{COLOR} (Image)' in str(e.value)
    with pytest.raises(ds.DatasetError, match='expected sensor_msgs/msg/Image or'):
        build_bag_datasets(bag, BagTopics(COLOR_INFO, DEPTH, COLOR_INFO))
    with pytest.raises(ds.DatasetError, match='nothing.*bag not found'):
        build_bag_datasets(tmp_path / 'nothing', TOPICS)


def test_several_bags_each_split_by_time_or_whole_bags_validate(tmp_path, tum):
    root = tmp_path / 'bags'
    root.mkdir()
    write_rgbd_bag(root / 'one', frames(tum)[:6], CAMERA, 'mcap')
    write_rgbd_bag(root / 'two', frames(tum)[6:], CAMERA, 'sqlite3')
    train, val = build_bag_datasets(root, TOPICS, val_fraction=0.25)
    assert (len(train), len(val)) == (7, 3)   # 6 -> 4.5 rounds to 4 + 2; 4 -> 3 + 1
    by_bag = {}
    for split, data in (('train', train), ('val', val)):
        for p in data.pairs:
            by_bag.setdefault(Path(p.bag).name, []).append((p.image_stamp_ns, split))
    for rows in by_bag.values():
        assert [s for _, s in sorted(rows)] == sorted(s for _, s in rows)  # train, then val
    train, val = build_bag_datasets(root, TOPICS, val_bags=['two'])
    assert {Path(p.bag).name for p in val.pairs} == {'two'} and len(train) == 6
    train, val = build_bag_datasets(root, TOPICS, names=['two'], val_fraction=0.25)
    assert {Path(p.bag).name for p in train.pairs + val.pairs} == {'two'}
    with pytest.raises(ds.DatasetError, match='val_bags'):
        build_bag_datasets(root, TOPICS, val_bags=['three'])


def test_val_gap_is_for_time_ordered_datasets_only(tmp_path, tum):
    from clip_depth_ros.config import ConfigError
    gap_s = (tum[8]['stamp_ns'] - tum[6]['stamp_ns']) / 1e9
    cfg = load_config(None, ['data.dataset=tum', f'data.root={FRAMES}', 'data.val_fraction=0.2',
                             f'data.val_gap_s={gap_s!r}'])
    train, val = ds.build_datasets(cfg.data)
    assert (len(train), len(val)) == (7, 2)  # frame 7 is within the gap: neither side
    assert split_column(ds.write_pairs(tmp_path / 'run', train, val), tum) == \
        ['train'] * 7 + ['gap'] + ['val'] * 2
    assert ds.split_with_gap([0, 10, 20, 30, 40], 0.4) == (3, 3)
    assert ds.split_with_gap([0, 10, 20, 30, 40], 0.4, gap_s=15e-9) == (2, 3)  # 20 is 10 ns off
    assert ds.split_with_gap([0, 10, 20, 30, 40], 0.0, gap_s=1.0) == (5, 5)    # no validation
    tum = load_config(None, ['data.dataset=tum', 'data.val_gap_s=0.5'])
    assert tum.data.val_gap_s == 0.5
    for bad, phrase in (('data.val_gap_s=-1', 'must be in'),
                        ('data.dataset=folder', 'only for time-ordered datasets')):
        with pytest.raises(ConfigError, match=phrase):
            load_config(None, ['data.dataset=tum', 'data.val_gap_s=1', bad])


def test_depth_buffers_big_endian_and_padded():
    depth = np.array([[1000, 0], [2500, 65535]], np.uint16)
    rows = np.zeros((2, 6), np.uint8)
    rows[:, :4] = depth.astype('>u2').view(np.uint8).reshape(2, 4)
    out = depth_to_metres(rows.tobytes(), '16UC1', 2, 2, 6, True)
    np.testing.assert_allclose(out, [[1.0, 0.0], [2.5, 65.535]], rtol=1e-6)
    with pytest.raises(ValueError, match='16UC1'):
        depth_to_metres(b'\0' * 4, '16UC1', 2, 2, 4, False)
    with pytest.raises(ValueError, match="'rgb8'"):
        depth_to_metres(b'\0' * 12, 'rgb8', 2, 2, 6, False)


def test_training_from_a_bag_lists_its_pairs(tmp_path, tum):
    from clip_depth_ros.train.engine import fit
    bag = write_rgbd_bag(tmp_path / 'bag', frames(tum, drop_depth={2}), CAMERA)
    assert load_config(REPO / 'config' / 'train_bag.yaml').data.dataset == 'bag'
    cfg = load_config(REPO / 'config' / 'train_bag_tiny.yaml', [
        f'data.root={bag}', f'out_dir={tmp_path / "run"}', 'optim.epochs=1',
        'max_steps_per_epoch=1', 'data.val_fraction=0.25', 'data.num_workers=0',
        'log_images=0'])
    out = fit(cfg)
    rows = list(csv.DictReader(open(out / 'pairs.csv')))
    assert [r['split'] for r in rows].count('val') == 2 and len(rows) == 10
    assert rows[-1]['split'] == 'unmatched_colour'
    history = [json.loads(line) for line in (out / 'history.jsonl').read_text().splitlines()]
    assert history[0]['val']['count'] == 2 and np.isfinite(history[0]['val']['abs_rel'])


def test_eval_cli_on_a_bag_and_its_one_line_errors(tmp_path, tum, tiny_checkpoint, capsys):
    from clip_depth_ros.cli.eval import main
    bag = write_rgbd_bag(tmp_path / 'ok', frames(tum)[:4], CAMERA)
    assert main(['--checkpoint', str(tiny_checkpoint), '--dataset', 'bag', '--data-root',
                 str(bag), '--subset', 'val', '--val-fraction', '0.5', '--out',
                 str(tmp_path / 'o'), '--device', 'cpu']) == 0
    assert json.loads((tmp_path / 'o' / 'metrics.json').read_text())['count'] == 2
    rows = list(csv.DictReader(open(tmp_path / 'o' / 'pairs.csv')))
    assert [r['split'] for r in rows] == ['val', 'val']
    bad = write_rgbd_bag(tmp_path / 'bad', frames(tum, depth_size=(320, 240))[:2], CAMERA)
    capsys.readouterr()
    assert main(['--checkpoint', str(tiny_checkpoint), '--dataset', 'bag', '--data-root',
                 str(bad), '--out', str(tmp_path / 'o2')]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if 'error: ' in line]
    assert 'Traceback' not in err and len(lines) == 1
    assert COLOR in lines[0] and DEPTH in lines[0] and str(bad) in lines[0]
    assert not (tmp_path / 'o2').exists()


def test_eval_takes_the_focal_length_from_camera_info_or_the_option(tmp_path, tum,
                                                                    tiny_checkpoint):
    """Ground truth = the model's own depth for fx 517.3: 0 error with camera_info's fx."""
    from clip_depth_ros.engine.inference import DepthEstimator
    from clip_depth_ros.cli.eval import main
    estimator = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='fp32')
    fr = frames(tum)[:1]
    for f in fr:
        f.depth_m = estimator.predict(f.rgb, CAMERA[0])
    bag = write_rgbd_bag(tmp_path / 'own', fr, CAMERA, depth_encoding='32FC1')
    results = []
    for extra in ([], ['--focal-px', str(CAMERA[0] / 2)]):
        out = tmp_path / f'e{len(results)}'
        assert main(['--checkpoint', str(tiny_checkpoint), '--dataset', 'bag', '--data-root',
                     str(bag), '--device', 'cpu', '--precision', 'fp32', '--out', str(out),
                     *extra]) == 0
        results.append(json.loads((out / 'metrics.json').read_text()))
    assert results[0]['abs_rel'] < 1e-5
    assert results[1]['abs_rel'] == pytest.approx(0.5, rel=1e-4)  # half the focal: half depth


def test_a_truncated_bag_is_named(tmp_path, tum):
    bag = write_rgbd_bag(tmp_path / 'cut', frames(tum)[:2], CAMERA)
    data = next(bag.glob('*.mcap'))
    data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    with pytest.raises(ds.DatasetError, match=r'cut.*(truncated|corrupt)'):
        build_bag_datasets(bag, TOPICS)
