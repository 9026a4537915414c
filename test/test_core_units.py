# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure-Python core: pixel decoding, geometry, cloud packing, health."""

from clip_depth_ros.frames import geometry
from clip_depth_ros.frames import pixels
from clip_depth_ros.serving.health import ProblemLog, RateMeter
import numpy as np
import pytest


def test_raw_bgr_with_padding():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    rows = np.hstack([rgb[:, :, ::-1].reshape(2, 9), np.zeros((2, 3), np.uint8)])
    out = pixels.raw_to_rgb(rows.tobytes(), 'bgr8', 3, 2, 12)
    np.testing.assert_array_equal(out, rgb)


def test_mono16_big_endian():
    values = np.array([[0, 257 * 10, 65535]], dtype='>u2')
    out = pixels.raw_to_rgb(values.tobytes(), 'mono16', 3, 1, 6, is_bigendian=True)
    np.testing.assert_array_equal(out[0, :, 0], [0, 10, 255])


@pytest.mark.parametrize('args,error', [
    (('bayer_rggb8', 2, 2, 2), pixels.UnsupportedEncoding),
    (('rgb8', 2, 2, 5), pixels.MalformedImage),      # step < width * 3
    (('rgb8', 2, 3, 6), pixels.MalformedImage),      # data shorter than step * height
    (('rgb8', 0, 0, 0), pixels.MalformedImage),
    (('yuv422', 3, 2, 6), pixels.MalformedImage),    # odd width
])
def test_raw_errors(args, error):
    with pytest.raises(error):
        pixels.raw_to_rgb(bytes(12), *args)


def test_compressed_garbage():
    with pytest.raises(pixels.MalformedImage, match='cannot decode'):
        pixels.compressed_to_rgb(b'\xff\xd8\x00\x01', 'jpeg')


def test_intrinsics_prefers_p_and_falls_back_to_k():
    k = [500.0, 0, 320, 0, 510, 240, 0, 0, 1]
    p = [400.0, 0, 300, 0, 0, 410, 200, 0, 0, 0, 1, 0]
    assert geometry.Intrinsics.from_camera_info(k, p, 640, 480).fx == 400.0
    intr = geometry.Intrinsics.from_camera_info(k, [0.0] * 12, 640, 480)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (500.0, 510.0, 320.0, 240.0)
    with pytest.raises(geometry.InvalidIntrinsics, match='all-zero'):
        geometry.Intrinsics.from_camera_info([0.0] * 9, [0.0] * 12, 640, 480)
    with pytest.raises(geometry.InvalidIntrinsics, match='implausible focal length fx=-1'):
        geometry.Intrinsics.from_camera_info([-1.0] + k[1:], [0.0] * 12, 640, 480)


def test_unproject_with_stride_is_organized():
    depth = np.full((5, 7), 2.0, np.float32)
    depth[0, 0] = np.nan
    intr = geometry.Intrinsics(fx=2.0, fy=4.0, cx=3.0, cy=2.0, width=7, height=5)
    xyz = geometry.unproject(depth, intr, stride=2)
    assert xyz.shape == (3, 4, 3)
    assert np.isnan(xyz[0, 0]).all()
    np.testing.assert_allclose(xyz[1, 2], [(4 - 3) * 2 / 2, (2 - 2) * 2 / 4, 2.0])
    np.testing.assert_allclose(xyz[2, 3], [(6 - 3) * 2 / 2, (4 - 2) * 2 / 4, 2.0])


def test_mask_range():
    out = geometry.mask_range(np.array([0.0, 1.0, 5.0, np.inf, -1.0, np.nan], np.float32), 4.0)
    # REP 117: beyond the range +Inf, invalid (non-finite, <= 0) NaN.
    assert np.isnan(out[[0, 3, 4, 5]]).all() and out[1] == 1.0 and out[2] == np.inf


def test_pack_cloud_layout():
    xyz = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    rgb = np.array([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [255, 0, 128]]], np.uint8)
    data = geometry.pack_cloud(xyz, rgb)
    assert len(data) == 4 * 32
    words = np.frombuffer(data, np.float32).reshape(2, 2, 8)
    np.testing.assert_array_equal(words[..., :3], xyz)
    assert words[1, 1, 4:5].view(np.uint32)[0] == 0x00FF0080
    assert len(geometry.pack_cloud(xyz)) == 4 * 16


def test_against_cv_bridge():
    """Where a ROS 2 install provides it, our image conversions agree with cv_bridge."""
    cv_bridge = pytest.importorskip('cv_bridge')
    from clip_depth_ros.ros import conversions
    from std_msgs.msg import Header
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    bridge = cv_bridge.CvBridge()
    for enc in ('rgb8', 'bgr8', 'mono8'):
        msg = bridge.cv2_to_imgmsg(rgb if enc != 'mono8' else rgb[..., 0], encoding=enc)
        np.testing.assert_array_equal(conversions.image_to_rgb(msg),
                                      bridge.imgmsg_to_cv2(msg, 'rgb8'))
    depth = np.random.default_rng(1).random((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(
        bridge.imgmsg_to_cv2(conversions.depth_to_image(depth, Header()), '32FC1'), depth)


def test_against_sensor_msgs_py():
    """sensor_msgs_py is pure Python: this runs whenever it alone is importable."""
    pc2 = pytest.importorskip('sensor_msgs_py.point_cloud2')
    from clip_depth_ros.ros import conversions
    from std_msgs.msg import Header
    xyz = np.random.default_rng(2).random((4, 6, 3)).astype(np.float32)
    cloud = conversions.xyz_to_cloud(xyz, Header())
    ref = pc2.create_cloud_xyz32(Header(), xyz.reshape(-1, 3).tolist())
    got = pc2.read_points_numpy(cloud, field_names=('x', 'y', 'z'))
    np.testing.assert_array_equal(got, pc2.read_points_numpy(ref, field_names=('x', 'y', 'z')))


def test_problem_log_throttles_and_expires():
    now = [0.0]
    log = ProblemLog(throttle_s=10.0, expire_s=5.0, clock=lambda: now[0])
    said = []
    for i in range(30):  # a bad stream at 30 Hz for one second
        now[0] = i / 30
        said.append(log.report('image', 'bad encoding'))
    assert said.count(True) == 1 and log.get('image').count == 30
    now[0] = 11.0
    assert log.report('image', 'bad encoding') is True  # once per throttle period
    assert log.report('image', 'another problem') is False  # throttled by key, not text
    now[0] = 20.0
    assert log.active() == []


def test_rate_meter():
    now = [0.0]
    meter = RateMeter(window_s=5.0, clock=lambda: now[0])
    for i in range(11):
        now[0] = i * 0.1
        meter.tick()
    assert meter.rate_hz() == pytest.approx(10.0)


def test_torch_cloud_packing_matches_numpy():
    import torch
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.5, 5.0, (9, 13)).astype(np.float32)
    depth[2, 3] = np.nan
    rgb = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    intr = geometry.Intrinsics(fx=50.0, fy=51.0, cx=6.2, cy=4.1, width=13, height=9)
    for stride, colour in ((1, rgb), (2, rgb), (3, None)):
        expected = np.frombuffer(geometry.pack_cloud(
            geometry.unproject(depth, intr, stride),
            None if colour is None else colour[::stride, ::stride]), np.float32)
        got = geometry.pack_cloud_torch(
            torch.from_numpy(depth), intr,
            None if colour is None else torch.from_numpy(colour), stride).numpy()
        got = np.frombuffer(got.tobytes(), np.float32)
        np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
        if colour is not None:
            words = got.view(np.uint32)[4::8], expected.view(np.uint32)[4::8]
            np.testing.assert_array_equal(*words)


@pytest.mark.gpu
def test_pipeline_on_cuda_matches_cpu(tiny_checkpoint):
    torch = pytest.importorskip('torch')
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device')
    from clip_depth_ros.engine.inference import DepthEstimator
    from clip_depth_ros.serving.pipeline import depth_and_cloud
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    intr = geometry.Intrinsics(fx=50.0, fy=50.0, cx=32.0, cy=24.0, width=64, height=48)
    cpu = depth_and_cloud(DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu'),
                          rgb, 10.0, intr)
    gpu = depth_and_cloud(DepthEstimator.from_checkpoint(tiny_checkpoint, device='cuda',
                                                         precision='fp32'), rgb, 10.0, intr)
    np.testing.assert_allclose(gpu.depth_m, cpu.depth_m, rtol=1e-3)
    np.testing.assert_allclose(np.frombuffer(gpu.cloud, np.float32),
                               np.frombuffer(cpu.cloud, np.float32), rtol=1e-3, atol=1e-4)


def test_device_path_gives_the_same_frame_as_the_numpy_path(tiny_estimator):
    """The GPU code path, run on CPU tensors: same depth and the same cloud bytes."""
    import torch
    from clip_depth_ros.serving import pipeline
    rgb = np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    intr = geometry.Intrinsics(fx=50.0, fy=51.0, cx=31.5, cy=23.5, width=64, height=48)
    for stride, colorize in ((1, True), (3, False)):
        ref = pipeline.depth_and_cloud(tiny_estimator, rgb, 5.0, intr, stride, colorize)
        with torch.inference_mode():
            depth = tiny_estimator.predict_tensor([rgb], [intr.fx])[0]
        dev = pipeline._finish_on_device(depth, rgb, 5.0, intr, stride, colorize, bytearray)
        np.testing.assert_array_equal(dev.depth_m, ref.depth_m)
        assert (dev.cloud_height, dev.cloud_width) == (ref.cloud_height, ref.cloud_width)
        np.testing.assert_allclose(np.frombuffer(dev.cloud, np.float32),
                                   np.frombuffer(ref.cloud, np.float32), rtol=1e-6,
                                   equal_nan=True)
    no_cloud = pipeline._finish_on_device(depth, rgb, 5.0, None, 1, True, bytearray)
    assert no_cloud.cloud is None and no_cloud.depth_m.shape == (48, 64)


def test_pipeline_takes_the_focal_length_from_the_intrinsics(tiny_estimator):
    """camera_info's fx scales the depth (canonical camera -> this one), cloud and all."""
    from clip_depth_ros.serving.pipeline import depth_and_cloud
    rgb = np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    near = geometry.Intrinsics(fx=50.0, fy=50.0, cx=31.5, cy=23.5, width=64, height=48)
    far = geometry.Intrinsics(fx=100.0, fy=100.0, cx=31.5, cy=23.5, width=64, height=48)
    a = depth_and_cloud(tiny_estimator, rgb, 1e3, near)
    b = depth_and_cloud(tiny_estimator, rgb, 1e3, far)
    np.testing.assert_allclose(b.depth_m, 2 * a.depth_m, rtol=1e-6)
    # Without points the intrinsics still scale the depth (the bag tool's --no-points)
    np.testing.assert_allclose(depth_and_cloud(tiny_estimator, rgb, 1e3, far, points=False)
                               .depth_m, b.depth_m, rtol=1e-6)
    assert depth_and_cloud(tiny_estimator, rgb, 1e3, far, points=False).cloud is None
    np.testing.assert_array_equal(tiny_estimator.predict(rgb, focal_px=50.0), a.depth_m)
