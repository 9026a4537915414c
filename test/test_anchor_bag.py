# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-bag --reference-topic: a recorded depth reference anchors a mis-scaled camera."""

import os
import subprocess
import sys

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
H, W = 48, 64
FX = 30.0  # half the camera's real 60 px: the model's depth comes out at half the scale


def header(sec, nanosec, frame='cam_optical'):
    return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](
        sec=sec, nanosec=nanosec), frame_id=frame)


def info(hdr):
    k = np.array([FX, 0, 32, 0, 60, 24, 0, 0, 1], float)
    p = np.array([FX, 0, 32, 0, 0, 60, 24, 0, 0, 0, 1, 0], float)
    return T['sensor_msgs/msg/CameraInfo'](
        header=hdr, height=H, width=W, distortion_model='plumb_bob', d=np.zeros(5),
        k=k, r=np.eye(3).ravel(), p=p, binning_x=0, binning_y=0,
        roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False))


def write_bag(path, frames, references):
    """Frames with camera_info; each frame's reference 10 ms later, written after the frame."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        img = w.add_connection('/cam/image_raw', 'sensor_msgs/msg/Image', typestore=TS)
        ci = w.add_connection('/cam/camera_info', 'sensor_msgs/msg/CameraInfo', typestore=TS)
        ref = w.add_connection('/depth_cam/image_rect', 'sensor_msgs/msg/Image', typestore=TS)
        for i, (rgb, depth) in enumerate(zip(frames, references)):
            t = (100 + i) * 10**9
            w.write(ci, t, TS.serialize_cdr(info(header(100 + i, 0)),
                                            'sensor_msgs/msg/CameraInfo'))
            msg = T['sensor_msgs/msg/Image'](header=header(100 + i, 0), height=H, width=W,
                                             encoding='rgb8', is_bigendian=0, step=W * 3,
                                             data=rgb.ravel())
            w.write(img, t + 1, TS.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
            if depth is None:
                continue
            mm = np.nan_to_num(depth * 1000, nan=0).round().astype('<u2')
            rmsg = T['sensor_msgs/msg/Image'](header=header(100 + i, 10_000_000, 'depth'),
                                              height=H, width=W, encoding='16UC1',
                                              is_bigendian=0, step=W * 2,
                                              data=mm.view(np.uint8).ravel())
            w.write(ref, t + 30_000_000, TS.serialize_cdr(rmsg, 'sensor_msgs/msg/Image'))


def test_bag_reference_topic_anchors_depth(tmp_path, tiny_checkpoint, tiny_estimator):
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(3)]
    half = [tiny_estimator.predict(f, focal_px=FX) for f in frames]
    right = [2.0 * d for d in half]  # what the camera with its real fx would see
    refs = [d * np.exp(rng.normal(0, 0.01, d.shape)) for d in right]
    refs[2] = None  # the last frame has no reference: it stays as predicted
    src, dst = tmp_path / 'in', tmp_path / 'out'
    write_bag(src, frames, refs)
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-bag')
    r = subprocess.run([exe, str(src), str(dst), '--checkpoint', str(tiny_checkpoint),
                        '--device', 'cpu', '--no-points', '--max-range', '1000',
                        '--reference-topic', '/depth_cam/image_rect',
                        '--reference-time-constant-s', '0'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert '2 frames anchored to /depth_cam/image_rect, 1 left as predicted' in r.stdout
    assert 'depth_cam/depth' not in r.stdout  # the reference is not a camera
    out = {}
    with Reader(dst) as reader:
        for conn, _, raw in reader.messages():
            if conn.topic == '/cam/depth/image':
                msg = TS.deserialize_cdr(raw, conn.msgtype)
                out[msg.header.stamp.sec] = np.frombuffer(msg.data.tobytes(),
                                                          '<f4').reshape(H, W)
    for i in range(3):
        expected = right[i] if i < 2 else half[i]
        ratio = np.median(out[100 + i] / expected)
        assert abs(ratio - 1) < 0.02, (i, ratio)


def test_bag_reference_topic_must_exist(tmp_path, tiny_checkpoint):
    src = tmp_path / 'in'
    write_bag(src, [np.zeros((H, W, 3), np.uint8)], [None])
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-bag')
    r = subprocess.run([exe, str(src), str(tmp_path / 'out'), '--checkpoint',
                        str(tiny_checkpoint), '--device', 'cpu', '--reference-topic', '/nope'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'no topic named /nope' in r.stderr
    assert 'Traceback' not in r.stderr and not (tmp_path / 'out').exists()
