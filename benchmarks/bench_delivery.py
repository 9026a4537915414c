# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Frames delivered to the depth node from a camera in another process (target: none lost).

python benchmarks/bench_delivery.py [--rates 2 10] [--frames 20 30] [--executors single multi]
For each camera reliability (reliable, best_effort), node `input_qos` (sensor_data: the fixed
best-effort subscription of the node before `auto`; auto: now) and rate: the depth node (tiny
model, random weights, its defaults otherwise) in a process of its own, a 640x480 rgb8 camera
in another (test/camera_publisher.py: keep last 5, as drivers publish), default Fast DDS and no
profile file. Frames counted by the node itself (`frames_received` on /diagnostics) after 3
warm-up frames. Executors: `single` is the shipped `depth_node` executable (rclpy.spin);
`multi` runs the same node under rclpy's MultiThreadedExecutor(4), as the test harness did.
DDS stays on this machine (LOCALHOST; ROS_DOMAIN_ID as set, 86 otherwise). Writes
benchmarks/results/NAME.json (--name, default delivery).
"""

import argparse
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', '86')
from bench_node import make_checkpoint, node_command  # noqa: E402, I100
from common import table, write_json  # noqa: E402

CAMERA = REPO / 'test' / 'camera_publisher.py'
WARMUP = 3  # frames at 10 Hz before counting: the model's first frames are slow


def multi_executor_node(checkpoint: Path, input_qos: str, namespace: str) -> None:
    """Child process: the depth node under rclpy's MultiThreadedExecutor(4)."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from clip_depth_ros.ros.depth_node import DepthNode
    rclpy.init()
    node = DepthNode(namespace=namespace, parameter_overrides=[
        Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value='cpu'),
        Parameter('input_qos', value=input_qos), Parameter('diagnostics_period', value=0.5)])
    node.autostart()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    executor.spin()


class Diagnostics:
    """The newest values of every depth status on /diagnostics, by status name."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        rclpy.init()
        self.node = rclpy.create_node('bench_delivery')
        self.latest: Dict[str, Dict[str, str]] = {}
        self._lock = threading.Lock()
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._store, 50)
        executor = SingleThreadedExecutor()
        executor.add_node(self.node)
        threading.Thread(target=executor.spin, daemon=True).start()

    def _store(self, msg) -> None:
        with self._lock:
            for st in msg.status:
                values = {kv.key: kv.value for kv in st.values}
                values['_received'] = str(time.monotonic())
                self.latest[st.name] = values

    def get(self, name: str) -> Dict[str, str]:
        with self._lock:
            return dict(self.latest.get(name, {}))

    def wait(self, name: str, predicate, timeout: float) -> Dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.get(name)
            if values and predicate(values):
                return values
            time.sleep(0.05)
        raise TimeoutError(f'{name}: no matching status within {timeout:.0f} s: {self.get(name)}')

    def fresh(self, name: str) -> Dict[str, str]:
        """Return a status published after this call (the node publishes every 0.5 s)."""
        now = time.monotonic()
        return self.wait(name, lambda v: float(v['_received']) > now, 10.0)


def read_line(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    out: List[str] = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not out or not out[0]:
        raise TimeoutError(f'no answer from {CAMERA.name} in {timeout:.0f} s')
    return out[0].strip()


def run_case(diag: Diagnostics, checkpoint: Path, index: int, executor: str, input_qos: str,
             reliability: str, rate_hz: float, frames: int) -> Dict[str, object]:
    namespace = f'delivery{index}'
    if executor == 'single':
        node_cmd = node_command(checkpoint, [('input_qos', input_qos),
                                             ('diagnostics_period', 0.5)], namespace)
    else:
        node_cmd = [sys.executable, __file__, '--phase', 'multi-node', '--checkpoint',
                    str(checkpoint), '--input-qos', input_qos, '--namespace', f'/{namespace}']
    name = f'/{namespace}/depth_node: depth'
    node = subprocess.Popen(node_cmd, stdout=subprocess.DEVNULL)
    camera = None
    try:
        diag.wait(name, lambda v: v.get('lifecycle_state') == 'active', 120.0)
        camera = subprocess.Popen(
            [sys.executable, str(CAMERA), f'/{namespace}', reliability,
             f'10:{WARMUP},{rate_hz:g}:{frames}'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        if read_line(camera) != 'ready':
            raise RuntimeError(f'{CAMERA.name} did not start')
        expected = 'reliable' if input_qos == 'auto' and reliability == 'reliable' \
            else 'best_effort'
        diag.wait(name, lambda v: v.get('input_qos') == expected, 30.0)
        time.sleep(1.0)  # the (re-)subscription matches the camera
        counts = []
        for count in (WARMUP, frames):
            before = int(diag.fresh(name)['frames_received'])
            camera.stdin.write('go\n')
            camera.stdin.flush()
            read_line(camera, 60.0 + count / rate_hz)
            try:  # reliable frames may still be on their way: up to 4 s more
                diag.wait(name, lambda v: int(v['frames_received']) - before >= count, 4.0)
            except TimeoutError:
                pass
            counts.append(int(diag.fresh(name)['frames_received']) - before)
        return {'executor': executor, 'input_qos': input_qos, 'camera': reliability,
                'rate_hz': rate_hz, 'sent': frames, 'received': counts[1],
                'subscribed': expected}
    except (TimeoutError, RuntimeError) as e:
        return {'executor': executor, 'input_qos': input_qos, 'camera': reliability,
                'rate_hz': rate_hz, 'sent': frames, 'failed': str(e)}
    finally:
        if camera is not None:
            try:
                camera.stdin.write('stop\n')
                camera.stdin.flush()
                camera.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                camera.kill()
        node.terminate()
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rates', type=float, nargs='+', default=[2.0, 10.0])
    p.add_argument('--frames', type=int, nargs='+', default=[20, 30],
                   help='frames sent at each rate (one number per rate)')
    p.add_argument('--executors', nargs='+', choices=('single', 'multi'),
                   default=['single', 'multi'])
    p.add_argument('--input-qos', nargs='+', choices=('sensor_data', 'auto'),
                   default=['sensor_data', 'auto'])
    p.add_argument('--cameras', nargs='+', choices=('reliable', 'best_effort'),
                   default=['reliable', 'best_effort'])
    p.add_argument('--name', default='delivery', help='results/NAME.json')
    p.add_argument('--phase', choices=('multi-node',), help=argparse.SUPPRESS)
    p.add_argument('--checkpoint', type=Path, help=argparse.SUPPRESS)
    p.add_argument('--namespace', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase == 'multi-node':
        multi_executor_node(args.checkpoint, args.input_qos[0], args.namespace)
        return
    if len(args.frames) != len(args.rates):
        p.error('--frames needs one count per rate')
    checkpoint = make_checkpoint('ViT-T-16-test', Path(tempfile.mkdtemp()))
    diag = Diagnostics()
    results, rows = [], []
    cases = [(e, q, c, r, n) for e in args.executors for q in args.input_qos
             for c in args.cameras for r, n in zip(args.rates, args.frames)]
    for index, case in enumerate(cases):
        result = run_case(diag, checkpoint, index, *case)
        results.append(result)
        got = result.get('received', result.get('failed'))
        rows.append([*case[:4], f'{got}/{case[4]}' if 'received' in result else got])
        print(table([rows[-1]], ['executor', 'input_qos', 'camera', 'Hz', 'received']),
              flush=True)
    print(table(rows, ['executor', 'input_qos', 'camera', 'Hz', 'received']))
    print(f'wrote {write_json(args.name, {"cases": results, "warmup_frames": WARMUP})}')
    os._exit(0)  # rclpy/Fast DDS can abort at interpreter exit with threads still up


if __name__ == '__main__':
    main()
