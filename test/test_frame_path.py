# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The same input gets the same handling in every front end (node, bag tool, infer, eval)."""

import logging
import os
import subprocess
import sys

from clip_depth_ros.bags.depth_writer import BagError, process_bag
from clip_depth_ros.config import (check_camera_name, check_max_range, ConfigError, NodeConfig,
                                   parse_bool)
from clip_depth_ros.engine.transforms import FrameSizeError, network_size
from clip_depth_ros.frames.limits import FrameRejected
from clip_depth_ros.ros.launch_support import Camera, launch_bool
from clip_depth_ros.serving.frame_path import decode_for_model, usable_intrinsics
import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
IMAGE, INFO = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo'
H, W = 48, 64


def tool(name, *args):
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300)


def header(i):
    return T['std_msgs/msg/Header'](
        stamp=T['builtin_interfaces/msg/Time'](sec=100 + i, nanosec=0), frame_id='cam_optical')


def rgb_frame(h=H, w=W, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def camera_info(i, fx, width=W, height=H):
    cx, cy = width / 2, height / 2
    return T[INFO](header=header(i), height=height, width=width, distortion_model='plumb_bob',
                   d=np.zeros(5), k=np.array([fx, 0, cx, 0, fx, cy, 0, 0, 1], float),
                   r=np.eye(3).ravel(), p=np.array([fx, 0, cx, 0, 0, fx, cy, 0, 0, 0, 1, 0],
                                                   float),
                   binning_x=0, binning_y=0,
                   roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                             width=0, do_rectify=False))


def write_bag(path, images, fx=60.0, info_size=(W, H)):
    """`images`: (H, W, 3) frames, any sizes; one camera_info per frame of `info_size`."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        img = w.add_connection('/cam/image_raw', IMAGE, typestore=TS)
        inf = w.add_connection('/cam/camera_info', INFO, typestore=TS)
        for i, rgb in enumerate(images):
            t = (100 + i) * 10**9
            w.write(inf, t, TS.serialize_cdr(camera_info(i, fx, *info_size), INFO))
            h, wd = rgb.shape[:2]
            msg = T[IMAGE](header=header(i), height=h, width=wd, encoding='rgb8',
                           is_bigendian=0, step=wd * 3, data=rgb.ravel())
            w.write(img, t + 1, TS.serialize_cdr(msg, IMAGE))
    return path


def depths_of(bag):
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == '/cam/depth/image']
        out = []
        for conn, _, raw in reader.messages(connections=conns):
            msg = TS.deserialize_cdr(raw, conn.msgtype)
            out.append(msg.data.view(np.float32).reshape(msg.height, msg.width))
        return out, {c.topic for c in reader.connections if c.msgcount}  # topics with messages


# -- frames the model refuses: skipped and counted by the node's kind name, never fatal ------
def test_the_input_rule_refusal_is_a_frame_rejected_of_kind_size(tiny_estimator):
    for shape in ((7, 7), (1, 100000), (100000, 1)):
        with pytest.raises(FrameRejected) as e:
            decode_for_model(lambda: np.zeros((*shape, 3), np.uint8), tiny_estimator)
        assert isinstance(e.value, FrameSizeError) and e.value.kind == 'size'


def test_aspect_ratio_just_beyond_the_limit_is_printed_beyond_it():
    with pytest.raises(FrameSizeError, match=r'aspect ratio 8\.01:1, beyond the 8:1'):
        network_size(100, 801)


def test_bag_tool_skips_frames_the_node_skips(tmp_path, tiny_estimator):
    good = rgb_frame()
    bag = write_bag(tmp_path / 'in', [good, rgb_frame(7, 7), rgb_frame(1, 1000), good])
    summary = process_bag(bag, tmp_path / 'out', tiny_estimator)
    assert summary.frames == 2
    kinds = {kind: count for (_, kind), (count, _) in summary.skip_reasons.items()}
    assert kinds == {'image.size': 2}
    depths, _ = depths_of(tmp_path / 'out')
    assert len(depths) == 2


# -- camera_info that does not fit the frame: said and counted, depth at the canonical scale ---
def test_bag_tool_counts_camera_info_of_another_size(tmp_path, tiny_estimator, caplog):
    frames = [rgb_frame(seed=i) for i in range(3)]
    bag = write_bag(tmp_path / 'in', frames, info_size=(2 * W, 2 * H))
    with caplog.at_level(logging.WARNING):
        summary = process_bag(bag, tmp_path / 'out', tiny_estimator)
    assert summary.frames == 3
    (count, first), = summary.camera_info_problems.values()
    assert count == 3 and 'camera_info is for 128x96, the image is 64x48' in first
    said = [r for r in caplog.records if 'camera_info is for' in r.getMessage()]
    assert len(said) == 1  # once per topic, not per frame
    depths, topics = depths_of(tmp_path / 'out')
    assert '/cam/depth/camera_info' not in topics and '/cam/depth/points' not in topics
    np.testing.assert_allclose(depths[0], tiny_estimator.predict(frames[0]), rtol=1e-5)


def test_usable_intrinsics_is_the_node_s_rule(tiny_estimator):
    from clip_depth_ros.frames.geometry import Intrinsics
    intr = Intrinsics(60, 60, 32, 24, W, H)
    assert usable_intrinsics(intr, '', W, H) == (intr, '')
    assert usable_intrinsics(intr, '', 2 * W, H)[0] is None
    assert usable_intrinsics(None, 'all-zero K', W, H) == (None, 'all-zero K')


# -- the camera everywhere: doubling fx doubles the depth -------------------------------------
def test_bag_tool_depth_follows_the_focal_length(tmp_path, tiny_estimator):
    frame = rgb_frame()
    for fx in (60.0, 120.0):
        process_bag(write_bag(tmp_path / f'in{fx:g}', [frame], fx=fx), tmp_path / f'out{fx:g}',
                    tiny_estimator, points=False)
    one, _ = depths_of(tmp_path / 'out60')
    two, _ = depths_of(tmp_path / 'out120')
    np.testing.assert_allclose(two[0], 2 * one[0], rtol=1e-4)


def test_infer_takes_the_camera_and_its_focal_length_scales_depth(tmp_path, tiny_checkpoint):
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), rgb_frame())
    got = {}
    for name, camera in (('fx', ['--intrinsics', '60', '60', '32', '24']),
                         ('file', ['--intrinsics', tmp_path / 'intrinsics.txt']),
                         ('focal', ['--focal-px', '120'])):
        (tmp_path / 'intrinsics.txt').write_text('120 120 32 24\n')
        r = tool('clip-depth-infer', image, '--checkpoint', tiny_checkpoint, '--out',
                 tmp_path / name, '--device', 'cpu', '--precision', 'fp32', *camera)
        assert r.returncode == 0, r.stderr
        got[name] = np.load(tmp_path / name / 'frame.npy')
    np.testing.assert_allclose(got['file'], 2 * got['fx'], rtol=1e-4)
    np.testing.assert_allclose(got['focal'], got['file'], rtol=1e-6)


@pytest.mark.parametrize('camera,message', [
    (['--intrinsics', '1', '2'], 'give a file or four numbers'),
    (['--intrinsics', '0', '60', '32', '24'], 'fx, fy > 0'),
    (['--focal-px', '-3'], '--focal-px: must be a positive'),
    (['--intrinsics', 'missing.txt'], 'intrinsics file not found')])
def test_infer_refuses_a_bad_camera_in_one_line(tmp_path, tiny_checkpoint, camera, message):
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), rgb_frame())
    r = tool('clip-depth-infer', image, '--checkpoint', tiny_checkpoint, '--out', tmp_path / 'o',
             *camera)
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.splitlines()) == 1, \
        r.stderr


def test_infer_names_the_file_the_input_rule_refuses(tmp_path, tiny_checkpoint):
    good, wide = tmp_path / 'good.png', tmp_path / 'wide.png'
    cv2.imwrite(str(good), rgb_frame())
    cv2.imwrite(str(wide), rgb_frame(10, 81))
    r = tool('clip-depth-infer', good, wide, '--checkpoint', tiny_checkpoint, '--out',
             tmp_path / 'o')
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f'clip-depth-infer: error: {wide}: frame 81x10 has aspect ratio 8.1:1, beyond the 8:1 '
        'the network input accepts')
    assert not (tmp_path / 'o' / 'good.npy').exists()  # refused before anything is written


# -- one rule per option: max range, camera names, booleans -----------------------------------
@pytest.mark.parametrize('value', ['-1', '0', 'nan', 'far'])
def test_bag_tool_max_range_follows_the_node_s_rule(tmp_path, tiny_checkpoint, value):
    with pytest.raises(ConfigError) as node_error:
        NodeConfig(max_range=float(value) if value != 'far' else 'far')
    bag = write_bag(tmp_path / 'in', [rgb_frame()])
    r = tool('clip-depth-bag', bag, tmp_path / 'out', '--checkpoint', tiny_checkpoint,
             '--max-range', value)
    assert r.returncode == 2 and '--max-range' in r.stderr, r.stderr
    if value != 'far':
        assert str(node_error.value).replace('max_range', '--max-range') in r.stderr
    assert not (tmp_path / 'out').exists()


def test_max_range_inf_means_no_limit():
    assert check_max_range(float('inf')) == float('inf')


@pytest.mark.parametrize('name', ['_front', '1cam', 'front cam', 'a-b', ''])
def test_camera_names_are_refused_alike_by_the_node_and_launch(name):
    with pytest.raises(ConfigError, match='not a ROS name token') as node:
        NodeConfig(cameras=(name,))
    with pytest.raises(ConfigError, match='not a ROS name token') as launch:
        Camera(name)
    with pytest.raises(ConfigError):
        check_camera_name(name)
    assert repr(name) in str(node.value) and repr(name) in str(launch.value)


def test_default_camera_topics_are_one_rule():
    from clip_depth_ros.ros.parameters import camera_declarations
    declared = {n.split('.', 1)[1]: v for n, v, _ in camera_declarations('front', 'raw')}
    camera = Camera('front')
    assert (declared['image'], declared['camera_info']) == (camera.image, camera.camera_info) \
        == ('front/image', 'front/camera_info')


@pytest.mark.parametrize('text,value', [('true', True), ('True', True), ('1', True),
                                        ('false', False), ('FALSE', False), ('0', False)])
def test_launch_booleans_read_as_launch_reads_them(text, value):
    assert launch_bool(text, 'use_sim_time') is value and parse_bool(text, 'x') is value


@pytest.mark.parametrize('text', ['yes', 'on', '', '2'])
def test_launch_booleans_refuse_what_launch_refuses(text):
    with pytest.raises(ConfigError, match='use_sim_time: expected true/false'):
        launch_bool(text, 'use_sim_time')


# -- a damaged message in a training bag is named by bag, topic and time ------------------------
def test_damaged_message_in_a_training_bag_is_named(tmp_path):
    from clip_depth_ros.cli.rgbd_bag import COLOR, COLOR_INFO, DEPTH
    from clip_depth_ros.train.datasets.bag import BagTopics, index_bag
    bag = tmp_path / 'damaged'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as w:
        img = w.add_connection(COLOR, IMAGE, typestore=TS)
        w.add_connection(DEPTH, IMAGE, typestore=TS)
        w.add_connection(COLOR_INFO, INFO, typestore=TS)
        w.write(img, 5 * 10**9, b'\x00\x01\x00\x00' + b'\xff' * 40)  # CDR header, then junk
    with pytest.raises(BagError) as e:
        index_bag(bag, BagTopics(COLOR, DEPTH, COLOR_INFO), 20_000_000)
    message = str(e.value)
    assert str(bag) in message and COLOR in message and '5000000000 ns' in message
    r = tool('clip-depth-eval', '--checkpoint', 'unused', '--dataset', 'bag', '--data-root', bag,
             '--out', tmp_path / 'eval')
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(bag) in r.stderr and COLOR in r.stderr


def test_node_skips_the_frames_the_bag_tool_skips_by_the_same_kind(tiny_checkpoint):
    from clip_depth_ros.ros import conversions
    from test_depth_node import camera_info as node_camera_info, header, Rig
    rig = Rig(tiny_checkpoint)
    try:
        rig.send_info(node_camera_info(header(), width=W, height=H))
        for h, w in ((7, 7), (1, 1000)):
            rig.image_pub.publish(conversions.rgb_to_image(rgb_frame(h, w), header()))
            status = rig.latest_status(lambda st: any(
                kv.key == 'problem.image.size' and f'frame {w}x{h}' in kv.value
                for kv in st.values), timeout=30.0)
            assert 'dropping image' in status.message
        depth = rig.send(conversions.rgb_to_image(rgb_frame(), header()))
        assert (depth.height, depth.width) == (H, W)
    finally:
        rig.close()
