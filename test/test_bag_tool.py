# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-bag on rosbag2 bags written by the test (MCAP and sqlite3, raw and compressed)."""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from clip_depth_ros.bag_depth import image_namespace
import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
H, W = 48, 64
K = [60.0, 0.0, 32.0, 0.0, 60.0, 24.0, 0.0, 0.0, 1.0]
P = [60.0, 0.0, 32.0, 0.0, 0.0, 60.0, 24.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def header(i):
    return T['std_msgs/msg/Header'](
        stamp=T['builtin_interfaces/msg/Time'](sec=1000 + i, nanosec=500 + i),
        frame_id='cam_optical')


def frames(n):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def write_bag(path, storage='mcap', compressed=False, n=4):
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    topic = '/cam/color/image_raw' + ('/compressed' if compressed else '')
    msgtype = 'sensor_msgs/msg/' + ('CompressedImage' if compressed else 'Image')
    with Writer(path, version=9, storage_plugin=plugin) as w:
        img = w.add_connection(topic, msgtype, typestore=TS)
        info = w.add_connection('/cam/color/camera_info', 'sensor_msgs/msg/CameraInfo',
                                typestore=TS)
        other = w.add_connection('/chatter', 'std_msgs/msg/String', typestore=TS)
        for i, rgb in enumerate(frames(n)):
            t = (1000 + i) * 10**9
            ci = T['sensor_msgs/msg/CameraInfo'](
                header=header(i), height=H, width=W, distortion_model='plumb_bob',
                d=np.zeros(5), k=np.array(K), r=np.eye(3).ravel(), p=np.array(P),
                binning_x=0, binning_y=0,
                roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                          width=0, do_rectify=False))
            w.write(info, t, TS.serialize_cdr(ci, 'sensor_msgs/msg/CameraInfo'))
            if compressed:
                data = cv2.imencode('.png', rgb[:, :, ::-1])[1].ravel()
                msg = T[msgtype](header=header(i), format='png', data=data)
            else:
                msg = T[msgtype](header=header(i), height=H, width=W, encoding='rgb8',
                                 is_bigendian=0, step=W * 3, data=rgb.ravel())
            w.write(img, t + 1, TS.serialize_cdr(msg, msgtype))
            w.write(other, t + 2, TS.serialize_cdr(T['std_msgs/msg/String'](data=f'hi {i}'),
                                                   'std_msgs/msg/String'))
    return path


def run_tool(*args):
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-bag')
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300)


def read_all(path):
    out = {}
    with Reader(path) as r:
        for conn, t, raw in r.messages():
            out.setdefault(conn.topic, []).append((t, TS.deserialize_cdr(raw, conn.msgtype)))
    return out


@pytest.mark.parametrize('storage,compressed', [('mcap', False), ('sqlite3', False),
                                                ('mcap', True)])
def test_bag_gets_depth_info_and_points(tmp_path, tiny_checkpoint, tiny_estimator, storage,
                                        compressed):
    src = write_bag(tmp_path / 'in', storage, compressed)
    dst = tmp_path / 'out'
    r = run_tool(src, dst, '--checkpoint', tiny_checkpoint, '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    assert '4 frames' in r.stdout
    msgs = read_all(dst)
    assert len(msgs['/chatter']) == 4 and len(msgs['/cam/color/camera_info']) == 4
    depth, info, points = (msgs[f'/cam/color/depth/{t}'] for t in ('image', 'camera_info',
                                                                   'points'))
    assert len(depth) == len(info) == len(points) == 4
    src_stamps = [h.header.stamp for _, h in read_all(src)['/cam/color/camera_info']]
    for i, ((t, d), (_, c), (_, p)) in enumerate(zip(depth, info, points)):
        assert d.header.stamp.sec == src_stamps[i].sec
        assert d.header.stamp.nanosec == src_stamps[i].nanosec
        assert d.header.frame_id == 'cam_optical' and c.header.frame_id == 'cam_optical'
        assert d.encoding == '32FC1' and (d.height, d.width, d.step) == (H, W, W * 4)
        assert p.point_step == 32 and p.row_step == 32 * W and (p.height, p.width) == (H, W)
        assert [(f.name, f.offset) for f in p.fields] == [('x', 0), ('y', 4), ('z', 8),
                                                          ('rgb', 16)]
        assert p.is_dense is False
    # The same engine as the node: the first frame's depth equals a direct prediction.
    got = np.frombuffer(depth[0][1].data.tobytes(), np.float32).reshape(H, W)
    np.testing.assert_allclose(got, tiny_estimator.predict(frames(1)[0]), rtol=1e-5)
    xyz = np.frombuffer(points[0][1].data.tobytes(), np.float32).reshape(H, W, 8)
    np.testing.assert_allclose(xyz[..., 2], got)
    # Input untouched and still readable.
    assert len(read_all(src)['/chatter']) == 4


def test_mcap_output_reads_with_independent_reader(tmp_path, tiny_checkpoint):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    src = write_bag(tmp_path / 'in', 'mcap')
    dst = tmp_path / 'out'
    assert run_tool(src, dst, '--checkpoint', tiny_checkpoint, '--no-points').returncode == 0
    (mcap_file,) = dst.glob('*.mcap')
    topics = {}
    with open(mcap_file, 'rb') as f:
        for schema, channel, message, decoded in make_reader(
                f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            topics.setdefault(channel.topic, []).append(decoded)
    assert '/cam/color/depth/points' not in topics
    assert len(topics['/cam/color/depth/image']) == 4
    assert topics['/cam/color/depth/image'][0].encoding == '32FC1'


def test_refuses_to_overwrite(tmp_path, tiny_checkpoint):
    src = write_bag(tmp_path / 'in')
    dst = tmp_path / 'out'
    dst.mkdir()
    (dst / 'keep.txt').write_text('mine')
    r = run_tool(src, dst, '--checkpoint', tiny_checkpoint)
    assert r.returncode == 1 and 'refusing to overwrite' in r.stderr
    assert (dst / 'keep.txt').read_text() == 'mine'


def test_truncated_bag_fails_clearly(tmp_path, tiny_checkpoint):
    src = write_bag(tmp_path / 'in', n=6)
    (mcap_file,) = src.glob('*.mcap')
    data = mcap_file.read_bytes()
    mcap_file.write_bytes(data[:len(data) // 2])
    dst = tmp_path / 'out'
    r = run_tool(src, dst, '--checkpoint', tiny_checkpoint)
    assert r.returncode == 1, r.stdout
    assert str(src) in r.stderr and 'Traceback' not in r.stderr
    assert not dst.exists() and not list(tmp_path.glob('.out*'))


def test_missing_topic_is_named(tmp_path, tiny_checkpoint):
    src = write_bag(tmp_path / 'in')
    r = run_tool(src, tmp_path / 'out', '--checkpoint', tiny_checkpoint,
                 '--image-topic', '/nope')
    assert r.returncode == 1 and '/nope' in r.stderr and '/cam/color/image_raw' in r.stderr


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_interrupted_run_leaves_no_output(tmp_path, tiny_checkpoint, sig):
    src = write_bag(tmp_path / 'in', n=400)
    dst = tmp_path / 'out'
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-bag')
    # A shell's background job inherits SIGINT ignored; give the tool the default, as a
    # terminal would.
    proc = subprocess.Popen([exe, str(src), str(dst), '--checkpoint', str(tiny_checkpoint)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = tmp_path / '.out.partial'
    deadline = time.monotonic() + 120
    while not partial.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert partial.exists(), 'the run finished before it could be interrupted'
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not dst.exists() and not partial.exists()


def test_image_namespace():
    assert image_namespace('/cam/image_raw', 'sensor_msgs/msg/Image') == '/cam'
    assert image_namespace('/cam/image_raw/compressed',
                           'sensor_msgs/msg/CompressedImage') == '/cam'
    assert image_namespace('/image', 'sensor_msgs/msg/Image') == ''


def test_missing_input(tmp_path, tiny_checkpoint):
    r = run_tool(tmp_path / 'none', tmp_path / 'out', '--checkpoint', tiny_checkpoint)
    assert r.returncode == 1 and str(Path(tmp_path / 'none')) in r.stderr
