# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A camera_info's geometry as image_proc uses it: rectification maps and rectified intrinsics.

A camera_info with non-zero distortion (or a rectifying rotation R) describes a raw image;
image_proc's rectify warps it with OpenCV's maps into the geometry of the projection matrix P,
and depth_image_proc unprojects that rectified image with P. The node, the bag tool and bag
training take every frame through `CameraModel` so that depth, cloud and the published
camera_info (D = 0, K = P's 3x3, R = I) are all in that rectified geometry. The maps are built
once per camera_info (lazily, at the first frame it serves) and reused for every frame.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from clip_depth_ros.config import RECTIFY_MODES
from clip_depth_ros.frames.geometry import CAMERA_INFO_FIELDS, Intrinsics, InvalidIntrinsics
import cv2
import numpy as np

# Distortion models image_geometry rectifies, with the coefficient counts OpenCV accepts.
PINHOLE_MODELS = ('plumb_bob', 'rational_polynomial', '')
FISHEYE_MODELS = ('equidistant',)
_OPENCV_LENGTHS = (4, 5, 8, 12, 14)
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _floats(values: Sequence[float]) -> Tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))


class CameraModel:
    """
    The geometry depth is computed in, for one camera_info and one `rectify` mode.

    `intrinsics` are P's (K's when P is all zero), at the image's resolution: the geometry of
    the rectified image. `rectifies` says whether frames are warped into it first: `auto`
    rectifies when D is non-zero or R is a rotation, `off` takes the image as already
    rectified (the user feeds image_rect). Built from a message whose values are checked:
    InvalidIntrinsics names what is wrong.
    """

    def __init__(self, intrinsics: Intrinsics, mode: str, distortion_model: str = '',
                 d: Sequence[float] = (), k: Sequence[float] = (), r: Sequence[float] = (),
                 p: Sequence[float] = (), raw: Optional[Intrinsics] = None) -> None:
        if mode not in RECTIFY_MODES:
            raise ValueError(f'rectify: must be one of {RECTIFY_MODES}, got {mode!r}')
        self.intrinsics, self.mode = intrinsics, mode
        self.distortion_model = distortion_model
        self.d, self.k, self.r, self.p = _floats(d), _floats(k), _floats(r), _floats(p)
        self._raw = raw
        self._maps: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self.distorted = any(v != 0.0 for v in self.d)
        self.rotated = any(v != 0.0 for v in self.r) and self.r != _IDENTITY
        self.rectifies = mode == 'auto' and (self.distorted or self.rotated)
        if self.rectifies:
            self._check_rectifiable()

    @classmethod
    def from_camera_info_msg(cls, msg: Any, mode: str = 'auto') -> 'CameraModel':
        """Model of a sensor_msgs/CameraInfo (rclpy's or rosbags', duck-typed)."""
        roi = msg.roi
        return cls.from_camera_info(
            msg.k, msg.p, msg.width, msg.height, d=msg.d, r=msg.r,
            distortion_model=msg.distortion_model, binning_x=msg.binning_x,
            binning_y=msg.binning_y, roi=(roi.x_offset, roi.y_offset, roi.width, roi.height),
            mode=mode)

    @classmethod
    def from_camera_info(cls, k: Sequence[float], p: Sequence[float], width: int, height: int,
                         d: Sequence[float] = (), r: Sequence[float] = (),
                         distortion_model: str = 'plumb_bob', binning_x: int = 0,
                         binning_y: int = 0, roi: Optional[Tuple[int, int, int, int]] = None,
                         mode: str = 'auto') -> 'CameraModel':
        """Build the model; binning and ROI shrink both matrices, as PinholeCameraModel does."""
        size = {'width': width, 'height': height, 'binning_x': binning_x,
                'binning_y': binning_y, 'roi': roi}
        intr = Intrinsics.from_camera_info(k, p, **size)
        for name, values in (('D', d), ('R', r), ('K', k)):
            if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
                raise InvalidIntrinsics(f'camera_info {name} holds non-finite values '
                                        f'{list(values)}')
        model = cls(intr, mode, str(distortion_model), d, k, r, p)
        if model.rectifies:  # the raw image's own matrix: K at the image's resolution
            model._raw = Intrinsics.from_camera_info(k, [0.0] * 12, **size)
        return model

    def _check_rectifiable(self) -> None:
        n = len(self.d)
        if self.distortion_model in FISHEYE_MODELS:
            if n < 4:
                raise InvalidIntrinsics(f'camera_info D has {n} coefficients; '
                                        f'{self.distortion_model} needs 4')
        elif self.distortion_model in PINHOLE_MODELS:
            if self.distorted and n not in _OPENCV_LENGTHS:
                raise InvalidIntrinsics(f'camera_info D has {n} coefficients; '
                                        f'{self.distortion_model or "plumb_bob"} needs '
                                        'one of 4, 5, 8, 12, 14')
        else:
            raise InvalidIntrinsics(f'camera_info distortion model '
                                    f'{self.distortion_model!r} cannot be rectified (known: '
                                    f'{", ".join(m for m in PINHOLE_MODELS + FISHEYE_MODELS if m)}'
                                    '); feed a rectified image and set rectify: off')

    def check_image_size(self, width: int, height: int) -> None:
        """Refuse a frame of another size than the camera_info's (InvalidIntrinsics)."""
        self.intrinsics.check_image_size(width, height)

    @property
    def state(self) -> str:
        """Say what happens to frames, for /diagnostics."""
        if self.mode == 'off':
            return 'off: frames are taken as rectified (image_rect)'
        if not self.rectifies:
            return 'auto: not needed (D = 0, R = I)'
        why = f'{self.distortion_model or "plumb_bob"} distortion' if self.distorted \
            else 'R rotation'
        return f'auto: rectifying ({why}) into P'

    def maps(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return the remap tables (rectified pixel -> raw pixel), built once, at image size."""
        if self._maps is None:
            raw, rect = self._raw, self.intrinsics
            k = np.array([[raw.fx, 0, raw.cx], [0, raw.fy, raw.cy], [0, 0, 1]], np.float64)
            p = np.array([[rect.fx, 0, rect.cx], [0, rect.fy, rect.cy], [0, 0, 1]], np.float64)
            r = np.array(self.r if self.rotated else _IDENTITY, np.float64).reshape(3, 3)
            size = (rect.width, rect.height)
            if self.distortion_model in FISHEYE_MODELS:
                d = np.array(self.d[:4], np.float64)
                self._maps = cv2.fisheye.initUndistortRectifyMap(k, d, r, p, size, cv2.CV_16SC2)
            else:
                d = np.array(self.d if self.distorted else (), np.float64)
                self._maps = cv2.initUndistortRectifyMap(k, d, r, p, size, cv2.CV_16SC2)
        return self._maps

    def rectify(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR,
                border: float = 0) -> np.ndarray:
        """
        (H, W[, C]) raw image -> the same in the rectified geometry; unchanged if not needed.

        Pixels that see nothing of the raw image are `border` (0, image_proc's); depth
        targets take INTER_NEAREST and NaN, so that no depth is invented.
        """
        if not self.rectifies:
            return image
        self.intrinsics.check_image_size(image.shape[1], image.shape[0])
        map1, map2 = self.maps()
        return cv2.remap(image, map1, map2, interpolation, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=border)

    def camera_info_fields(self, msg: Any) -> Dict[str, Any]:
        """
        Return the CameraInfo fields published with depth: rectified when frames are.

        Rectified: D all zero (same length and model), K = P's 3x3, R = I, P unchanged;
        size, binning and ROI stay (they describe the image as before).
        """
        fields = {f: getattr(msg, f) for f in CAMERA_INFO_FIELDS}
        if not self.rectifies:
            return fields
        p = list(self.p) if any(v != 0.0 for v in self.p) else \
            [self.k[0], self.k[1], self.k[2], 0.0, self.k[3], self.k[4], self.k[5], 0.0,
             self.k[6], self.k[7], self.k[8], 0.0]
        as_array = np.array  # what rclpy's and rosbags' CameraInfo both take
        fields.update(d=as_array([0.0] * len(self.d), np.float64),
                      k=as_array([p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]],
                                 np.float64),
                      r=as_array(_IDENTITY, np.float64), p=as_array(p, np.float64))
        return fields


def camera_info_key(msg: Any) -> tuple:
    """Return what makes two camera_info messages the same camera: all but the header."""
    roi = msg.roi
    return (int(msg.width), int(msg.height), str(msg.distortion_model), _floats(msg.d),
            _floats(msg.k), _floats(msg.r), _floats(msg.p), int(msg.binning_x),
            int(msg.binning_y), (int(roi.x_offset), int(roi.y_offset), int(roi.width),
                                 int(roi.height), bool(roi.do_rectify)))


class CameraModels:
    """
    The model of the newest camera_info, rebuilt only when the camera_info changes.

    A camera publishes the same camera_info with every frame: the maps must not be rebuilt
    each time. Holds the last key and its model (or the InvalidIntrinsics it raised).
    """

    def __init__(self, mode: str = 'auto') -> None:
        if mode not in RECTIFY_MODES:
            raise ValueError(f'rectify: must be one of {RECTIFY_MODES}, got {mode!r}')
        self.mode = mode
        self._key: Optional[tuple] = None
        self._result: Any = None

    def get(self, msg: Any) -> CameraModel:
        """Return the model of `msg`; raises InvalidIntrinsics for an unusable one."""
        try:
            key = camera_info_key(msg)
        except (TypeError, ValueError, AttributeError) as e:
            raise InvalidIntrinsics(f'camera_info does not hold numbers: {e}') from None
        if key != self._key:
            try:
                self._result = CameraModel.from_camera_info_msg(msg, self.mode)
            except InvalidIntrinsics as e:
                self._result = e
            self._key = key
        if isinstance(self._result, InvalidIntrinsics):
            raise InvalidIntrinsics(str(self._result))
        return self._result
