# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-bag on rosbag2 bags written by the test (MCAP and sqlite3, raw and compressed)."""

import hashlib
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

from clip_depth_ros.bags.depth_writer import BagError, image_namespace, process_bag, verify_bag
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


def write_bag(path, storage='mcap', compressed=False, n=4, camera=None):
    """`camera`: CameraInfo fields replacing the plain calibration (binning, ROI)."""
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
            fields = {'height': H, 'width': W, 'k': K, 'p': P, 'binning_x': 0, 'binning_y': 0,
                      'roi': (0, 0, 0, 0)}
            fields.update(camera or {})
            x0, y0, roi_w, roi_h = fields.pop('roi')
            ci = T['sensor_msgs/msg/CameraInfo'](
                header=header(i), distortion_model='plumb_bob',
                d=np.array(fields.pop('d', [0.0] * 5), float),
                r=np.eye(3).ravel(), k=np.array(fields.pop('k'), float),
                p=np.array(fields.pop('p'), float), **fields,
                roi=T['sensor_msgs/msg/RegionOfInterest'](x_offset=x0, y_offset=y0,
                                                          height=roi_h, width=roi_w,
                                                          do_rectify=False))
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
    before = digest(src)
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
    np.testing.assert_allclose(got, tiny_estimator.predict(frames(1)[0], focal_px=K[0]),
                               rtol=1e-5)
    xyz = np.frombuffer(points[0][1].data.tobytes(), np.float32).reshape(H, W, 8)
    np.testing.assert_allclose(xyz[..., 2], got)
    # Input untouched and still readable.
    assert len(read_all(src)['/chatter']) == 4 and digest(src) == before


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
    assert r.returncode == 2 and 'refusing to overwrite' in r.stderr
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
    assert mcap_file.read_bytes() == data[:len(data) // 2]


def test_missing_topic_is_named(tmp_path, tiny_checkpoint):
    src = write_bag(tmp_path / 'in')
    r = run_tool(src, tmp_path / 'out', '--checkpoint', tiny_checkpoint,
                 '--image-topic', '/nope')
    assert r.returncode == 1 and '/nope' in r.stderr and '/cam/color/image_raw' in r.stderr


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_interrupted_run_leaves_no_output(tmp_path, tiny_checkpoint, sig):
    src = write_bag(tmp_path / 'in', n=400)
    before = digest(src)
    dst = tmp_path / 'out'
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-bag')
    # A shell's background job inherits SIGINT ignored; give the tool the default, as a
    # terminal would.
    proc = subprocess.Popen([exe, str(src), str(dst), '--checkpoint', str(tiny_checkpoint)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob('.out.*.partial')) and time.monotonic() < deadline \
            and proc.poll() is None:
        time.sleep(0.05)
    assert list(tmp_path.glob('.out.*.partial')), 'the run finished before it was interrupted'
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not dst.exists() and not list(tmp_path.glob('.out*'))
    assert digest(src) == before


def test_image_namespace():
    assert image_namespace('/cam/image_raw', 'sensor_msgs/msg/Image') == '/cam'
    assert image_namespace('/cam/image_raw/compressed',
                           'sensor_msgs/msg/CompressedImage') == '/cam'
    assert image_namespace('/image', 'sensor_msgs/msg/Image') == ''


def test_missing_input(tmp_path, tiny_checkpoint):
    r = run_tool(tmp_path / 'none', tmp_path / 'out', '--checkpoint', tiny_checkpoint)
    assert r.returncode == 1 and str(Path(tmp_path / 'none')) in r.stderr


# -- faults: the input is never touched, every failure is one line naming its file -------------
def digest(path):
    """sha256 over every file of a bag directory (names and bytes)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).rglob('*') if p.is_file()):
        h.update(f.name.encode() + b'\0' + f.read_bytes())
    return h.hexdigest()


def one_error_line(r, *needles):
    lines = [line for line in r.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1, r.stderr
    assert 'Traceback' not in r.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def with_crcs(bag, compression='zstd', data_crc=False):
    """Rewrite a bag's MCAP file as `ros2 bag record` writes it: chunk CRCs (rosbags writes 0)."""
    from mcap.reader import make_reader
    from mcap.writer import CompressionType, Writer as McapWriter
    (path,) = Path(bag).glob('*.mcap')
    with open(path, 'rb') as f:
        reader = make_reader(f)
        header, summary = reader.get_header(), reader.get_summary()
        metadata = list(reader.iter_metadata())
        messages = [m for _, _, m in reader.iter_messages(log_time_order=False)]
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'wb') as f:
        w = McapWriter(f, compression=CompressionType[compression.upper()],
                       enable_data_crcs=data_crc)
        w.start(profile=header.profile, library=header.library)
        schemas = {i: w.register_schema(s.name, s.encoding, s.data)
                   for i, s in summary.schemas.items()}
        channels = {i: w.register_channel(c.topic, c.message_encoding, schemas[c.schema_id],
                                          c.metadata) for i, c in summary.channels.items()}
        for m in metadata:
            w.add_metadata(m.name, m.metadata)
        for m in messages:
            w.add_message(channels[m.channel_id], m.log_time, m.data, m.publish_time, m.sequence)
        w.finish()
    os.replace(tmp, path)
    return path


def test_mcap_with_crcs_is_processed(tmp_path, tiny_estimator):
    src = write_bag(tmp_path / 'in', n=2)
    with_crcs(src)
    verify_bag(src)
    process_bag(src, tmp_path / 'out', tiny_estimator, points=False)
    assert len(read_all(tmp_path / 'out')['/cam/color/depth/image']) == 2


@pytest.mark.parametrize('compression', ['zstd', 'none'])
def test_garbage_in_an_mcap_chunk_is_detected_and_named(tmp_path, tiny_checkpoint,
                                                        compression):
    src = write_bag(tmp_path / 'in', n=6)
    mcap_file = with_crcs(src, compression)
    data = bytearray(mcap_file.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = np.random.default_rng(0).bytes(4096)
    mcap_file.write_bytes(bytes(data))
    before = digest(src)
    with pytest.raises(BagError, match='chunk 0 at byte'):
        verify_bag(src)
    r = run_tool(src, tmp_path / 'out', '--checkpoint', tiny_checkpoint)
    assert r.returncode == 1
    one_error_line(r, mcap_file, 'chunk')
    assert digest(src) == before and not list(tmp_path.glob('*out*'))


def test_damaged_bytes_between_chunks_fail_the_data_crc(tmp_path):
    src = write_bag(tmp_path / 'in', n=2)
    mcap_file = with_crcs(src, 'none', data_crc=True)
    verify_bag(src)
    data = bytearray(mcap_file.read_bytes())
    header_len = 8 + 9 + int.from_bytes(data[9:17], 'little')
    data[header_len - 1] ^= 0xFF  # the last byte of the Header record, outside any chunk
    mcap_file.write_bytes(bytes(data))
    with pytest.raises(BagError, match='data section CRC'):
        verify_bag(src)


@pytest.mark.parametrize('damage', ['truncate', 'overwrite'])
def test_damaged_sqlite3_bag_is_one_line(tmp_path, tiny_checkpoint, damage):
    src = write_bag(tmp_path / 'in', 'sqlite3', n=6)
    (db,) = src.glob('*.db3')
    data = bytearray(db.read_bytes())
    if damage == 'truncate':
        data = data[:len(data) // 2]
    else:
        data[4096:8192] = np.random.default_rng(0).bytes(4096)  # page 2, a b-tree page
    db.write_bytes(bytes(data))
    before = digest(src)
    r = run_tool(src, tmp_path / 'out', '--checkpoint', tiny_checkpoint)
    assert r.returncode == 1
    one_error_line(r, db, 'corrupt')
    assert digest(src) == before and not list(tmp_path.glob('*out*'))


def test_input_named_like_a_temporary_output_is_untouched(tmp_path, tiny_estimator):
    # The name the tool used to give its temporary output, and remove when it existed.
    src = write_bag(tmp_path / '.out.partial', n=2)
    before = digest(src)
    process_bag(src, tmp_path / 'out', tiny_estimator, points=False)
    assert digest(src) == before
    assert len(read_all(tmp_path / 'out')['/cam/color/depth/image']) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.out.partial', 'out']


def test_output_data_file_has_the_final_name(tmp_path, tiny_estimator):
    for storage, suffix in (('mcap', '.mcap'), ('sqlite3', '.db3')):
        src = write_bag(tmp_path / f'in_{storage}', storage, n=1)
        dst = tmp_path / f'result_{storage}'
        process_bag(src, dst, tiny_estimator, points=False)
        assert sorted(p.name for p in dst.iterdir()) == ['metadata.yaml', dst.name + suffix]
        assert dst.name + suffix in (dst / 'metadata.yaml').read_text()
        assert '.partial' not in (dst / 'metadata.yaml').read_text()


def test_binning_and_roi_give_the_node_s_cloud(tmp_path, tiny_estimator):
    """A 160x120 calibration, ROI 128x96 at (16, 12), binning 2: the 64x48 frames' cloud."""
    from clip_depth_ros.frames import geometry
    from sensor_msgs.msg import CameraInfo
    camera = {'height': 2 * H + 24, 'width': 2 * W + 32, 'binning_x': 2, 'binning_y': 2,
              'roi': (16, 12, 2 * W, 2 * H),
              'k': [120.0, 0, 80.0, 0, 110.0, 60.0, 0, 0, 1],
              'p': [120.0, 0, 80.0, 0, 0, 110.0, 60.0, 0, 0, 0, 1, 0]}
    src = write_bag(tmp_path / 'in', n=1, camera=camera)
    summary = process_bag(src, tmp_path / 'out', tiny_estimator)
    assert summary.frames == 1
    msg = CameraInfo(height=camera['height'], width=camera['width'], k=camera['k'],
                     p=camera['p'], binning_x=2, binning_y=2)
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = camera['roi']
    # The node's reading of the same camera_info (rclpy's message; the tool read rosbags').
    node_intr = geometry.Intrinsics.from_camera_info_msg(msg)
    assert (node_intr.width, node_intr.height, node_intr.fx) == (W, H, 60.0)
    msgs = read_all(tmp_path / 'out')
    depth = np.frombuffer(msgs['/cam/color/depth/image'][0][1].data.tobytes(),
                          np.float32).reshape(H, W)
    np.testing.assert_allclose(depth, tiny_estimator.predict(frames(1)[0], focal_px=60.0),
                               rtol=1e-5)
    cloud = np.frombuffer(msgs['/cam/color/depth/points'][0][1].data.tobytes(),
                          np.float32).reshape(H, W, 8)[..., :3]
    expected = geometry.unproject(geometry.mask_range(depth, 10.0), node_intr)
    np.testing.assert_allclose(cloud, expected.reshape(H, W, 3), rtol=1e-6, atol=1e-6)


def test_distorted_bag_is_rectified_as_the_node_does(tmp_path, tiny_estimator):
    from clip_depth_ros.frames import geometry
    from clip_depth_ros.frames.rectify import CameraModel
    d = [-0.3, 0.05, 0.0, 0.0, 0.0]
    src = write_bag(tmp_path / 'in', n=2, camera={'d': d})
    summary = process_bag(src, tmp_path / 'out', tiny_estimator, max_range_m=10.0)
    assert summary.frames == 2 and 'rectifying' in summary.rectify['/cam/color/camera_info']
    msgs = read_all(tmp_path / 'out')
    info = msgs['/cam/color/depth/camera_info'][0][1]
    assert list(info.d) == [0.0] * 5 and list(info.p) == P
    assert list(info.r) == list(np.eye(3).ravel())
    assert list(info.k) == [P[0], P[1], P[2], P[4], P[5], P[6], P[8], P[9], P[10]]
    model = CameraModel.from_camera_info(K, P, W, H, d=d, r=np.eye(3).ravel())
    rectified = model.rectify(frames(1)[0])
    depth = np.frombuffer(msgs['/cam/color/depth/image'][0][1].data.tobytes(),
                          np.float32).reshape(H, W)
    expected = geometry.mask_range(tiny_estimator.predict(rectified, focal_px=P[0]), 10.0)
    np.testing.assert_allclose(depth, expected, rtol=1e-5, equal_nan=True)
    # --rectify off: frames taken as rectified, camera_info copied as recorded
    summary = process_bag(src, tmp_path / 'off', tiny_estimator, rectify='off')
    off = read_all(tmp_path / 'off')
    assert list(off['/cam/color/depth/camera_info'][0][1].d) == d
    depth = np.frombuffer(off['/cam/color/depth/image'][0][1].data.tobytes(),
                          np.float32).reshape(H, W)
    np.testing.assert_allclose(depth, tiny_estimator.predict(frames(1)[0], focal_px=P[0]),
                               rtol=1e-5)


def test_implausible_camera_info_gives_canonical_depth_only(tmp_path, tiny_estimator):
    camera = {'k': [1e300, 0, 32.0, 0, 1e300, 24.0, 0, 0, 1], 'p': [0.0] * 12}
    src = write_bag(tmp_path / 'in', n=2, camera=camera)
    summary = process_bag(src, tmp_path / 'out', tiny_estimator)
    assert summary.frames == 2
    count, reason = summary.camera_info_problems['/cam/color/image_raw']
    assert count == 2 and 'implausible focal length' in reason
    msgs = read_all(tmp_path / 'out')
    assert '/cam/color/depth/camera_info' not in msgs and '/cam/color/depth/points' not in msgs
    got = np.frombuffer(msgs['/cam/color/depth/image'][0][1].data.tobytes(), np.float32)
    np.testing.assert_allclose(got.reshape(H, W), tiny_estimator.predict(frames(1)[0]),
                               rtol=1e-5)


def test_bag_without_camera_info_gets_depth_only(tmp_path, tiny_estimator, caplog):
    src = tmp_path / 'in'
    with Writer(src, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection('/cam/image_raw', 'sensor_msgs/msg/Image', typestore=TS)
        for i, rgb in enumerate(frames(3)):
            msg = T['sensor_msgs/msg/Image'](header=header(i), height=H, width=W,
                                             encoding='rgb8', is_bigendian=0, step=W * 3,
                                             data=rgb.ravel())
            w.write(conn, 10 + i, TS.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
    before = digest(src)
    summary = process_bag(src, tmp_path / 'out', tiny_estimator)
    assert summary.frames == 3 and summary.no_camera_info == ['/cam/image_raw']
    (warning,) = [r for r in caplog.records if r.levelname == 'WARNING' and 'camera_info' in
                  r.getMessage()]
    assert '/cam/image_raw' in warning.getMessage()
    msgs = read_all(tmp_path / 'out')
    assert sorted(msgs) == ['/cam/depth/image', '/cam/image_raw']
    got = np.frombuffer(msgs['/cam/depth/image'][0][1].data.tobytes(), np.float32)
    np.testing.assert_allclose(got.reshape(H, W), tiny_estimator.predict(frames(1)[0]),
                               rtol=1e-5)
    assert digest(src) == before


def test_refused_frames_are_skipped_and_counted_by_kind(tmp_path, tiny_estimator):
    from bombs import jpeg_bomb, png_bomb
    src = tmp_path / 'in'
    with Writer(src, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection('/cam/image/compressed', 'sensor_msgs/msg/CompressedImage',
                                typestore=TS)
        good = cv2.imencode('.png', frames(1)[0])[1].ravel()
        bombs = [np.frombuffer(b(), np.uint8) for b in (png_bomb, jpeg_bomb)]
        for i, (fmt, data) in enumerate([('png', good), ('png', bombs[0]), ('jpeg', bombs[1]),
                                         ('jpeg', good), ('bmp', good)]):
            msg = T['sensor_msgs/msg/CompressedImage'](header=header(i), format=fmt,
                                                       data=np.asarray(data, np.uint8))
            w.write(conn, 10 + i, TS.serialize_cdr(msg, 'sensor_msgs/msg/CompressedImage'))
    summary = process_bag(src, tmp_path / 'out', tiny_estimator)
    assert summary.frames == 1 and summary.skipped == {'/cam/image/compressed': 4}
    kinds = {kind: count for (_, kind), (count, _) in summary.skip_reasons.items()}
    assert kinds == {'image.too_large': 2, 'image.format_mismatch': 1,
                     'image.unsupported_format': 1}  # the node's kind names


DISK_FULL = [('mcap', 'tmpfs'), ('sqlite3', 'rlimit')]


def _can_mount_tmpfs(where):
    r = subprocess.run(['unshare', '-rm', 'sh', '-c', f'mount -t tmpfs -o size=64k t {where}'],
                       capture_output=True)
    return r.returncode == 0


@pytest.mark.parametrize('storage,mechanism', DISK_FULL, ids=[f'{s}-{m}' for s, m in DISK_FULL])
def test_full_disk_is_one_line_naming_the_output(tmp_path, tiny_checkpoint, storage,
                                                 mechanism):
    """
    Fill a real disk: a 256 KiB tmpfs (ENOSPC) in a private mount namespace, or a file limit.

    RLIMIT_FSIZE gives EFBIG, which sqlite3 reports as a full disk (Python ignores SIGXFSZ).
    """
    import resource
    src = write_bag(tmp_path / 'in', storage, n=3)
    before = digest(src)
    target = tmp_path / 'disk'
    target.mkdir()
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-bag')
    cmd = [exe, str(src), str(target / 'out'), '--checkpoint', str(tiny_checkpoint)]

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    preexec = limit_file_size
    if mechanism == 'tmpfs' and (shutil.which('unshare') is None
                                 or not _can_mount_tmpfs(target)):
        # No user namespaces here (containers, hardened kernels): the file size limit then
        # fills the disk for this storage too (EFBIG instead of ENOSPC), rather than a skip.
        mechanism = 'rlimit'
    if mechanism == 'tmpfs':
        # What is left on the tmpfs is listed from inside the namespace, where it exists.
        cmd = ['unshare', '-rm', 'sh', '-c', f'mount -t tmpfs -o size=256k tmpfs {target} && '
               f'{{ "$@"; rc=$?; echo "left:$(ls -A {target})"; exit $rc; }}', 'sh', *cmd]
        preexec = None
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=preexec)
    assert r.returncode == 1, r.stderr
    line = one_error_line(r, target / 'out', 'cannot write bag')
    assert ('No space left' in line or 'full' in line or 'too large' in line), line
    assert digest(src) == before
    if mechanism == 'tmpfs':
        assert r.stdout.splitlines()[-1] == 'left:', r.stdout
    assert not list(target.iterdir())  # nothing left behind


def test_damage_over_a_record_header_is_found_without_crcs(tmp_path):
    """Find a damaged record header by structure where no CRCs are stored (rosbags writes none)."""
    import struct
    src = write_bag(tmp_path / 'in', n=2)
    (mcap_file,) = src.glob('*.mcap')
    data = bytearray(mcap_file.read_bytes())
    chunk = 8 + 9 + struct.unpack_from('<Q', data, 9)[0]  # after the magic and Header record
    assert data[chunk] == 0x06 and struct.unpack_from('<I', data, chunk + 9 + 24)[0] == 0
    name_len = struct.unpack_from('<I', data, chunk + 9 + 28)[0]
    first_record = chunk + 9 + 32 + name_len + 8
    data[first_record:first_record + 9] = b'\xee' * 9
    mcap_file.write_bytes(bytes(data))
    with pytest.raises(BagError, match=r'chunk 0 .*invalid record at byte 0'):
        verify_bag(src)
