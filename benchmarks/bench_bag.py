# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
clip-depth-bag throughput: frames per second on a 640x480 MCAP bag of the shipped TUM frames.

python benchmarks/bench_bag.py [--backbone ViT-T-16-test ViT-B-16] [--frames 10]
Writes the input bag with rosbags (image + camera_info), then times `process_bag` (depth,
depth camera_info and xyzrgb points written) end to end, bag I/O included.
"""

import argparse
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, write_json  # noqa: E402, I100


def write_input_bag(path: Path, frames: int) -> None:
    from clip_depth_ros.ros.demo import load_samples, SAMPLES
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    ts = get_typestore(Stores.ROS2_JAZZY)
    t = ts.types
    fx, fy, cx, cy = map(float, (SAMPLES / 'intrinsics.txt').read_text().split())
    samples = load_samples(frames)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        img = writer.add_connection('/camera/image_raw', 'sensor_msgs/msg/Image', typestore=ts)
        inf = writer.add_connection('/camera/camera_info', 'sensor_msgs/msg/CameraInfo',
                                    typestore=ts)
        for i, (stamp, rgb, _) in enumerate(samples):
            header = t['std_msgs/msg/Header'](
                stamp=t['builtin_interfaces/msg/Time'](sec=int(stamp),
                                                       nanosec=int(stamp % 1 * 1e9)),
                frame_id='camera_optical')
            info = t['sensor_msgs/msg/CameraInfo'](
                header=header, height=480, width=640, distortion_model='plumb_bob',
                d=np.zeros(5), k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]),
                r=np.eye(3).ravel(), p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]),
                binning_x=0, binning_y=0,
                roi=t['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                          width=0, do_rectify=False))
            image = t['sensor_msgs/msg/Image'](header=header, height=480, width=640,
                                               encoding='rgb8', is_bigendian=0, step=640 * 3,
                                               data=rgb.ravel())
            ns = int(stamp * 1e9)
            writer.write(inf, ns, ts.serialize_cdr(info, 'sensor_msgs/msg/CameraInfo'))
            writer.write(img, ns + 1, ts.serialize_cdr(image, 'sensor_msgs/msg/Image'))


def main() -> None:
    from clip_depth_ros.bags.depth_writer import process_bag
    from clip_depth_ros.engine.inference import DepthEstimator
    from clip_depth_ros.cli.init import main as init_main
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', nargs='+', default=['ViT-T-16-test', 'ViT-B-16'])
    p.add_argument('--frames', type=int, default=10)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    write_input_bag(tmp / 'input', args.frames)
    results, rows = {'frames': args.frames, 'size': '640x480'}, []
    for backbone in args.backbone:
        ckpt = tmp / f'ckpt-{backbone}'
        assert init_main(['--backbone', backbone, '--out', str(ckpt)]) == 0
        estimator = DepthEstimator.from_checkpoint(ckpt, device='cpu')
        estimator.predict(np.zeros((480, 640, 3), np.uint8))  # warm-up outside the timing
        start = time.perf_counter()
        summary = process_bag(tmp / 'input', tmp / f'out-{backbone}', estimator)
        seconds = time.perf_counter() - start
        fps = summary.frames / seconds
        results[backbone] = {'seconds': seconds, 'frames_per_s': fps,
                             'written': summary.written}
        rows.append([backbone, summary.frames, f'{seconds:.1f}', f'{fps:.2f}'])
    print(table(rows, ['backbone (random weights)', 'frames', 'seconds', 'frames/s']))
    print(f'wrote {write_json("bag_640x480", results)}')


if __name__ == '__main__':
    main()
