# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write RGB-D frames as a rosbag2 bag laid out like a RealSense recording with aligned depth.

`python -m clip_depth_ros.cli.rgbd_bag TUM_FOLDER OUT_BAG` turns a TUM RGB-D sequence (such as
the shipped sample frames) into a bag for trying the bag dataset without a camera; the tests
use `write_rgbd_bag` to build their bags. Topics: /camera/color/image_raw (or .../compressed),
/camera/color/camera_info, /camera/aligned_depth_to_color/image_raw (+ its camera_info).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple

from clip_depth_ros.cli.common import add_debug_option, tool_main
from clip_depth_ros.engine.output_files import building, check_output
import numpy as np

COLOR = '/camera/color/image_raw'
COLOR_INFO = '/camera/color/camera_info'
DEPTH = '/camera/aligned_depth_to_color/image_raw'
DEPTH_INFO = '/camera/aligned_depth_to_color/camera_info'
Camera = Tuple[float, float, float, float]  # fx, fy, cx, cy


@dataclass
class RgbdFrame:
    """One colour frame and its depth frame (metres, 0 = none); either may be None."""

    stamp_ns: int
    rgb: Optional[np.ndarray]
    depth_stamp_ns: int
    depth_m: Optional[np.ndarray]


def write_rgbd_bag(path: Path, frames: Iterable[RgbdFrame], camera: Camera,
                   storage: str = 'mcap', compressed: bool = False,
                   depth_encoding: str = '16UC1', depth_camera: Optional[Camera] = None,
                   frame_id: str = 'camera_color_optical_frame', poses=None,
                   distortion: Sequence[float] = ()) -> Path:
    """
    Write `frames` to a new bag at `path`; camera_info with each colour frame.

    `distortion`: the camera_info's plumb_bob D (default none: a rectified camera).

    `poses` (a temporal.PoseTrack of world-from-optical-frame poses) adds /tf as a driver and
    a localiser publish it: world -> camera_link moving, camera_link -> `frame_id` static.
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    if depth_encoding not in ('16UC1', '32FC1'):
        raise ValueError(f'depth encoding must be 16UC1 or 32FC1, got {depth_encoding!r}')
    path = check_output(path, overwrite=None)
    ts = get_typestore(Stores.ROS2_JAZZY)
    t = ts.types
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    color_type = 'sensor_msgs/msg/' + ('CompressedImage' if compressed else 'Image')
    image_type, info_type = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo'

    def header(stamp: int):
        return t['std_msgs/msg/Header'](
            stamp=t['builtin_interfaces/msg/Time'](sec=stamp // 10**9, nanosec=stamp % 10**9),
            frame_id=frame_id)

    def info(stamp: int, cam: Camera, h: int, w: int):
        fx, fy, cx, cy = cam
        return t[info_type](
            header=header(stamp), height=h, width=w, distortion_model='plumb_bob',
            d=np.array(list(distortion) or [0.0] * 5, np.float64),
            k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64),
            r=np.eye(3).ravel(), p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0],
                                            np.float64),
            binning_x=0, binning_y=0,
            roi=t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                      width=0, do_rectify=False))

    with building(path) as work, Writer(work, version=9, storage_plugin=plugin) as writer:
        color = writer.add_connection(COLOR + ('/compressed' if compressed else ''), color_type,
                                      typestore=ts)
        color_info = writer.add_connection(COLOR_INFO, info_type, typestore=ts)
        depth = writer.add_connection(DEPTH, image_type, typestore=ts)
        depth_info = writer.add_connection(DEPTH_INFO, info_type, typestore=ts)
        if poses is not None and len(poses):
            _write_tf(writer, ts, poses, frame_id)
        for f in frames:
            if f.rgb is not None:
                h, w = f.rgb.shape[:2]
                if compressed:
                    data = cv2.imencode('.jpg', f.rgb[:, :, ::-1],
                                        [cv2.IMWRITE_JPEG_QUALITY, 95])[1].ravel()
                    msg = t[color_type](header=header(f.stamp_ns), format='jpeg', data=data)
                else:
                    msg = t[color_type](header=header(f.stamp_ns), height=h, width=w,
                                        encoding='rgb8', is_bigendian=0, step=w * 3,
                                        data=np.ascontiguousarray(f.rgb).ravel())
                writer.write(color_info, f.stamp_ns,
                             ts.serialize_cdr(info(f.stamp_ns, camera, h, w), info_type))
                writer.write(color, f.stamp_ns, ts.serialize_cdr(msg, color_type))
            if f.depth_m is not None:
                h, w = f.depth_m.shape
                if depth_encoding == '16UC1':
                    values = np.clip(np.rint(np.nan_to_num(f.depth_m, nan=0, posinf=0,
                                                           neginf=0) * 1000), 0, 65535)
                    buf, step = values.astype('<u2'), w * 2
                else:
                    buf, step = f.depth_m.astype('<f4'), w * 4
                msg = t[image_type](header=header(f.depth_stamp_ns), height=h, width=w,
                                    encoding=depth_encoding, is_bigendian=0, step=step,
                                    data=np.frombuffer(buf.tobytes(), np.uint8))
                writer.write(depth_info, f.depth_stamp_ns, ts.serialize_cdr(
                    info(f.depth_stamp_ns, depth_camera or camera, h, w), info_type))
                writer.write(depth, f.depth_stamp_ns, ts.serialize_cdr(msg, image_type))
    return path


# camera_link (x forward, y left, z up) from the optical frame (x right, y down, z forward).
LINK_FROM_OPTICAL = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]])


def _write_tf(writer, ts, poses, frame_id: str) -> None:
    from clip_depth_ros.train.temporal import matrix_quaternion, quaternion_matrix
    t = ts.types
    tf_type = 'tf2_msgs/msg/TFMessage'

    def stamped(stamp: int, parent: str, child: str, pose: np.ndarray):
        q = matrix_quaternion(pose[:3, :3])
        return t['geometry_msgs/msg/TransformStamped'](
            header=t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](
                sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=parent),
            child_frame_id=child,
            transform=t['geometry_msgs/msg/Transform'](
                translation=t['geometry_msgs/msg/Vector3'](x=pose[0, 3], y=pose[1, 3],
                                                           z=pose[2, 3]),
                rotation=t['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3])))

    static = writer.add_connection('/tf_static', tf_type, typestore=ts)
    moving = writer.add_connection('/tf', tf_type, typestore=ts)
    first = poses.stamps_ns[0]
    writer.write(static, first, ts.serialize_cdr(t[tf_type](transforms=[stamped(
        first, 'camera_link', frame_id, LINK_FROM_OPTICAL)]), tf_type))
    optical_from_link = np.linalg.inv(LINK_FROM_OPTICAL)
    for stamp, position, quat in zip(poses.stamps_ns, poses.positions, poses.quaternions):
        world_from_optical = np.eye(4)
        world_from_optical[:3, :3] = quaternion_matrix(quat)
        world_from_optical[:3, 3] = position
        writer.write(moving, stamp, ts.serialize_cdr(t[tf_type](transforms=[stamped(
            stamp, 'world', 'camera_link', world_from_optical @ optical_from_link)]), tf_type))


def tum_frames(root: Path, count: int = 0) -> Iterable[RgbdFrame]:
    """Yield the frames of a TUM RGB-D folder, depth in metres (PNG / 5000)."""
    from clip_depth_ros.train.datasets import TumDataset
    data = TumDataset(Path(root))
    for i in range(min(count, len(data)) if count else len(data)):
        item = data[i]
        yield RgbdFrame(item['stamp_ns'], item['image'], item['depth_stamp_ns'], item['depth'])


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of the rgbd_bag tool (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='python -m clip_depth_ros.cli.rgbd_bag',
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('source', type=Path, help='TUM RGB-D folder (associations.txt or rgb.txt '
                   '+ depth.txt)')
    p.add_argument('out', type=Path, help='bag directory to create')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                   help='rosbag2 storage of the bag')
    p.add_argument('--compressed', action='store_true', help='JPEG colour (CompressedImage)')
    p.add_argument('--depth-encoding', choices=('16UC1', '32FC1'), default='16UC1',
                   help='depth as 16UC1 millimetres (as RealSense) or 32FC1 metres')
    p.add_argument('--intrinsics', type=float, nargs=4, metavar=('FX', 'FY', 'CX', 'CY'),
                   help='colour camera (default: SOURCE/intrinsics.txt)')
    p.add_argument('--frames', type=int, default=0, help='only the first N frames')
    p.add_argument('--poses', type=Path, default=None,
                   help='TUM trajectory to publish as /tf (e.g. SOURCE/groundtruth.txt)')
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.train.datasets import read_intrinsics_txt
    args = parse_args(argv)
    check_output(args.out, [args.source, args.poses], overwrite=None)
    camera = tuple(args.intrinsics) if args.intrinsics else read_intrinsics_txt(
        args.source / 'intrinsics.txt', required=True)
    poses = None
    if args.poses is not None:
        from clip_depth_ros.train.temporal import read_tum_poses
        poses = read_tum_poses(args.poses)
    write_rgbd_bag(args.out, tum_frames(args.source, args.frames), camera, args.storage,
                   args.compressed, args.depth_encoding, poses=poses)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
