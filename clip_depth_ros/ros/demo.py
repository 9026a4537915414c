# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
clip-depth-demo: play the shipped TUM RGB-D frames through the depth node over real DDS.

A player node publishes each frame with its camera_info, the depth node answers, and a recorder
writes inputs and outputs to an MCAP bag; colour-mapped previews and a summary land beside it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import shutil
import threading
import time
from typing import Dict, List, Optional, Sequence

from clip_depth_ros.cli.common import add_debug_option, tool_main, UsageError
from clip_depth_ros.engine.checkpoint import CONFIG_FILE
from clip_depth_ros.engine.output_files import check_not_link, write_atomic
import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / 'data' / 'tum_fr1_rpy'
FRAME_ID = 'openni_rgb_optical_frame'
RECORDED = {'image': 'sensor_msgs/msg/Image', 'camera_info': 'sensor_msgs/msg/CameraInfo',
            'depth/image': 'sensor_msgs/msg/Image',
            'depth/camera_info': 'sensor_msgs/msg/CameraInfo',
            'depth/points': 'sensor_msgs/msg/PointCloud2',
            '/diagnostics': 'diagnostic_msgs/msg/DiagnosticArray'}
SUMMARY = 'summary.json'
# Written first into an --out the demo creates; only a directory holding it is ever reused.
MARKER = '.clip-depth-demo'
# What the demo writes into --out, replaced on the next run; never through a link.
ENTRIES = (MARKER, 'checkpoint', 'bag', 'previews', SUMMARY)


class OfflineError(RuntimeError):
    """Pretrained weights were asked for and cannot be downloaded."""


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-demo (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-demo', description=__doc__)
    p.add_argument('--out', type=Path, default=Path('demo_out'), help='output directory')
    p.add_argument('--checkpoint', type=Path, default=None,
                   help='a trained checkpoint; default: untrained heads on ViT-B-16 (openai)')
    p.add_argument('--tiny', action='store_true',
                   help='use the tiny random-weight ViT-T-16-test (no download; for offline '
                        'machines: exercises the pipeline, the depth means nothing)')
    p.add_argument('--frames', type=int, default=10, help='how many sample frames to play')
    p.add_argument('--device', default='', help='cpu, cuda (default: CUDA if present)')
    p.add_argument('--timeout', type=float, default=120.0, help='seconds to wait per frame')
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def load_samples(count: int):
    """(stamp, rgb, gt depth metres) for the first `count` shipped frames."""
    from clip_depth_ros.frames.image_io import read_depth_png, read_rgb
    rows = [line.split() for line in (SAMPLES / 'associations.txt').read_text().splitlines()
            if line.strip() and not line.startswith('#')]
    if not rows:
        raise FileNotFoundError(f'{SAMPLES}: no sample frames')
    return [(float(r[0]), read_rgb(SAMPLES / r[1]), read_depth_png(SAMPLES / r[3], 5000.0))
            for r in rows[:count]]


def prepare_checkpoint(args: argparse.Namespace) -> Path:
    if args.checkpoint:
        return args.checkpoint
    from clip_depth_ros.cli.init import main as init_main
    target = args.out / 'checkpoint'
    if args.tiny:
        rc = init_main(['--backbone', 'ViT-T-16-test', '--out', str(target), '--force'])
    else:
        from clip_depth_ros.models.backbone import BackboneError, create_clip
        try:  # fetch (or find cached) the real weights before anything else
            create_clip('ViT-B-16', 'openai')
        except BackboneError as e:
            raise OfflineError(
                'offline: the pretrained CLIP weights (ViT-B-16, openai) could not be '
                f'downloaded ({str(e).splitlines()[0][:160]}). Run `clip-depth-demo --tiny` '
                '(or `make demo`) to exercise the pipeline with the tiny random model.') from e
        rc = init_main(['--backbone', 'ViT-B-16', '--pretrained', 'openai', '--out',
                        str(target), '--force'])
    if rc != 0:
        raise RuntimeError(f'could not create a checkpoint in {target}')
    return target


def camera_info_msg(header, width: int, height: int):
    from sensor_msgs.msg import CameraInfo
    fx, fy, cx, cy = map(float, (SAMPLES / 'intrinsics.txt').read_text().split())
    return CameraInfo(header=header, width=width, height=height, distortion_model='plumb_bob',
                      d=[0.2624, -0.9531, -0.0054, 0.0026, 1.1633],
                      k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])


class Recorder:
    """Subscribes to the demo topics (serialized, no deserialization) and writes MCAP."""

    def __init__(self, node, bag_dir: Path) -> None:
        from rclpy.qos import (HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                               ReliabilityPolicy)
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import get_typestore, Stores
        self._typestore = get_typestore(Stores.ROS2_JAZZY)
        self._writer = Writer(bag_dir, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._lock = threading.Lock()
        self.counts: Dict[str, int] = {}
        self.arrivals: Dict[str, Dict[int, float]] = {}
        # As `ros2 bag record` would: match the camera's best effort, the node's reliable.
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20,
                              reliability=ReliabilityPolicy.RELIABLE)
        self.subs = []
        for topic, msgtype in RECORDED.items():
            name = node.resolve_topic_name(topic)
            conn = self._writer.add_connection(name, msgtype, typestore=self._typestore)
            cls = _message_class(msgtype)
            qos = qos_profile_sensor_data if topic in ('image', 'camera_info') else reliable
            self.subs.append(node.create_subscription(
                cls, topic, lambda raw, c=conn, t=topic: self._store(c, t, raw), qos, raw=True))

    def _store(self, conn, topic: str, raw: bytes) -> None:
        now = time.time_ns()
        with self._lock:
            self._writer.write(conn, now, raw)
            self.counts[topic] = self.counts.get(topic, 0) + 1
            if topic in ('depth/image', 'depth/points'):
                stamp = _stamp_of(raw)
                self.arrivals.setdefault(topic, {})[stamp] = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._writer.close()


def _message_class(msgtype: str):
    import importlib
    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def _stamp_of(raw: bytes) -> int:
    # CDR: 4-byte encapsulation header, then header.stamp (int32 sec, uint32 nanosec).
    sec, nanosec = np.frombuffer(raw, dtype='<i4', count=2, offset=4)
    return int(sec) * 1_000_000_000 + int(np.uint32(nanosec))


def run_demo(args: argparse.Namespace) -> dict:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from clip_depth_ros.frames.colormap import colorize_depth
    from clip_depth_ros.frames.image_io import write_rgb_png
    from clip_depth_ros.ros import conversions
    from clip_depth_ros.ros.depth_node import DepthNode

    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    samples = load_samples(args.frames)
    bag_dir = args.out / 'bag'
    if bag_dir.exists():  # from an earlier run: claim_output checked the marker
        shutil.rmtree(bag_dir)
    previews = args.out / 'previews'
    previews.mkdir(parents=True, exist_ok=True)
    checkpoint = prepare_checkpoint(args)

    context = Context()
    rclpy.init(context=context)
    # The node's own executor (rclpy.spin's): rclpy's MultiThreadedExecutor misses keep-last-1
    # frames this one takes (benchmarks/README.md, Delivery: 19 of 30 vs 30 of 30 at 10 Hz).
    executor = SingleThreadedExecutor(context=context)
    try:
        node = DepthNode(context=context, parameter_overrides=[
            Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value=args.device),
            Parameter('diagnostics_period', value=0.5)])
        helper = Node('demo_player', context=context)
        recorder = Recorder(helper, bag_dir)
        image_pub = helper.create_publisher(Image, 'image', qos_profile_sensor_data)
        info_pub = helper.create_publisher(CameraInfo, 'camera_info', qos_profile_sensor_data)
        executor.add_node(node)
        executor.add_node(helper)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        node.autostart()
        if node.estimator is None:
            raise RuntimeError(f'the depth node did not load {checkpoint}: see the log above')
        _wait(lambda: image_pub.get_subscription_count() > 0
              and all(s.get_publisher_count() > 0 for s in recorder.subs[2:5]), 20.0,
              'DDS discovery')
        sent: List[tuple] = []
        for i, (stamp_s, rgb, _) in enumerate(samples):
            header = Header(frame_id=FRAME_ID)
            header.stamp.sec, header.stamp.nanosec = int(stamp_s), int(round(stamp_s % 1 * 1e9))
            stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
            info_pub.publish(camera_info_msg(header, rgb.shape[1], rgb.shape[0]))
            if i == 0:
                _wait(lambda: node.camera_info is not None, 10.0, 'camera_info')
            sent_at = time.monotonic()
            image_pub.publish(conversions.rgb_to_image(rgb, header))
            _wait(lambda: all(stamp_ns in recorder.arrivals.get(t, {})
                              for t in ('depth/image', 'depth/points')), args.timeout,
                  f'depth for frame {i}')
            sent.append((stamp_ns, sent_at))
        time.sleep(0.6)  # one more diagnostics message into the bag
        latencies = {t: [(recorder.arrivals[t][s] - at) * 1e3 for s, at in sent]
                     for t in ('depth/image', 'depth/points')}
        inference = node.compute_ms.summary()
        model = node.estimator.model_name
        node.stop_inputs()
    finally:
        executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown(context=context)
    recorder.close()

    depth_by_stamp = _read_depths(bag_dir)
    errors = []
    for stamp_s, rgb, gt in samples:
        stamp_ns = int(stamp_s) * 1_000_000_000 + int(round(stamp_s % 1 * 1e9))
        depth = depth_by_stamp[stamp_ns]
        # Scale each preview to its own range: an untrained model's depth is nearly flat.
        near, far = np.nanpercentile(depth, [2, 98])
        view = colorize_depth(depth, float(near), float(max(far, near + 1e-3)))
        write_atomic(previews / f'{stamp_s:.6f}.png',
                     lambda tmp: write_rgb_png(tmp, np.hstack([rgb, view])))
        valid = (gt > 0) & np.isfinite(depth)
        errors.append(float(np.mean(np.abs(depth[valid] - gt[valid]) / gt[valid])))
    summary = {
        'frames': len(samples), 'model': model, 'checkpoint': str(checkpoint),
        'bag': str(bag_dir), 'previews': str(previews), 'recorded_messages': recorder.counts,
        'compute_ms': inference,
        'latency_ms': {t: {'median': float(np.median(v)), 'max': float(np.max(v))}
                       for t, v in latencies.items()},
        'abs_rel_vs_tum_ground_truth': float(np.mean(errors)),
    }
    write_atomic(args.out / SUMMARY, json.dumps(summary, indent=2) + '\n')
    return summary


def _read_depths(bag_dir: Path) -> Dict[int, np.ndarray]:
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import get_typestore, Stores
    typestore = get_typestore(Stores.ROS2_JAZZY)
    out = {}
    with Reader(bag_dir) as reader:
        conns = [c for c in reader.connections if c.topic == '/depth/image']
        for conn, _, raw in reader.messages(connections=conns):
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            out[stamp] = np.frombuffer(msg.data.tobytes(), np.float32).reshape(msg.height,
                                                                               msg.width)
    return out


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(0.005)


def claim_output(out: Path) -> None:
    """
    Make `out` the demo's, or refuse: it must be new, empty, or marked by an earlier run.

    The demo replaces its own checkpoint, bag and previews on a second run; the marker is
    what tells its directory from a user's. A link among them is refused: the demo would
    write (a checkpoint, a bag) wherever it points.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f'{out}: not a directory')
    for name in ENTRIES:
        check_not_link(out / name)
    if out.is_dir() and (out / MARKER).is_file():
        return
    if out.is_dir() and any(out.iterdir()):
        what = 'a checkpoint directory' if (out / CONFIG_FILE).exists() else 'not empty'
        raise UsageError(f'{out}: {what} and not created by clip-depth-demo; refusing to '
                         'write into it (give a new or empty --out)')
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / MARKER, 'created by clip-depth-demo: the next run may replace '
                 'checkpoint/, bag/, previews/ and summary.json here\n')


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    claim_output(args.out)
    try:
        summary = run_demo(args)
    except OfflineError as e:
        print(str(e))
        return 2
    lat = summary['latency_ms']
    print(f"demo: {summary['frames']} TUM fr1_rpy frames through depth_node "
          f"({summary['model']}, {summary['checkpoint']})")
    print(f"  model + cloud median {summary['compute_ms'].get('median_ms', float('nan')):.1f} ms; "
          f"publish -> depth received median {lat['depth/image']['median']:.1f} ms, "
          f"-> cloud {lat['depth/points']['median']:.1f} ms")
    print(f"  AbsRel vs TUM ground truth: {summary['abs_rel_vs_tum_ground_truth']:.3f} "
          '(untrained heads unless --checkpoint names a trained model)')
    print(f"  bag: {summary['bag']}  previews: {summary['previews']}  "
          f'summary: {args.out / SUMMARY}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
