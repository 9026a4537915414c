# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How long the depth node's process takes to end after SIGINT or SIGTERM, per state.

python benchmarks/bench_exit.py [--runs 10] [--busy 0 3] [--states loading idle frames cameras]
States: `loading` (the node is in the graph, its model still loading), `idle` (active, no
frames), `frames` (a 640x480 rgb8 camera at 30 Hz, faster than the model: the inference thread
is inside a frame), `cameras` (cameras: [a, b, c], each at 10 Hz). Each run starts the
installed `depth_node` (tiny model, random weights, CPU), brings it to the state, sends the
signal (SIGINT and SIGTERM in turn) and times until the process has exited. `--busy N` runs N
busy-loop processes meanwhile (a loaded machine). Every run must exit 0 with no error line.
Writes benchmarks/results/NAME.json (--name, default exit).
"""

import argparse
import os
from pathlib import Path
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List
import uuid

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', '86')
from bench_node import make_checkpoint, node_command  # noqa: E402, I100
from common import table, write_json  # noqa: E402
import numpy as np  # noqa: E402

FAILURES = ('Traceback', 'ERROR', 'failed', 'Failed')


def one_run(checkpoint: Path, state: str, sig: int, tmp: Path, probe, ex_ctx) -> Dict:
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    ns = f'exit_{uuid.uuid4().hex[:8]}'
    params = [('input_transport', 'raw')]
    cameras = ['a', 'b', 'c'] if state == 'cameras' else ['']
    if state == 'cameras':
        params.append(('cameras', '[a, b, c]'))
    log_path = tmp / f'{ns}.log'
    log = open(log_path, 'w')
    cmd = [c for c in node_command(checkpoint, params, ns) if c not in ('--log-level', 'warn')]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                     reliability=ReliabilityPolicy.RELIABLE)
    pubs, subs, got = [], [], dict.fromkeys(cameras, 0)
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 300
        if state == 'loading':
            while ('depth_node', f'/{ns}') not in probe.get_node_names_and_namespaces():
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.005)
        else:
            for cam in cameras:
                base = f'/{ns}/{cam}' if cam else f'/{ns}'
                pubs.append(probe.create_publisher(Image, f'{base}/image', qos))

                def count(_m, c=cam) -> None:
                    got[c] += 1
                subs.append(probe.create_subscription(Image, f'{base}/depth/image', count, qos))
            while 'listening on' not in log_path.read_text():
                assert time.monotonic() < deadline and proc.poll() is None, \
                    log_path.read_text()
                time.sleep(0.02)
            if state == 'idle':
                time.sleep(0.5)
            else:
                rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
                msg = Image(height=480, width=640, encoding='rgb8', step=640 * 3,
                            data=rgb.tobytes())
                rate = 30.0 if state == 'frames' else 10.0

                def feed() -> None:
                    while not stop.is_set():
                        msg.header.stamp.sec += 1
                        for pub in pubs:
                            pub.publish(msg)
                        time.sleep(1 / rate)
                threading.Thread(target=feed, daemon=True).start()
                while min(got.values()) < 3:
                    assert time.monotonic() < deadline and proc.poll() is None, \
                        log_path.read_text()
                    time.sleep(0.01)
        start = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        for p in pubs:
            probe.destroy_publisher(p)
        for s in subs:
            probe.destroy_subscription(s)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    bad = [ln for ln in text.splitlines() if any(f in ln for f in FAILURES)]
    if state == 'loading' and 'loaded ' in text:
        bad.append('(the signal came after loading)')
    return {'state': state, 'signal': signal.Signals(sig).name, 'exit_s': elapsed,
            'code': code, 'error_lines': bad[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=10, help='runs per state and load')
    parser.add_argument('--busy', type=int, nargs='+', default=[0, 3],
                        help='busy-loop processes meanwhile, one pass per value')
    parser.add_argument('--states', nargs='+', default=['loading', 'idle', 'frames', 'cameras'])
    parser.add_argument('--name', default='exit', help='results/NAME.json')
    args = parser.parse_args()
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    ctx = Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    probe = Node('exit_probe', context=ctx)
    ex.add_node(probe)
    threading.Thread(target=ex.spin, daemon=True).start()
    runs: List[Dict] = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint('ViT-T-16-test', Path(tmp))
        for busy in args.busy:
            loops = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
                     for _ in range(busy)]
            try:
                for state in args.states:
                    mine = []
                    for i in range(args.runs):
                        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
                        r = one_run(checkpoint, state, sig, Path(tmp), probe, ctx)
                        r['busy'] = busy
                        print(r, flush=True)
                        mine.append(r)
                    times = [r['exit_s'] for r in mine]
                    rows.append([busy, state, f'{statistics.median(times):.3f}',
                                 f'{max(times):.3f}',
                                 sum(1 for r in mine if r['code'] == 0),
                                 sum(1 for r in mine if r['error_lines'])])
                    runs += mine
            finally:
                for p in loops:
                    p.kill()
                    p.wait()
    ex.shutdown(timeout_sec=2)
    print(table(rows, ['busy', 'state', 'median_s', 'max_s', 'exit_0', 'with_error_line']))
    print(write_json(args.name, {'rows': rows, 'runs': runs}))
    os._exit(0)


if __name__ == '__main__':
    main()
