# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rectification as image_proc does it, and camera_info sanity, without ROS."""

from types import SimpleNamespace

from clip_depth_ros.frames import geometry
from clip_depth_ros.frames.rectify import CameraModel, CameraModels
import cv2
import numpy as np
import pytest

W, H = 640, 480
K = [420.0, 0.0, 321.0, 0.0, 425.0, 238.0, 0.0, 0.0, 1.0]
# P differs from K as a calibration's usually does (alpha = 0 zooms in a little).
P = [400.0, 0.0, 318.0, 0.0, 0.0, 404.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0]
D = [-0.3, 0.0, 0.0, 0.0, 0.0]  # an ordinary wide-angle USB camera
PATTERN = (9, 6)  # inner corners of the drawn board


def info(d=D, k=K, p=P, model='plumb_bob', r=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0), width=W,
         height=H, binning=0, roi=(0, 0, 0, 0)):
    return SimpleNamespace(width=width, height=height, distortion_model=model, d=list(d),
                           k=list(k), r=list(r), p=list(p), binning_x=binning,
                           binning_y=binning,
                           roi=SimpleNamespace(x_offset=roi[0], y_offset=roi[1], width=roi[2],
                                               height=roi[3], do_rectify=False))


def checkerboard(square=50):
    """Draw an ideal (rectified, in P's geometry) board of PATTERN inner corners, centred, RGB."""
    img = np.full((H, W), 255, np.uint8)
    cols, rows = PATTERN[0] + 1, PATTERN[1] + 1
    x0, y0 = (W - cols * square) // 2, (H - rows * square) // 2
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                img[y0 + r * square:y0 + (r + 1) * square,
                    x0 + c * square:x0 + (c + 1) * square] = 0
    return np.repeat(img[..., None], 3, axis=2)


def distort(ideal, d=D):
    """Return the raw image a camera with K, D sees of `ideal` (drawn in P's geometry)."""
    u, v = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    raw = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
    # The inverse map: where each raw pixel lands in the rectified image.
    rect = cv2.undistortPoints(raw, np.array(K).reshape(3, 3), np.array(d),
                               P=np.array(P).reshape(3, 4)[:, :3]).reshape(H, W, 2)
    return cv2.remap(ideal, rect[..., 0], rect[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def line_residuals(corners):
    """Largest distance (px) of a corner from the straight line fitted to its row or column."""
    grid = corners.reshape(PATTERN[1], PATTERN[0], 2)
    worst = 0.0
    for line in list(grid) + list(grid.transpose(1, 0, 2)):
        centred = line - line.mean(axis=0)
        normal = np.linalg.svd(centred)[2][1]  # least-squares line: the smallest direction
        worst = max(worst, float(np.abs(centred @ normal).max()))
    return worst


def find_corners(rgb):
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    found, corners = cv2.findChessboardCorners(gray, PATTERN)
    assert found, 'checkerboard not found'
    return cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1),
                            (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3))


def test_rectified_checkerboard_has_straight_lines():
    ideal = checkerboard()
    raw = distort(ideal)
    bent = line_residuals(find_corners(raw))
    model = CameraModel.from_camera_info_msg(info(), 'auto')
    assert model.rectifies and 'plumb_bob' in model.state
    rectified = model.rectify(raw)
    straight = line_residuals(find_corners(rectified))
    assert bent > 4.0, bent  # the distortion is real: rows of corners bow by pixels
    assert straight < 0.5, straight
    # ... and where the ideal board has them (the geometry of P)
    assert np.abs(find_corners(rectified) - find_corners(ideal)).max() < 0.5
    # The same maps serve every frame: built once per camera_info.
    assert model.maps() is model.maps()


def test_rectified_camera_info_and_off():
    msg = info()
    model = CameraModel.from_camera_info_msg(msg, 'auto')
    fields = model.camera_info_fields(msg)
    assert list(fields['d']) == [0.0] * 5 and list(fields['p']) == P
    assert list(fields['k']) == [400.0, 0.0, 318.0, 0.0, 404.0, 241.0, 0.0, 0.0, 1.0]
    assert list(fields['r']) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert (fields['width'], fields['height']) == (W, H)
    assert (model.intrinsics.fx, model.intrinsics.cx) == (400.0, 318.0)
    off = CameraModel.from_camera_info_msg(msg, 'off')
    frame = np.zeros((H, W, 3), np.uint8)
    assert not off.rectifies and off.rectify(frame) is frame
    assert off.camera_info_fields(msg)['d'] == D and 'off' in off.state
    plain = CameraModel.from_camera_info_msg(info(d=[0.0] * 5), 'auto')
    assert not plain.rectifies and plain.rectify(frame) is frame
    assert plain.camera_info_fields(msg)['k'] == K and 'not needed' in plain.state


def test_models_are_cached_per_camera_info():
    models = CameraModels('auto')
    first = models.get(info())
    assert models.get(info()) is first  # the same camera_info again: same model, same maps
    assert models.get(info(d=[-0.2, 0, 0, 0, 0])) is not first
    with pytest.raises(geometry.InvalidIntrinsics, match='distortion model'):
        models.get(info(model='weird_model'))
    with pytest.raises(geometry.InvalidIntrinsics, match='distortion model'):
        models.get(info(model='weird_model'))  # cached failures say the same


def test_fisheye_and_rational_polynomial_rectify():
    frame = checkerboard()
    fisheye = CameraModel.from_camera_info_msg(
        info(d=[0.1, -0.05, 0.01, 0.0], model='equidistant'), 'auto')
    map1, _ = fisheye.maps()
    expected = cv2.fisheye.initUndistortRectifyMap(
        np.array(K).reshape(3, 3), np.array([0.1, -0.05, 0.01, 0.0]), np.eye(3),
        np.array(P).reshape(3, 4)[:, :3], (W, H), cv2.CV_16SC2)[0]
    assert np.array_equal(map1, expected)
    assert fisheye.rectify(frame).shape == frame.shape
    rational = CameraModel.from_camera_info_msg(
        info(d=[-0.3, 0.1, 0, 0, 0, 0.01, 0, 0], model='rational_polynomial'), 'auto')
    assert rational.rectify(frame).shape == frame.shape


def test_binning_and_roi_rectify_like_the_full_frame():
    """A binned ROI image rectifies to the same scene points as the full frame does."""
    full = CameraModel.from_camera_info_msg(info(), 'auto')
    binned = CameraModel.from_camera_info_msg(info(binning=2, roi=(80, 40, 480, 400)), 'auto')
    f1, f2 = full.maps()[0].astype(np.float64), binned.maps()[0].astype(np.float64)
    # binned rectified pixel (u, v) is full rectified pixel (80 + 2u, 40 + 2v); its raw pixel
    # in binned coordinates is (raw_full - offset) / 2 (fixed-point maps: within 1 px)
    for u, v in ((0, 0), (100, 50), (239, 199), (120, 100)):
        raw_full = f1[40 + 2 * v, 80 + 2 * u]
        assert np.abs((raw_full - (80, 40)) / 2 - f2[v, u]).max() <= 1.0


@pytest.mark.parametrize('k, p, match', [
    ([1e300, 0, 320, 0, 1e300, 240, 0, 0, 1], [0.0] * 12, 'implausible focal'),
    ([1e-30, 0, 320, 0, 500, 240, 0, 0, 1], [0.0] * 12, 'implausible focal'),
    ([0.5, 0, 320, 0, 0.5, 240, 0, 0, 1], [0.0] * 12, 'implausible focal'),
    ([-500, 0, 320, 0, 500, 240, 0, 0, 1], [0.0] * 12, 'implausible focal'),
    ([500, 0, 320, 0, 500, 240, 0, 0, 1], [2e6, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0],
     'implausible focal'),
    ([500, 0, float('nan'), 0, 500, 240, 0, 0, 1], [0.0] * 12, 'non-finite'),
    ([500, 0, 320, 0, 500, 240, 0, 0, 1],
     [500, 0, 320, 0, 0, 500, 240, float('inf'), 0, 0, 1, 0], 'non-finite'),
    ([500, 0, 5000, 0, 500, 240, 0, 0, 1], [0.0] * 12, 'principal point'),
    ([500, 0, 320, 0, 500, -600, 0, 0, 1], [0.0] * 12, 'principal point'),
])
def test_implausible_intrinsics_are_refused(k, p, match):
    with pytest.raises(geometry.InvalidIntrinsics, match=match):
        geometry.Intrinsics.from_camera_info(k, p, 640, 480)
    with pytest.raises(geometry.InvalidIntrinsics, match=match):
        CameraModel.from_camera_info_msg(info(k=k, p=p, d=[0.0] * 5))


def test_plausible_intrinsics_are_judged_at_the_frame_resolution():
    # 1.5 px focal length at full resolution is 0.75 px binned by 2: refused there only.
    k = [1.5, 0, 320, 0, 1.5, 240, 0, 0, 1]
    assert geometry.Intrinsics.from_camera_info(k, [0.0] * 12, 640, 480).fx == 1.5
    with pytest.raises(geometry.InvalidIntrinsics, match='implausible focal'):
        geometry.Intrinsics.from_camera_info(k, [0.0] * 12, 640, 480, 2, 2)
    # a principal point somewhat outside the image (a shifted sensor) is accepted
    assert geometry.Intrinsics.from_camera_info(
        [500, 0, -300, 0, 500, 900, 0, 0, 1], [0.0] * 12, 640, 480).cx == -300
    with pytest.raises(geometry.InvalidIntrinsics, match='non-finite'):
        CameraModel.from_camera_info_msg(info(d=[float('nan'), 0, 0, 0, 0]))


def test_against_image_geometry():
    """Where image_geometry imports (a ROS 2 install), our maps match PinholeCameraModel."""
    image_geometry = pytest.importorskip('image_geometry')
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=D, k=K,
                     r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=P)
    cam = image_geometry.PinholeCameraModel()
    cam.fromCameraInfo(msg)
    model = CameraModel.from_camera_info_msg(msg, 'auto')
    map1, map2 = cv2.convertMaps(*model.maps(), cv2.CV_32FC1)
    for u, v in ((10, 10), (320, 240), (600, 50), (630, 470), (100, 400)):
        raw = (float(map1[v, u]), float(map2[v, u]))
        assert np.allclose(cam.rectifyPoint(raw), (u, v), atol=0.1)
        ray = np.array(cam.projectPixelTo3dRay((u, v)))
        intr = model.intrinsics
        ours = np.array([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, 1.0])
        assert np.allclose(ray / ray[2], ours, atol=1e-9)
