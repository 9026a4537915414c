# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Node overhead: image stamp -> depth and cloud received, next to the bare `predict` time.

python benchmarks/bench_node.py [--backbone ViT-B-16] [--frames 20] [--size 480x640]
Three set-ups in one run: the node in this process, the node in another process over default
Fast DDS, and the same with the shipped shared-memory profile (config/fastdds_shm.xml).
Frames are sent one at a time (the next after the previous cloud arrived), so the figures are
latency, not queueing. DDS stays on this machine (LOCALHOST, a private domain id).
"""

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, time_ms, write_json  # noqa: E402, I100

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', '87')


def make_checkpoint(backbone: str, tmp: Path) -> Path:
    from clip_depth_ros.tools.init_checkpoint import main as init_main
    out = tmp / 'ckpt'
    assert init_main(['--backbone', backbone, '--out', str(out)]) == 0
    return out


def probe_run(context, frames, rgb, timeout: float = 120.0):
    """Publish `frames` images; return per-frame (depth, cloud) latencies in ms and inference."""
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from clip_depth_ros.ros import conversions
    from std_msgs.msg import Header
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                     reliability=ReliabilityPolicy.RELIABLE)
    node = Node('bench_probe', context=context)
    arrivals = {'depth': {}, 'cloud': {}}
    done = threading.Event()

    def on(kind):
        def cb(msg):
            s = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            arrivals[kind][s] = time.perf_counter()
            if kind == 'cloud':
                done.set()
        return cb
    node.create_subscription(Image, 'depth/image', on('depth'), qos)
    node.create_subscription(PointCloud2, 'depth/points', on('cloud'), qos)
    img_pub = node.create_publisher(Image, 'image', qos)
    info_pub = node.create_publisher(CameraInfo, 'camera_info', qos)
    h, w, _ = rgb.shape
    image = conversions.rgb_to_image(rgb, Header(frame_id='cam'))
    return node, img_pub, info_pub, arrivals, done, (h, w, image)


def drive(node, executor, img_pub, info_pub, arrivals, done, frame, frames: int,
          wait_s: float):
    from sensor_msgs.msg import CameraInfo
    h, w, image = frame
    info = CameraInfo(width=w, height=h, k=[500.0, 0, w / 2, 0, 500.0, h / 2, 0, 0, 1.0],
                      p=[500.0, 0, w / 2, 0, 0, 500.0, h / 2, 0, 0, 0, 1.0, 0])
    deadline = time.monotonic() + 60
    while (img_pub.get_subscription_count() == 0 or info_pub.get_subscription_count() == 0
           or node.count_publishers('depth/points') == 0):
        if time.monotonic() > deadline:
            raise TimeoutError('node not discovered')
        time.sleep(0.05)
    time.sleep(1.0)
    for _ in range(3):
        info_pub.publish(info)
        time.sleep(0.1)
    sent, lost = {}, 0
    while len(sent) < frames + 2 and lost < 3 * frames:  # two warm-up frames
        done.clear()
        stamp = node.get_clock().now().to_msg()
        image.header.stamp = stamp
        info.header.stamp = stamp
        info_pub.publish(info)
        s = stamp.sec * 10**9 + stamp.nanosec
        start = time.perf_counter()
        img_pub.publish(image)
        # The node's input is best effort (sensor data QoS): a frame lost on the way is
        # counted and another one sent, not waited for.
        answered = done.wait(wait_s) and s in arrivals['cloud']
        # Reliable outputs may still be in flight: the depth can trail the cloud.
        deadline = time.monotonic() + wait_s
        while answered and s not in arrivals['depth'] and time.monotonic() < deadline:
            time.sleep(0.001)
        if answered and s in arrivals['depth']:
            sent[s] = start
        else:
            lost += 1
    stamps = sorted(sent)[2:]
    if len(stamps) < 3:
        raise TimeoutError(f'{lost} input frames lost, only {len(sent)} answered')
    depth = [(arrivals['depth'][s] - sent[s]) * 1e3 for s in stamps]
    cloud = [(arrivals['cloud'][s] - sent[s]) * 1e3 for s in stamps]
    return depth, cloud, lost


def in_process(checkpoint: Path, rgb, frames: int, wait_s: float):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from clip_depth_ros.ros.depth_node import DepthNode
    ctx = Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    node = DepthNode(context=ctx, parameter_overrides=[
        Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value='cpu')])
    probe, img_pub, info_pub, arrivals, done, frame = probe_run(ctx, frames, rgb)
    ex.add_node(node)
    ex.add_node(probe)
    threading.Thread(target=ex.spin, daemon=True).start()
    node.autostart()
    try:
        depth, cloud, lost = drive(probe, ex, img_pub, info_pub, arrivals, done, frame, frames,
                                   wait_s)
        inference = {name: getattr(node, f'{name}_ms').summary()['median_ms']
                     for name in ('wait', 'compute', 'publish')}
    finally:
        node._stop_inputs()
        ex.shutdown(timeout_sec=5)
        rclpy.try_shutdown(context=ctx)
    return depth, cloud, lost, inference


def other_process(checkpoint: Path, rgb, frames: int, shm: bool, wait_s: float):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    env = dict(os.environ)  # the phase's own environment: profile set or not by main()
    exe = os.path.join(os.path.dirname(sys.executable), 'depth_node')
    proc = subprocess.Popen([exe, '--ros-args', '-p', f'checkpoint:={checkpoint}',
                             '-p', 'device:=cpu', '--log-level', 'warn'], env=env)
    ctx = Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    probe, img_pub, info_pub, arrivals, done, frame = probe_run(ctx, frames, rgb)
    ex.add_node(probe)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        depth, cloud, lost = drive(probe, ex, img_pub, info_pub, arrivals, done, frame, frames,
                                   wait_s)
    finally:
        proc.terminate()
        proc.wait(30)
        ex.shutdown(timeout_sec=5)
        rclpy.try_shutdown(context=ctx)
    return depth, cloud, lost


PHASES = {'one process': 'inproc', 'two processes, default': 'default',
          'two processes, shm profile': 'shm'}


def run_phase(phase: str, checkpoint: Path, rgb, frames: int, wait_s: float) -> dict:
    """One set-up in this (fresh) process; Fast DDS reads its profile once per process."""
    if phase == 'inproc':
        depth, cloud, lost, inference = in_process(checkpoint, rgb, frames, wait_s)
    else:
        depth, cloud, lost = other_process(checkpoint, rgb, frames, phase == 'shm', wait_s)
        inference = None
    return {'depth': depth, 'cloud': cloud, 'lost': lost, 'inference': inference}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', default='ViT-B-16')
    p.add_argument('--frames', type=int, default=20)
    p.add_argument('--size', default='480x640')
    p.add_argument('--phase', choices=sorted(PHASES.values()), help=argparse.SUPPRESS)
    p.add_argument('--checkpoint', type=Path, help=argparse.SUPPRESS)
    p.add_argument('--wait', type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    h, w = map(int, args.size.split('x'))
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.checkpoint, rgb, args.frames, args.wait)),
              flush=True)
        # Skip interpreter teardown: rclpy/Fast DDS can abort on exit with threads still up,
        # after the figures are out; that is not what this benchmark measures.
        os._exit(0)
    tmp = Path(tempfile.mkdtemp())
    checkpoint = make_checkpoint(args.backbone, tmp)
    import torch
    from clip_depth_ros.config import NodeConfig
    from clip_depth_ros.inference import DepthEstimator
    estimator = DepthEstimator.from_checkpoint(checkpoint, device='cpu')
    all_threads = torch.get_num_threads()
    bare_all = time_ms(lambda: estimator.predict(rgb), repeat=args.frames)['median_ms']
    # The node runs torch on all cores but one (cpu_threads: 0); compare like with like.
    node_threads = NodeConfig().inference_threads(os.cpu_count() or 1)
    torch.set_num_threads(node_threads)
    bare = time_ms(lambda: estimator.predict(rgb), repeat=args.frames)['median_ms']
    results = {'backbone': args.backbone, 'frame': args.size, 'frames': args.frames,
               'bare_predict_median_ms': bare, 'bare_predict_threads': node_threads,
               f'bare_predict_median_ms_{all_threads}_threads': bare_all, 'setups': {}}
    rows = []
    wait_s = 1.5 * bare / 1e3 + 0.5
    for name, phase in PHASES.items():
        env = dict(os.environ)
        env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
        if phase == 'shm':
            env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(REPO / 'config' / 'fastdds_shm.xml')
        r = subprocess.run([sys.executable, __file__, '--phase', phase, '--checkpoint',
                            str(checkpoint), '--frames', str(args.frames), '--size', args.size,
                            '--wait', str(wait_s)], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            reason = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'failed'
            results['setups'][name] = {'failed': reason}
            rows.append([name, 'failed', '', f'{bare:.1f}', '', reason])
            continue
        out = json.loads(r.stdout.strip().splitlines()[-1])
        d, c = statistics.median(out['depth']), statistics.median(out['cloud'])
        entry = {'depth_median_ms': d, 'cloud_median_ms': c, 'input_frames_lost': out['lost'],
                 'frames_measured': len(out['depth']),
                 'depth_ratio_to_bare_predict': d / bare, 'cloud_ratio_to_bare_predict': c / bare}
        if out['inference'] is not None:
            entry['node_stage_median_ms'] = out['inference']
        results['setups'][name] = entry
        rows.append([name, f'{d:.1f}', f'{c:.1f}', f'{bare:.1f}', f'{c / bare:.3f}',
                     out['lost']])
    print(f'{args.backbone} (random weights), {args.size} frames with xyzrgb cloud, CPU, '
          f"median of {args.frames}; predict with the node's {node_threads} torch thread(s) "
          f'({bare_all:.1f} ms with {all_threads})')
    print(table(rows, ['set-up', 'depth ms', 'cloud ms', 'predict ms', 'cloud/predict',
                       'inputs lost']))
    print(f'wrote {write_json(f"node_{args.backbone}_{args.size}", results)}')


if __name__ == '__main__':
    main()
