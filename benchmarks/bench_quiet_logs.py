# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Log lines the depth node's process prints per 300 malformed messages of each kind.

python benchmarks/bench_quiet_logs.py [--count 300] [--gap-ms 10] [--name quiet_logs]
One node process (tiny model, random weights, CPU) per transport; for each bad kind, 300
messages are sent 10 ms apart after a good frame has been answered, then a good frame again
(the node still serves). Counted: every line the process wrote to stdout/stderr during the
burst ('lines'), those not from the node's own logger ('library_lines'), and how many of the
messages the node handled ('handled': the kind's count on /diagnostics; the inference thread
takes only the newest frame, so a few may be replaced before it looks). Writes
benchmarks/results/NAME.json.
"""

import argparse
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / 'test'))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', '86')
from bench_node import make_checkpoint, node_command  # noqa: E402, I100
from bombs import png_header_only  # noqa: E402
from common import table, write_json  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

H, W = 48, 64
OWN_LINE = re.compile(r'^\[(DEBUG|INFO|WARN|ERROR|FATAL)\] \[[0-9.]+\] \[depth_node\]')


def good_image():
    from sensor_msgs.msg import Image
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)
    msg = Image(height=H, width=W, encoding='rgb8', step=W * 3, data=rgb.tobytes())
    msg.header.frame_id = 'cam'
    return msg


def camera_info(d_len: int = 5):
    from sensor_msgs.msg import CameraInfo
    return CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=[0.0] * d_len,
                      k=[50.0, 0, W / 2, 0, 50.0, H / 2, 0, 0, 1.0],
                      p=[50.0, 0, W / 2, 0, 0, 50.0, H / 2, 0, 0, 0, 1.0, 0])


def lying_d(data: bytes) -> bytes:
    """Make a serialized CameraInfo claim 2^28 doubles in its D sequence."""
    at = data.index(b'plumb_bob\x00') + 10
    at += -(at - 4) % 4  # CDR aligns the length to 4 (padding bytes are arbitrary)
    return data[:at] + (1 << 28).to_bytes(4, 'little') + data[at + 4:]


def bad_kinds(rng) -> Dict[str, Tuple[str, str, Callable[[int], bytes]]]:
    """{kind: (transport, topic, message i -> serialized bytes or CompressedImage data)}."""
    from rclpy.serialization import serialize_message
    image = serialize_message(good_image())
    info = serialize_message(camera_info())
    png = cv2.imencode('.png', rng.integers(0, 256, (H, W, 3), np.uint8))[1].tobytes()
    jpeg = cv2.imencode('.jpg', rng.integers(0, 256, (H, W, 3), np.uint8))[1].tobytes()
    wide = png_header_only(16_777_216, 1)
    return {
        'image_truncated_cdr': ('raw', 'image',
                                lambda i: image[:int(rng.integers(60, len(image) - 1))]),
        'camera_info_lying_d': ('raw', 'camera_info', lambda i: lying_d(info)),
        'camera_info_garbage': ('raw', 'camera_info',
                                lambda i: rng.bytes(int(rng.integers(1, 400)))),
        'png_truncated': ('compressed', 'png',
                          lambda i: png[:int(rng.integers(40, len(png) - 12))]),
        'png_16777216x1': ('compressed', 'png', lambda i: wide),
        'jpeg_truncated': ('compressed', 'jpeg',
                           lambda i: jpeg[:int(rng.integers(len(jpeg) // 3, len(jpeg) - 2))]),
    }


def run_transport(checkpoint: Path, transport: str, kinds, count: int, gap_s: float,
                  tmp: Path) -> Dict[str, Dict[str, int]]:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import serialize_message
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    import threading
    log_path = tmp / f'{transport}.log'
    log = open(log_path, 'w')
    cmd = node_command(checkpoint, [('input_transport', transport), ('diagnostics_period', 0.5)])
    cmd = [c for c in cmd if c not in ('--log-level', 'warn')]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    ctx = Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    probe = Node('quiet_probe', context=ctx)
    ex.add_node(probe)
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                     reliability=ReliabilityPolicy.RELIABLE)
    topic = 'image/compressed' if transport == 'compressed' else 'image'
    img_pub = probe.create_publisher(CompressedImage if transport == 'compressed' else Image,
                                     topic, qos)
    info_pub = probe.create_publisher(CameraInfo, 'camera_info', qos)
    depth_stamps: List[int] = []
    counts: Dict[str, int] = {}
    probe.create_subscription(Image, 'depth/image',
                              lambda m: depth_stamps.append(m.header.stamp.sec), qos)

    def on_diag(array) -> None:
        for st in array.status:
            for kv in st.values:
                if kv.key == 'problem_counts' and kv.value:
                    for part in kv.value.split(', '):
                        key, n = part.rsplit(': ', 1)
                        counts[key] = max(counts.get(key, 0), int(n))
    probe.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    threading.Thread(target=ex.spin, daemon=True).start()
    png = cv2.imencode('.png', np.zeros((H, W, 3), np.uint8))[1].tobytes()
    sec = [0]

    def good_answered(limit: float) -> None:
        sec[0] += 1
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if transport == 'compressed':
                msg = CompressedImage(format='png', data=png)
            else:
                msg = good_image()
            msg.header.stamp.sec = sec[0]
            img_pub.publish(msg)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                if sec[0] in depth_stamps:
                    return
                time.sleep(0.01)
        raise RuntimeError(f'no depth within {limit} s:\n' + log_path.read_text()[-2000:])

    results = {}
    try:
        info_pub.publish(camera_info())
        good_answered(180.0)
        for kind, (_, target, make) in kinds.items():
            before_counts = dict(counts)
            lines_before = len(log_path.read_text().splitlines())
            for i in range(count):
                data = make(i)
                if target == 'camera_info':
                    info_pub.publish(data)
                elif transport == 'compressed':
                    msg = CompressedImage(format=target, data=data)
                    sec[0] += 1
                    msg.header.stamp.sec = sec[0]
                    img_pub.publish(msg)
                else:
                    img_pub.publish(data)
                time.sleep(gap_s)
            info_pub.publish(camera_info())
            good_answered(60.0)
            time.sleep(1.2)  # two more diagnostics periods
            lines = log_path.read_text().splitlines()[lines_before:]
            handled = sum(n - before_counts.get(k, 0) for k, n in counts.items())
            results[kind] = {'lines': len(lines),
                             'library_lines': sum(1 for ln in lines if not OWN_LINE.match(ln)),
                             'handled': handled, 'sample': lines[:3]}
            print(kind, results[kind], flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        ex.shutdown(timeout_sec=2)
        probe.destroy_node()
        rclpy.try_shutdown(context=ctx)
    _ = serialize_message
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--count', type=int, default=300, help='bad messages per kind')
    parser.add_argument('--gap-ms', type=float, default=10.0, help='pause between them')
    parser.add_argument('--kinds', nargs='*', help='only these kinds (default: all)')
    parser.add_argument('--name', default='quiet_logs', help='results/NAME.json')
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    kinds = bad_kinds(rng)
    if args.kinds:
        kinds = {k: v for k, v in kinds.items() if k in args.kinds}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint('ViT-T-16-test', Path(tmp))
        for transport in ('raw', 'compressed'):
            mine = {k: v for k, v in kinds.items() if v[0] == transport}
            if mine:
                results.update(run_transport(checkpoint, transport, mine, args.count,
                                             args.gap_ms / 1e3, Path(tmp)))
    print(table([[k, r['lines'], r['library_lines'], r['handled']] for k, r in results.items()],
                ['kind', 'lines', 'library_lines', 'handled']))
    print(write_json(args.name, {'count': args.count, 'gap_ms': args.gap_ms,
                                 'results': results}))


if __name__ == '__main__':
    main()
