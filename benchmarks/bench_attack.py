# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A well-behaved camera's depth rate next to a camera sending costly corrupt frames.

python benchmarks/bench_attack.py [--seconds 30] [--name attack]
One depth node process (tiny model, random weights, CPU, `cameras: [a, b, c]`, compressed
transport). Cameras b and c send 640x480 JPEGs at 10 Hz. In the `attack` phase camera a also
sends corrupt 4096x4096 frames at 3 Hz, in turn: a JPEG cut in half, and a PNG whose image data
is half garbage with correct chunk CRCs (it fails only while inflating). Counted: depth images
published for c (and b) per second over `--seconds`, without and with the attacker, and the
node's peak RSS. Writes benchmarks/results/NAME.json.
"""

import argparse
import os
from pathlib import Path
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', '86')
from bench_node import make_checkpoint, node_command  # noqa: E402, I100
from common import table, write_json  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

SIDE = 4096


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def attack_frames():
    """Make a truncated 4096^2 JPEG and a 4096^2 PNG of half-garbage data with valid CRCs."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    img = np.stack([(x // 16) % 256, (y // 16) % 256, ((x + y) // 32) % 256], -1)
    img = (img + rng.integers(0, 8, img.shape)).astype(np.uint8)
    jpeg = cv2.imencode('.jpg', img)[1].tobytes()
    png = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()
    pos, idat = 8, []
    ihdr = b''
    while pos < len(png):
        (length,) = struct.unpack('>I', png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        body = png[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            ihdr = body
        elif kind == b'IDAT':
            idat.append(body)
        pos += 12 + length
    stream = b''.join(idat)
    stream = stream[:len(stream) // 2] + rng.bytes(len(stream) - len(stream) // 2)
    bad_png = (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr) + _chunk(b'IDAT', stream)
               + _chunk(b'IEND', b''))
    return jpeg[:len(jpeg) // 2], bad_png


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=30.0, help='counted per phase')
    parser.add_argument('--name', default='attack', help='results/NAME.json')
    args = parser.parse_args()
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image
    bad_jpeg, bad_png = attack_frames()
    rng = np.random.default_rng(1)
    good = cv2.imencode('.jpg', rng.integers(0, 256, (480, 640, 3), np.uint8))[1].tobytes()
    ctx = Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    probe = Node('attack_probe', context=ctx)
    ex.add_node(probe)
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                     reliability=ReliabilityPolicy.RELIABLE)
    pubs = {c: probe.create_publisher(CompressedImage, f'/{c}/image/compressed', qos)
            for c in 'abc'}
    got = dict.fromkeys('bc', 0)
    for c in 'bc':
        probe.create_subscription(Image, f'/{c}/depth/image',
                                  lambda _m, c=c: got.__setitem__(c, got[c] + 1), qos)
    threading.Thread(target=ex.spin, daemon=True).start()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint('ViT-T-16-test', Path(tmp))
        cmd = node_command(checkpoint, [('cameras', '[a, b, c]'),
                                        ('input_transport', 'compressed'),
                                        ('camera_info_wait', 0.0)])
        proc = subprocess.Popen(cmd)
        stop = threading.Event()
        attacking = threading.Event()

        def cameras() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                for c in 'bc':
                    msg = CompressedImage(format='jpeg', data=good)
                    msg.header.stamp.sec = n
                    pubs[c].publish(msg)
                time.sleep(0.1)

        def attacker() -> None:
            n = 0
            while not stop.is_set():
                if attacking.is_set():
                    n += 1
                    data, fmt = (bad_jpeg, 'jpeg') if n % 2 else (bad_png, 'png')
                    msg = CompressedImage(format=fmt, data=data)
                    msg.header.stamp.sec = n
                    pubs['a'].publish(msg)
                time.sleep(1 / 3)
        threads = [threading.Thread(target=f, daemon=True) for f in (cameras, attacker)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 300
            while min(got.values()) < 5:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
            for phase in ('alone', 'attack'):
                if phase == 'attack':
                    attacking.set()
                    time.sleep(2.0)
                start = {c: got[c] for c in got}
                time.sleep(args.seconds)
                results[phase] = {f'{c}_hz': (got[c] - start[c]) / args.seconds for c in got}
                results[phase]['vmhwm_mb'] = vm_kb(proc.pid, 'VmHWM') / 1024
                print(phase, results[phase], flush=True)
        finally:
            stop.set()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    ratio = results['attack']['c_hz'] / results['alone']['c_hz']
    print(table([[p, f"{r['b_hz']:.2f}", f"{r['c_hz']:.2f}", f"{r['vmhwm_mb']:.0f}"]
                 for p, r in results.items()], ['phase', 'b_hz', 'c_hz', 'vmhwm_mb']))
    print(f'c with / without the attacker: {ratio:.2f}')
    print(write_json(args.name, {'seconds': args.seconds, 'results': results,
                                 'victim_ratio': ratio, 'jpeg_bytes': len(bad_jpeg),
                                 'png_bytes': len(bad_png)}))
    os._exit(0)


if __name__ == '__main__':
    main()
