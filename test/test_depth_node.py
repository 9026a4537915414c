# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The depth node over real DDS with a real tiny model: outputs, conventions, bad input."""

import itertools
import time

from clip_depth_ros.frames import geometry
from clip_depth_ros.frames.colormap import colorize_depth
from clip_depth_ros.ros import conversions
from clip_depth_ros.ros.depth_node import DepthNode
import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_harness import Graph, wait_for
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

H, W = 96, 128
K = [100.0, 0.0, 64.0, 0.0, 110.0, 48.0, 0.0, 0.0, 1.0]
# P differs from K on purpose: the cloud must use P.
P = [105.0, 0.0, 62.5, 0.0, 0.0, 115.0, 47.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def camera_info(header, width=W, height=H, k=K, p=P):
    return CameraInfo(header=header, width=width, height=height, distortion_model='plumb_bob',
                      d=[0.0] * 5, k=k, r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=p)


_STAMPS = itertools.count(1)


def header(frame='camera_color_optical_frame'):
    """Build a header with a stamp no other frame in this module uses."""
    i = next(_STAMPS)
    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = 1_700_000_000 + i, 123_000 + i
    return h


def rgb_frame(seed=0, h=H, w=W):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


_RIGS = itertools.count(1)


def status_values(status) -> dict:
    return {kv.key: kv.value for kv in status.values}


class Rig:
    """
    A graph with one depth node and recorders on all of its outputs.

    Each rig works in a namespace of its own, so that rigs alive at the same time (a module
    fixture and a test's own) never see each other's topics.
    """

    def __init__(self, checkpoint, transport='raw', **params):
        self.ns = f'/rig{next(_RIGS)}'
        self.graph = Graph()
        overrides = [Parameter('checkpoint', value=str(checkpoint)),
                     Parameter('device', value='cpu'),
                     Parameter('input_transport', value=transport),
                     Parameter('diagnostics_period', value=0.2)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.node = DepthNode(context=self.graph.context, parameter_overrides=overrides,
                              namespace=self.ns)
        self.graph.add(self.node)
        g, ns = self.graph, self.ns
        self.depth = g.record(Image, f'{ns}/depth/image')
        self.info = g.record(CameraInfo, f'{ns}/depth/camera_info')
        self.points = g.record(PointCloud2, f'{ns}/depth/points')
        self.diag = g.record(DiagnosticArray, '/diagnostics')
        self.image_pub = g.publisher(Image, f'{ns}/image')
        self.compressed_pub = g.publisher(CompressedImage, f'{ns}/image/compressed')
        self.info_pub = g.publisher(CameraInfo, f'{ns}/camera_info')
        self.node.autostart()
        self.wait_for_discovery()

    def wait_for_discovery(self):
        # input_qos auto: the probe's publishers are reliable, so the node ends up reliable.
        node = self.node
        wait_for(lambda: node.input_subscriptions() and all(
            s.get_publisher_count() > 0 for s in node.input_subscriptions())
            and set(node.input_qos().values()) == {'reliable'}, what='input discovery')
        wait_for(lambda: all(p.get_subscription_count() > 0 for pubs in node._pubs.values()
                             for name, p in pubs.items() if name != 'colormap'),
                 what='output discovery')

    def send_info(self, info):
        self.info_pub.publish(info)
        wait_for(lambda: self.node.camera_info is not None
                 and list(self.node.camera_info.p) == list(info.p)
                 and self.node.camera_info.width == info.width, what='camera_info')

    def send(self, msg, bucket=None, timeout=30.0):
        """Publish one frame and return the depth Image published for it."""
        bucket = self.depth if bucket is None else bucket
        stamp = msg.header.stamp
        (self.compressed_pub if isinstance(msg, CompressedImage) else self.image_pub).publish(msg)
        wait_for(lambda: any(m.header.stamp == stamp for m in bucket), timeout,
                 what=f'output for stamp {stamp.sec}')
        return next(m for m in bucket if m.header.stamp == stamp)

    def latest_status(self, predicate, timeout=10.0, name=': depth'):
        """Return the newest status named `...{name}` of this rig's node satisfying `predicate`."""
        found = []

        def check():
            for arr in reversed(self.diag):
                for st in arr.status:
                    if st.name.startswith(self.ns + '/') and st.name.endswith(name) \
                            and predicate(st):
                        found.append(st)
                        return True
            return False
        wait_for(check, timeout, what='diagnostics status')
        return found[0]

    def status_after(self, published: int, timeout=30.0):
        """Return the newest camera status counting at least `published` frames published."""
        return self.latest_status(
            lambda st: int(status_values(st)['frames_published']) >= published, timeout)

    def close(self):
        self.node.stop_inputs()
        self.graph.close()


@pytest.fixture(scope='module')
def max_range(tiny_estimator):
    """Pick a range that cuts about half of the untrained model's (nearly flat) depth."""
    return float(np.median(tiny_estimator.predict(rgb_frame(1), focal_px=P[0])))


@pytest.fixture(scope='module')
def rig(tiny_checkpoint, max_range):
    r = Rig(tiny_checkpoint, max_range=max_range)
    r.send_info(camera_info(header()))
    yield r
    r.close()


def raw_image(rgb, hdr, encoding='rgb8', pad=0, bigendian=False):
    h, w, _ = rgb.shape
    if encoding == 'rgb8':
        body = rgb
    elif encoding == 'bgr8':
        body = rgb[:, :, ::-1]
    elif encoding == 'rgba8':
        body = np.dstack([rgb, np.full((h, w), 7, np.uint8)])
    elif encoding == 'bgra8':
        body = np.dstack([rgb[:, :, ::-1], np.full((h, w), 7, np.uint8)])
    else:
        raise ValueError(encoding)
    rows = np.ascontiguousarray(body).reshape(h, -1)
    rows = np.hstack([rows, np.full((h, pad), 0xAB, np.uint8)])
    return Image(header=hdr, height=h, width=w, encoding=encoding, is_bigendian=bigendian,
                 step=rows.shape[1], data=rows.tobytes())


def test_depth_image_follows_the_conventions(rig, tiny_estimator, max_range):
    rgb = rgb_frame(1)
    hdr = header()
    msg = rig.send(raw_image(rgb, hdr))
    assert msg.encoding == '32FC1' and (msg.height, msg.width) == (H, W)
    assert msg.header.frame_id == hdr.frame_id and msg.header.stamp == hdr.stamp
    depth = conversions.image_to_depth(msg)
    expected = tiny_estimator.predict(rgb, focal_px=P[0])  # camera_info's focal, P's fx
    valid = expected <= max_range
    assert valid.any() and (~valid).any(), 'max_range should cut some pixels for this test'
    assert np.isposinf(depth[~valid]).all()  # REP 117: beyond the range is +Inf
    np.testing.assert_allclose(depth[valid], expected[valid], rtol=1e-5)
    assert not (depth == 0).any()
    wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.info), what='camera_info')
    info = next(m for m in rig.info if m.header.stamp == hdr.stamp)
    assert info.header.frame_id == hdr.frame_id
    assert (info.width, info.height) == (W, H) and list(info.p) == P


def test_point_cloud_layout_and_values(rig):
    rgb = rgb_frame(2)
    hdr = header()
    depth = conversions.image_to_depth(rig.send(raw_image(rgb, hdr)))
    wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.points), what='cloud')
    cloud = next(m for m in rig.points if m.header.stamp == hdr.stamp)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 16, 7, 1)]
    assert cloud.point_step == 32 and cloud.row_step == 32 * W
    assert (cloud.height, cloud.width) == (H, W) and cloud.is_dense is False
    assert cloud.header.frame_id == hdr.frame_id and cloud.header.stamp == hdr.stamp
    words = np.frombuffer(bytes(cloud.data), np.float32).reshape(H, W, 8)
    x, y, z = words[..., 0], words[..., 1], words[..., 2]
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    fx, cx, fy, cy = P[0], P[2], P[5], P[6]
    # depth: +Inf beyond the range, NaN invalid (REP 117); the cloud has NaN for both.
    assert np.isfinite(depth).any() and np.isposinf(depth).any()
    np.testing.assert_array_equal(np.isnan(z), ~np.isfinite(depth))
    depth = np.where(np.isfinite(depth), depth, np.nan)
    np.testing.assert_allclose(z, depth, equal_nan=True)
    np.testing.assert_allclose(x, (u - cx) * depth / fx, rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(y, (v - cy) * depth / fy, rtol=1e-5, atol=1e-6, equal_nan=True)
    packed = words[..., 4].view(np.uint32)
    assert (packed >> 24 == 0).all()
    np.testing.assert_array_equal((packed >> 16) & 0xFF, rgb[..., 0])
    np.testing.assert_array_equal((packed >> 8) & 0xFF, rgb[..., 1])
    np.testing.assert_array_equal(packed & 0xFF, rgb[..., 2])


@pytest.mark.parametrize('encoding,pad', [('bgr8', 0), ('rgba8', 0), ('bgra8', 0), ('rgb8', 5),
                                          ('bgr8', 3)])
def test_encodings_and_padding_match_rgb8(rig, encoding, pad):
    rgb = rgb_frame(3)
    ref = conversions.image_to_depth(rig.send(raw_image(rgb, header())))
    got = conversions.image_to_depth(
        rig.send(raw_image(rgb, header(), encoding, pad)))
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize('bigendian', [False, True])
def test_mono_encodings_match_grey_rgb8(rig, bigendian):
    grey = rgb_frame(4)[:, :, 0]
    ref = conversions.image_to_depth(rig.send(raw_image(np.dstack([grey] * 3), header())))
    mono8 = Image(header=header(), height=H, width=W, encoding='mono8', step=W + 2,
                  data=np.hstack([grey, np.zeros((H, 2), np.uint8)]).tobytes())
    np.testing.assert_array_equal(conversions.image_to_depth(rig.send(mono8)), ref)
    dtype = '>u2' if bigendian else '<u2'
    m16 = (grey.astype(np.uint16) * 257).astype(dtype)
    mono16 = Image(header=header(), height=H, width=W, encoding='mono16',
                   is_bigendian=bigendian, step=W * 2, data=m16.tobytes())
    np.testing.assert_array_equal(conversions.image_to_depth(rig.send(mono16)), ref)


@pytest.mark.parametrize('encoding', ['yuv422', 'yuv422_yuy2'])
def test_yuv422_matches_its_rgb_equivalent(rig, encoding):
    # A frame whose colour is constant over each horizontal pixel pair converts without loss
    # of chroma; build it in YUV directly and compare with OpenCV's own decoding as rgb8.
    rng = np.random.default_rng(5)
    y = rng.integers(16, 236, (H, W), dtype=np.uint8)
    uv = rng.integers(64, 192, (H, W // 2, 2), dtype=np.uint8)
    if encoding == 'yuv422':  # UYVY
        packed = np.stack([uv[..., 0], y[:, 0::2], uv[..., 1], y[:, 1::2]], -1)
        decode = cv2.COLOR_YUV2RGB_UYVY
    else:  # YUYV
        packed = np.stack([y[:, 0::2], uv[..., 0], y[:, 1::2], uv[..., 1]], -1)
        decode = cv2.COLOR_YUV2RGB_YUY2
    packed = packed.reshape(H, W * 2)
    rgb = cv2.cvtColor(packed.reshape(H, W, 2), decode)
    # The same colours by the BT.601 video-range formula, independently of OpenCV.
    yy = 1.164 * (y.astype(np.float64) - 16)
    u = np.repeat(uv[..., 0], 2, axis=1).astype(np.float64) - 128
    v = np.repeat(uv[..., 1], 2, axis=1).astype(np.float64) - 128
    expected = np.stack([yy + 1.596 * v, yy - 0.391 * u - 0.813 * v, yy + 2.018 * u], -1)
    assert np.abs(rgb.astype(np.float64) - np.clip(expected, 0, 255)).max() <= 3
    ref = conversions.image_to_depth(rig.send(raw_image(rgb, header())))
    msg = Image(header=header(), height=H, width=W, encoding=encoding,
                step=W * 2, data=packed.tobytes())
    np.testing.assert_array_equal(conversions.image_to_depth(rig.send(msg)), ref)


def test_bad_inputs_leave_node_serving(rig):
    good = raw_image(rgb_frame(6), header())
    bad_msgs = {
        'unsupported encoding': Image(header=header(), height=H, width=W, encoding='bayer_rggb8',
                                      step=W, data=bytes(H * W)),
        'data holds': Image(header=header(), height=H, width=W, encoding='rgb8', step=W * 3,
                            data=bytes(W * 3 * (H - 1))),
        'empty image': Image(header=header(), height=0, width=0, encoding='rgb8', step=0,
                             data=b''),
    }
    for i, (phrase, msg) in enumerate(bad_msgs.items()):
        rig.image_pub.publish(msg)
        rig.latest_status(lambda st, p=phrase: p in st.message
                          and st.level == DiagnosticStatus.WARN)
        ok = raw_image(rgb_frame(6), header())
        rig.send(ok)
    assert not [k for k, _ in rig.node.cameras[0].problems.active()
                if k.startswith('image.')]  # the good frame cleared them
    rig.send(good)


@pytest.mark.parametrize('name,info,phrase', [
    ('zero', {'k': [0.0] * 9, 'p': [0.0] * 12}, 'all-zero'),
    ('nan', {'k': [float('nan')] + K[1:], 'p': [0.0] * 12}, 'non-finite'),
    ('size', {'width': W * 2, 'height': H * 2}, 'the image is'),
    # implausible intrinsics: a camera_info problem, not a cloud at 1e300 m
    ('huge focal', {'k': [1e300, 0, 64, 0, 1e300, 48, 0, 0, 1], 'p': [0.0] * 12},
     'implausible focal'),
    ('tiny focal', {'p': [1e-30, 0, 62.5, 0, 0, 115.0, 47.0, 0, 0, 0, 1, 0]},
     'implausible focal'),
    ('far centre', {'p': [105.0, 0, 5000.0, 0, 0, 115.0, 47.0, 0, 0, 0, 1, 0]},
     'principal point'),
])
def test_bad_camera_info_gives_depth_without_cloud(rig, tiny_estimator, name, info, phrase):
    rig.send_info(camera_info(header(), **info))
    try:
        hdr = header()
        n_points = len(rig.points)
        rgb = rgb_frame(7)
        depth = conversions.image_to_depth(rig.send(raw_image(rgb, hdr)))
        # depth at the canonical camera's scale, as without camera_info
        expected = tiny_estimator.predict(rgb, focal_px=None)
        finite = np.isfinite(depth)
        assert finite.any()
        np.testing.assert_allclose(depth[finite], expected[finite], rtol=1e-5)
        status = rig.latest_status(lambda st: phrase in st.message)
        assert status.level == DiagnosticStatus.WARN
        values = {kv.key: kv.value for kv in status.values}
        assert phrase in values['camera_info']
    finally:
        rig.send_info(camera_info(header()))
    bad_hdr, hdr = hdr, header()
    rig.send(raw_image(rgb_frame(7), hdr))
    wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.points), what='cloud back')
    # Reliable and in order: a cloud of the bad frame would have arrived before this one.
    assert not any(m.header.stamp == bad_hdr.stamp for m in rig.points[n_points:])


def _send_info_and_wait(rig, info):
    rig.info_pub.publish(info)
    wait_for(lambda: rig.node.camera_info is not None
             and list(rig.node.camera_info.d) == list(info.d)
             and list(rig.node.camera_info.p) == list(info.p), what='camera_info')


def test_distorted_camera_info_gives_rectified_geometry(rig, tiny_estimator, max_range):
    from clip_depth_ros.frames.rectify import CameraModel
    distorted = camera_info(header())
    distorted.d = [-0.3, 0.05, 0.0, 0.0, 0.0]
    _send_info_and_wait(rig, distorted)
    try:
        rgb, hdr = rgb_frame(11), header()
        depth = conversions.image_to_depth(rig.send(raw_image(rgb, hdr)))
        # the model saw the rectified frame, at P's focal length
        rectified = CameraModel.from_camera_info_msg(distorted, 'auto').rectify(rgb)
        assert not np.array_equal(rectified, rgb)
        expected = geometry.mask_range(tiny_estimator.predict(rectified, focal_px=P[0]),
                                       max_range)
        np.testing.assert_allclose(depth, expected, rtol=1e-5, equal_nan=True)
        wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.info), what='info')
        info = next(m for m in rig.info if m.header.stamp == hdr.stamp)
        assert list(info.d) == [0.0] * 5 and list(info.p) == P
        assert list(info.k) == [P[0], P[1], P[2], P[4], P[5], P[6], P[8], P[9], P[10]]
        assert list(info.r) == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
        assert (info.width, info.height) == (W, H)
        wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.points), what='cloud')
        status = rig.latest_status(lambda st: 'rectifying' in {
            kv.key: kv.value for kv in st.values}.get('rectify', ''))
        assert 'plumb_bob' in {kv.key: kv.value for kv in status.values}['rectify']
    finally:
        _send_info_and_wait(rig, camera_info(header()))


def _call(graph, srv_type, name, request):
    client = graph.probe.create_client(srv_type, name)
    try:
        assert client.wait_for_service(timeout_sec=20.0), f'no service {name}'
        future = client.call_async(request)
        wait_for(future.done, what=f'{name} response')
        return future.result()
    finally:
        graph.probe.destroy_client(client)


def _dump(graph, node_name):
    """Do what `ros2 param dump` does: list every name, then get them all in one request."""
    from rcl_interfaces.srv import GetParameters, ListParameters
    listed = _call(graph, ListParameters, f'{node_name}/list_parameters',
                   ListParameters.Request()).result.names
    values = _call(graph, GetParameters, f'{node_name}/get_parameters',
                   GetParameters.Request(names=listed)).values
    return list(listed), values


def test_every_parameter_is_readable_at_once(rig, tiny_checkpoint):
    from rcl_interfaces.msg import ParameterType
    names, values = _dump(rig.graph, f'{rig.ns}/depth_node')
    assert 'checkpoint' in names and 'rectify' in names
    assert 'cameras' not in names  # single camera: no value, so not declared
    assert len(values) == len(names)
    assert all(v.type != ParameterType.PARAMETER_NOT_SET for v in values)
    # several cameras: `cameras` has its value, and so has every camera's parameter
    graph = Graph()
    try:
        node = DepthNode(context=graph.context, namespace='/params_multi', parameter_overrides=[
            Parameter('checkpoint', value=str(tiny_checkpoint)), Parameter('device', value='cpu'),
            Parameter('cameras', value=['front', 'left'])])
        graph.add(node)
        node.trigger_configure()
        names, values = _dump(graph, '/params_multi/depth_node')
        by_name = dict(zip(names, values))
        assert len(values) == len(names)
        assert all(v.type != ParameterType.PARAMETER_NOT_SET for v in values)
        assert list(by_name['cameras'].string_array_value) == ['front', 'left']
        assert by_name['left.image'].string_value == 'left/image'
        assert node.get_parameter('cameras').value == ['front', 'left']
        assert node.describe_parameter('cameras').read_only
    finally:
        graph.close()


def test_frames_before_the_first_camera_info_wait_for_it(tiny_checkpoint, tiny_estimator):
    """A driver's first image may beat its camera_info: no depth at the canonical scale."""
    rig = Rig(tiny_checkpoint, camera_info_wait=30.0)
    try:
        early, rgb = header(), rgb_frame(3)
        rig.image_pub.publish(raw_image(rgb, early))
        status = rig.latest_status(lambda st: 'waiting up to 30 s' in st.message)
        assert status.level == DiagnosticStatus.WARN
        rig.send_info(camera_info(header()))
        depth = conversions.image_to_depth(rig.send(raw_image(rgb, header())))
        expected = geometry.mask_range(tiny_estimator.predict(rgb, focal_px=P[0]), 10.0)
        np.testing.assert_allclose(depth, expected, rtol=1e-5)
        assert not any(m.header.stamp == early.stamp for m in rig.depth)
    finally:
        rig.close()


def test_compressed_input(tiny_checkpoint, tiny_estimator):
    rig = Rig(tiny_checkpoint, transport='compressed', colorize_points=False, point_stride=4)
    try:
        rig.send_info(camera_info(header()))
        rgb = rgb_frame(8)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        for fmt, i in (('png', 1), ('jpeg', 2)):
            ok, enc = cv2.imencode('.' + fmt, bgr)
            msg = CompressedImage(header=header(), format=f'rgb8; {fmt} compressed bgr8',
                                  data=enc.tobytes())
            depth = conversions.image_to_depth(rig.send(msg))
            # The rgb8 equivalent: what an independent decoder (Pillow) reads from the bytes.
            import io
            from PIL import Image as PILImage
            decoded = np.asarray(PILImage.open(io.BytesIO(enc.tobytes())).convert('RGB'))
            if fmt == 'png':
                assert np.array_equal(decoded, rgb)
            expected = geometry.mask_range(
                tiny_estimator.predict(decoded, focal_px=P[0]), 10.0)
            tol = 1e-5 if fmt == 'png' else 0.02
            np.testing.assert_allclose(depth, expected, rtol=tol)
        wait_for(lambda: rig.points, what='strided cloud')
        cloud = rig.points[-1]
        assert (cloud.height, cloud.width) == (H // 4, W // 4) and cloud.point_step == 16
        rig.compressed_pub.publish(CompressedImage(header=header(), format='jpeg',
                                                   data=b'\xff\xd8garbage'))
        rig.latest_status(lambda st: 'cannot decode' in st.message)
        rig.send(CompressedImage(header=header(), format='png',
                                 data=cv2.imencode('.png', bgr)[1].tobytes()))
    finally:
        rig.close()


def test_flood_is_dropped_not_queued(tiny_checkpoint):
    rig = Rig(tiny_checkpoint, publish_points=False)
    try:
        msg = raw_image(rgb_frame(9, 240, 320), header())
        n, period_s = 200, 0.01  # 100 Hz for 2 s, against a model that takes ~50-150 ms
        for _ in range(n):
            msg.header.stamp = rig.node.get_clock().now().to_msg()
            rig.image_pub.publish(msg)
            time.sleep(period_s)  # the camera's pace, not a wait
        # The newest frame is never dropped; once its depth is out, every frame has arrived.
        last = msg.header.stamp
        wait_for(lambda: any(m.header.stamp == last for m in rig.depth), what='the last frame')
        got = len(rig.depth)
        assert 0 < got < n
        assert rig.node.slots.dropped[''] > 0
        compute = rig.node.compute_ms.summary()['median_ms']
        latency = rig.node.end_to_end_ms.summary()
        # A queue would make each frame wait for all earlier ones: after 2 s of 100 Hz input
        # the median latency would be seconds. Dropping keeps it near one compute time.
        assert latency['median_ms'] < 3 * compute + 500, (latency, compute)
        dropped = rig.node.slots.dropped['']  # final: every frame has arrived
        # Diagnostics catch up with the count (a status already received may predate it).
        values = {kv.key: kv.value for kv in rig.latest_status(
            lambda st: int({kv.key: kv.value for kv in st.values}['dropped_frames'])
            >= dropped).values}
        assert int(values['dropped_frames']) == dropped == rig.node.slots.dropped['']
    finally:
        rig.close()


def test_colormap_only_for_subscribers(rig, monkeypatch):
    # Count the colour maps computed, not only those published: the node's own colorize_depth,
    # called through.
    from clip_depth_ros.ros import depth_node
    computed = []

    def counting_colorize(*args, **kwargs):
        computed.append(1)
        return colorize_depth(*args, **kwargs)
    monkeypatch.setattr(depth_node, 'colorize_depth', counting_colorize)
    cam = rig.node.cameras[0]
    published = cam.frames_out
    rig.send(raw_image(rgb_frame(11), header()))
    wait_for(lambda: cam.frames_out > published, what='the frame to be counted as published')
    assert rig.node._pubs['']['colormap'].get_subscription_count() == 0
    assert not computed, 'a colour map was computed with nobody subscribed'
    views = rig.graph.record(Image, f'{rig.ns}/depth/colormap')
    wait_for(lambda: rig.node._pubs['']['colormap'].get_subscription_count() > 0,
             what='colormap subscriber')
    hdr = header()
    published = cam.frames_out
    rig.send(raw_image(rgb_frame(11), hdr))
    wait_for(lambda: any(v.header.stamp == hdr.stamp for v in views), what='colormap')
    assert len(computed) == 1
    view = next(v for v in views if v.header.stamp == hdr.stamp)
    assert view.encoding == 'bgr8' and (view.height, view.width, view.step) == (H, W, W * 3)
    assert view.header.frame_id == hdr.frame_id
    # A status taken after this frame was counted (figures before the count, in the node).
    values = {kv.key for kv in rig.status_after(published + 1).values}
    assert {'input_rate_hz', 'output_rate_hz', 'dropped_frames', 'end_to_end_latency_median_ms',
            'camera_info', 'image_topic', 'focal_px'} <= values
    model = rig.latest_status(lambda st: int(status_values(st)['batches']) > 0, name=': model')
    values = {kv.key: kv.value for kv in model.values}
    assert {'compute_median_ms', 'device', 'model', 'precision', 'precision_reason',
            'batch_sizes'} <= set(values)
    assert values['precision_reason']
    # The tiny checkpoint's CLIP has random weights: said on diagnostics, not only in the log.
    assert values['clip_weights'] == 'random' and model.level == DiagnosticStatus.WARN
    assert 'random' in model.message


def cloud_xyz(rig, hdr):
    wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.points), what='cloud')
    cloud = next(m for m in rig.points if m.header.stamp == hdr.stamp)
    words = np.frombuffer(bytes(cloud.data), np.float32).reshape(cloud.height, cloud.width, -1)
    return words[..., :3]


def test_binning_and_roi_rescale_the_projection(rig):
    # A 2x-binned ROI of a larger calibrated sensor: the published image is W x H, as the
    # sensor's (2W x 2H) region at (16, 8) binned by two (image_geometry's reduced resolution).
    full_w, full_h, x0, y0 = 2 * W + 40, 2 * H + 24, 16, 8
    info = camera_info(header(), width=full_w, height=full_h)
    info.binning_x = info.binning_y = 2
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = x0, y0, 2 * W, 2 * H
    rig.send_info(info)
    try:
        hdr = header()
        depth = conversions.image_to_depth(rig.send(raw_image(rgb_frame(12), hdr)))
        xyz = cloud_xyz(rig, hdr)
    finally:
        rig.send_info(camera_info(header()))
    fx, cx, fy, cy = P[0] / 2, (P[2] - x0) / 2, P[5] / 2, (P[6] - y0) / 2
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    z = np.where(np.isfinite(depth), depth, np.nan)
    assert xyz.shape == (H, W, 3) and np.isfinite(z).any()
    np.testing.assert_allclose(xyz[..., 2], z, equal_nan=True)
    np.testing.assert_allclose(xyz[..., 0], (u - cx) * z / fx, rtol=1e-5, atol=1e-6,
                               equal_nan=True)
    np.testing.assert_allclose(xyz[..., 1], (v - cy) * z / fy, rtol=1e-5, atol=1e-6,
                               equal_nan=True)
    # The camera_info published with the depth is the camera's, binning and ROI included.
    wait_for(lambda: any(m.header.stamp == hdr.stamp for m in rig.info), what='camera_info')
    out = next(m for m in rig.info if m.header.stamp == hdr.stamp)
    assert (out.binning_x, out.roi.x_offset, out.roi.width) == (2, x0, 2 * W)


def test_depth_scales_with_the_camera_focal(rig, tiny_estimator):
    original = rig.node.config.max_range
    rig.node.set_parameters([Parameter('max_range', value=1000.0),
                             Parameter('publish_points', value=False)])
    try:
        rgb = rgb_frame(13)
        depths = []
        for scale in (1.0, 2.0):
            p = list(P)
            p[0] *= scale
            rig.send_info(camera_info(header(), p=p))
            depths.append(conversions.image_to_depth(rig.send(raw_image(rgb, header()))))
        # Without points too, the node passes camera_info's fx: twice the focal, twice as far.
        np.testing.assert_allclose(depths[1], 2 * depths[0], rtol=1e-6)
        np.testing.assert_allclose(depths[0], tiny_estimator.predict(rgb, focal_px=P[0]),
                                   rtol=1e-5)
        values = {kv.key: kv.value for kv in rig.latest_status(
            lambda st: {kv.key: kv.value for kv in st.values}['focal_px'] == '210.00').values}
        assert values['camera_info'] == 'ok'
    finally:
        rig.node.set_parameters([Parameter('max_range', value=original),
                                 Parameter('publish_points', value=True)])
        rig.send_info(camera_info(header()))
