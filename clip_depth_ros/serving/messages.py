# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth, camera_info and cloud messages of a frame, for any message library.

rclpy's message classes (the node) and rosbags' (the bag tool) have the same fields, so one
function builds each message for both: the caller passes its classes and a function that turns
numpy bytes into the buffer type its library keeps without copying.
"""

from __future__ import annotations

from dataclasses import dataclass
import sys
from typing import Any, Callable, Mapping

from clip_depth_ros.frames import geometry
import numpy as np

BIG_ENDIAN = sys.byteorder == 'big'
# numpy array -> the buffer a message of the caller's library holds (array('B'), ndarray).
ToBuffer = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class MessageTypes:
    """The sensor_msgs Image, CameraInfo, PointCloud2 and PointField classes of one library."""

    Image: Any
    CameraInfo: Any
    PointCloud2: Any
    PointField: Any


def depth_message(types: MessageTypes, header: Any, depth_m: np.ndarray,
                  to_buffer: ToBuffer) -> Any:
    """(H, W) float32 metres (NaN = invalid, +Inf = beyond range) -> 32FC1 Image, native order."""
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    h, w = depth.shape
    return types.Image(header=header, height=h, width=w, encoding='32FC1',
                       is_bigendian=BIG_ENDIAN, step=w * 4, data=to_buffer(depth))


def camera_info_message(types: MessageTypes, header: Any, info: Any) -> Any:
    """
    Copy of CameraInfo `info` under `header` (the depth's), for depth/camera_info.

    `info` is a CameraInfo or a mapping of its fields (a rectified camera's, from
    `CameraModel.camera_info_fields`: numpy arrays, which both libraries take).
    """
    if isinstance(info, Mapping):
        return types.CameraInfo(header=header,
                                **{f: info[f] for f in geometry.CAMERA_INFO_FIELDS})
    return types.CameraInfo(header=header,
                            **{f: getattr(info, f) for f in geometry.CAMERA_INFO_FIELDS})


def cloud_message(types: MessageTypes, header: Any, data: Any, height: int, width: int,
                  with_rgb: bool) -> Any:
    """Packed cloud data (from `geometry`) -> organized PointCloud2, depth_image_proc layout."""
    step = geometry.point_step(with_rgb)
    fields = [types.PointField(name=name, offset=offset, datatype=types.PointField.FLOAT32,
                               count=1)
              for name, offset in geometry.cloud_layout(with_rgb)]
    return types.PointCloud2(header=header, height=height, width=width, fields=fields,
                             is_bigendian=BIG_ENDIAN, point_step=step, row_step=step * width,
                             data=data, is_dense=False)
