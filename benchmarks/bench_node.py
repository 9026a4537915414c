# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth node under load: overhead over `predict`, CPU threads under a flood, many cameras.

python benchmarks/bench_node.py [--mode overhead|threads|multi|all] [--backbone ViT-B-16]
  overhead  image publish -> depth and cloud received, one frame at a time, with the node in
            this process, in another one over default Fast DDS, and with the shipped
            shared-memory profile; the bare `predict` in the same run (end-to-end / predict).
  threads   for each `cpu_threads` (1, 2, 0 = the default): the node's per-frame compute time
            idle (one frame at a time) and while a camera in another process sends 640x480
            frames at 30 Hz (reliable, as drivers publish).
  multi     1, 2 and 4 cameras at 640x480 (10 Hz each, from another process): one node
            serving all of them vs as many single-camera nodes (one process each), for
            ViT-B-16 and the tiny model: resident memory of the node process(es), total
            depth frames per second and median latency (image stamp -> depth received) per
            camera.
Random weights (no downloads). DDS stays on this machine (LOCALHOST; ROS_DOMAIN_ID as set, 87
otherwise). Every run writes benchmarks/results/*.json.
"""

import argparse
import json
import os
from pathlib import Path
import signal
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
THREAD_SETTINGS = (1, 2, 0)
CAMERA_COUNTS = (1, 2, 4)


def make_checkpoint(backbone: str, tmp: Path) -> Path:
    from clip_depth_ros.cli.init import main as init_main
    out = tmp / f'ckpt_{backbone}'
    assert init_main(['--backbone', backbone, '--out', str(out)]) == 0
    return out


def camera_info_msg(h: int, w: int):
    from sensor_msgs.msg import CameraInfo
    return CameraInfo(width=w, height=h, k=[500.0, 0, w / 2, 0, 500.0, h / 2, 0, 0, 1.0],
                      p=[500.0, 0, w / 2, 0, 0, 500.0, h / 2, 0, 0, 0, 1.0, 0])


def probe_run(context, frames, rgb, namespace: str = '', name: str = 'bench_probe'):
    """Make a probe node that publishes image + camera_info and times depth and cloud."""
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from clip_depth_ros.ros import conversions
    from std_msgs.msg import Header
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                     reliability=ReliabilityPolicy.RELIABLE)
    node = Node(name, namespace=namespace, context=context)
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
          wait_s: float, between=None):
    """
    Send frames one at a time (the next after the previous cloud); latencies in ms.

    `between()`, when given, runs after every answered frame, before the next is sent.
    """
    h, w, image = frame
    info = camera_info_msg(h, w)
    deadline = time.monotonic() + 120
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
        # A frame lost on the way (best-effort input) is counted and another one sent.
        answered = done.wait(wait_s) and s in arrivals['cloud']
        # Reliable outputs may still be in flight: the depth can trail the cloud.
        deadline = time.monotonic() + wait_s
        while answered and s not in arrivals['depth'] and time.monotonic() < deadline:
            time.sleep(0.001)
        if answered and s in arrivals['depth']:
            sent[s] = start
            if between is not None:
                between()
        else:
            lost += 1
    stamps = sorted(sent)[2:]
    if len(stamps) < 3:
        raise TimeoutError(f'{lost} input frames lost, only {len(sent)} answered')
    depth = [(arrivals['depth'][s] - sent[s]) * 1e3 for s in stamps]
    cloud = [(arrivals['cloud'][s] - sent[s]) * 1e3 for s in stamps]
    return depth, cloud, lost


def start_in_process_node(checkpoint: Path, extra=(), namespace: str = ''):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from clip_depth_ros.ros.depth_node import DepthNode
    ctx = Context()
    rclpy.init(context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    node = DepthNode(context=ctx, namespace=namespace, parameter_overrides=[
        Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value='cpu'),
        *[Parameter(k, value=v) for k, v in extra]])
    return ctx, ex, node


def in_process(checkpoint: Path, rgb, frames: int, wait_s: float):
    import rclpy
    ctx, ex, node = start_in_process_node(checkpoint)
    probe, img_pub, info_pub, arrivals, done, frame = probe_run(ctx, frames, rgb)
    ex.add_node(node)
    ex.add_node(probe)
    threading.Thread(target=ex.spin, daemon=True).start()
    node.autostart()
    bare = []

    def bare_predict():
        # The node's own estimator, threads and process, between two frames: the overhead
        # ratio compares like with like even when the machine's load drifts.
        start = time.perf_counter()
        node.estimator.predict(rgb)
        bare.append((time.perf_counter() - start) * 1e3)
    try:
        depth, cloud, lost = drive(probe, ex, img_pub, info_pub, arrivals, done, frame, frames,
                                   wait_s, between=bare_predict)
        inference = {name: getattr(node, f'{name}_ms').summary()['median_ms']
                     for name in ('wait', 'compute', 'publish')}
        inference['bare_predict'] = statistics.median(bare[2:])
    finally:
        node.stop_inputs()
        ex.shutdown(timeout_sec=5)
        rclpy.try_shutdown(context=ctx)
    return depth, cloud, lost, inference


def node_command(checkpoint: Path, params=(), namespace: str = ''):
    exe = os.path.join(os.path.dirname(sys.executable), 'depth_node')
    cmd = [exe, '--ros-args', '-p', f'checkpoint:={checkpoint}', '-p', 'device:=cpu',
           '--log-level', 'warn']
    for key, value in params:
        cmd += ['-p', f'{key}:={value}']
    if namespace:
        cmd += ['-r', f'__ns:=/{namespace}']
    return cmd


def other_process(checkpoint: Path, rgb, frames: int, shm: bool, wait_s: float):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    env = dict(os.environ)  # the phase's own environment: profile set or not by main()
    proc = subprocess.Popen(node_command(checkpoint), env=env)
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


def run_child(argv, env=None, timeout=1800) -> dict:
    """Run this script in a fresh process; its last stdout line is the JSON result."""
    r = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0 or not r.stdout.strip():
        lines = r.stderr.strip().splitlines()
        return {'failed': lines[-1] if lines else f'exit status {r.returncode}'}
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- cameras in another process ---------------------------------------------------------------
def camera_phase(names, rate_hz: float, size: str, ready_timeout: float, window_s: float,
                 ) -> dict:
    """
    Publish 640x480 rgb8 + camera_info for every camera at `rate_hz` (reliable, keep last 1).

    With `window_s` > 0: wait until every camera's depth arrives once, then count the depth
    images received per camera during `window_s` and their latency (stamp -> received).
    With `window_s` == 0: publish until terminated (a flood for the threads mode), taking
    depth and cloud as the idle probe does.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from clip_depth_ros.ros import conversions
    from std_msgs.msg import Header
    h, w = map(int, size.split('x'))
    rclpy.init()
    node = Node('bench_cameras')
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE)
    out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                         reliability=ReliabilityPolicy.RELIABLE)
    rng = np.random.default_rng(0)
    lock = threading.Lock()
    arrivals = {n: [] for n in names}
    cams = []
    for n in names:
        prefix = f'/{n}/' if n else '/'
        image = conversions.rgb_to_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                                         Header(frame_id=f'{n or "cam"}_optical'))
        info = camera_info_msg(h, w)
        info.header.frame_id = image.header.frame_id
        cams.append((node.create_publisher(Image, prefix + 'image', qos),
                     node.create_publisher(CameraInfo, prefix + 'camera_info', qos),
                     image, info))

        def on_depth(msg, n=n):
            now = time.time()
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            with lock:
                arrivals[n].append((now, now - stamp))
        node.create_subscription(Image, prefix + 'depth/image', on_depth, out_qos)
        if window_s <= 0:
            # The flood's receiver wants the cloud too, as the idle probe does: the node
            # packs a cloud only for subscribers, and compute times must compare alike.
            node.create_subscription(PointCloud2, prefix + 'depth/points', lambda m: None,
                                     out_qos)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def publish_loop():
        period = 1.0 / rate_hz
        t_next = time.monotonic()
        while not stop.is_set():
            stamp = node.get_clock().now().to_msg()
            for img_pub, info_pub, image, info in cams:
                image.header.stamp = stamp
                info.header.stamp = stamp
                info_pub.publish(info)
                img_pub.publish(image)
            t_next += period
            delay = t_next - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                t_next = time.monotonic()  # behind: do not burst to catch up
    threading.Thread(target=publish_loop, daemon=True).start()
    if window_s <= 0:
        stop.wait()
        os._exit(0)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        with lock:
            if all(arrivals[n] for n in names):
                break
        time.sleep(0.2)
    else:
        print(json.dumps({'failed': 'not every camera answered within '
                          f'{ready_timeout:.0f} s: ' + ', '.join(
                              f'{n}: {len(arrivals[n])}' for n in names)}), flush=True)
        os._exit(0)
    start = time.time()
    time.sleep(window_s)
    end = time.time()
    stop.set()
    with lock:
        window = {n: [lat for t, lat in arrivals[n] if start <= t < end] for n in names}
    result = {'window_s': end - start, 'cameras': {
        n: {'frames': len(v), 'frames_per_s': len(v) / (end - start),
            'median_latency_ms': statistics.median(v) * 1e3 if v else None}
        for n, v in window.items()}}
    result['total_frames_per_s'] = sum(c['frames_per_s'] for c in result['cameras'].values())
    print(json.dumps(result), flush=True)
    os._exit(0)


def proc_memory_mib(pid: int) -> dict:
    """Resident (VmRSS) and peak resident (VmHWM) memory of a process, MiB."""
    fields = {}
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        key, _, value = line.partition(':')
        if key in ('VmRSS', 'VmHWM'):
            fields[key] = int(value.split()[0]) / 1024
    return fields


# -- threads mode ---------------------------------------------------------------------------
def threads_phase(checkpoint: Path, rgb, frames: int, wait_s: float, flood_s: float,
                  cpu_threads: int, rounds: int = 2) -> dict:
    """
    One cpu_threads setting: compute time idle, then under a 30 Hz camera process, in turns.

    Idle and flood alternate `rounds` times, so that load from elsewhere on a shared machine
    falls on both; the first two idle frames of each round (warm-up) are not counted.
    """
    import rclpy
    from clip_depth_ros.serving.health import LatencyStats

    class Counting(LatencyStats):
        """Every compute time, in order."""

        def __init__(self) -> None:
            super().__init__()
            self.samples = []

        def add(self, latency_ms: float) -> None:
            super().add(latency_ms)
            self.samples.append(latency_ms)
    ctx, ex, node = start_in_process_node(checkpoint, [('cpu_threads', cpu_threads)],
                                          namespace='cam0')
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    node.autostart()
    import torch
    result = {'cpu_threads': cpu_threads, 'torch_threads': torch.get_num_threads(),
              'rounds': rounds}
    idle, flood, dropped = [], [], 0
    camera = None
    try:
        for r in range(rounds):
            probe, img_pub, info_pub, arrivals, done, frame = probe_run(
                ctx, frames, rgb, 'cam0', name=f'bench_probe_{r}')
            ex.add_node(probe)
            node.compute_ms = Counting()  # idle: frames sent one at a time
            drive(probe, ex, img_pub, info_pub, arrivals, done, frame, frames, wait_s)
            idle += node.compute_ms.samples[2:]
            ex.remove_node(probe)  # the flood comes from another process, as a driver's
            probe.destroy_node()
            camera = subprocess.Popen([sys.executable, __file__, '--phase', 'cameras',
                                       '--names', 'cam0', '--rate', '30', '--window', '0'])
            node.compute_ms = Counting()
            deadline = time.monotonic() + 60
            while not node.compute_ms.samples and time.monotonic() < deadline:
                time.sleep(0.1)  # the flood has reached the model
            node.compute_ms = Counting()
            before = sum(getattr(node.slots, 'dropped', {}).values())
            time.sleep(flood_s)
            flood += node.compute_ms.samples
            dropped += sum(getattr(node.slots, 'dropped', {}).values()) - before
            camera.terminate()
            camera.wait(30)
            camera = None
    finally:
        if camera is not None:
            camera.terminate()
            camera.wait(30)
        node.stop_inputs()
        ex.shutdown(timeout_sec=5)
        rclpy.try_shutdown(context=ctx)

    def summary(values):
        return {'median_ms': statistics.median(values) if values else None,
                'p90_ms': float(np.percentile(values, 90)) if values else None,
                'frames': len(values)}
    result['idle'] = summary(idle)
    result['flood'] = dict(summary(flood), dropped=dropped)
    if idle and flood:
        result['flood_over_idle'] = result['flood']['median_ms'] / result['idle']['median_ms']
    return result


def threads_mode(args, checkpoint: Path, rgb, bare_ms: float) -> dict:
    from clip_depth_ros.config import NodeConfig
    results = {'backbone': args.backbone, 'frame': args.size, 'camera_rate_hz': 30,
               'flood_s': args.flood, 'idle_frames': args.frames,
               'default_cpu_threads_resolves_to': NodeConfig().inference_threads(
                   os.cpu_count() or 1), 'settings': {}}
    rows = []
    wait_s = 3 * bare_ms / 1e3 + 1.0
    for n in THREAD_SETTINGS:
        out = run_child(['--phase', 'threads', '--checkpoint', str(checkpoint), '--frames',
                         str(args.frames), '--size', args.size, '--wait', str(wait_s),
                         '--cpu-threads', str(n), '--flood', str(args.flood)])
        results['settings'][str(n)] = out
        if 'failed' in out:
            rows.append([n, '', 'failed', '', '', out['failed'][:60]])
            continue
        if not out['idle']['frames'] or not out['flood']['frames']:
            rows.append([n, out['torch_threads'], 'no frames', '', '', ''])
            continue
        rows.append([f'{n}{" (default)" if n == 0 else ""}', out['torch_threads'],
                     f"{out['idle']['median_ms']:.0f}",
                     f"{out['flood']['median_ms']:.0f}", f"{out['flood_over_idle']:.2f}",
                     f"{out['idle']['frames']} / {out['flood']['frames']}"])
    print(f'{args.backbone} (random weights), {args.size}, node compute time per frame (model '
          f'+ cloud), idle vs a 30 Hz camera in another process, 2 rounds of {args.frames} '
          f'idle frames and {args.flood:.0f} s of flood')
    print(table(rows, ['cpu_threads', 'torch threads', 'idle ms', 'flood ms', 'flood/idle',
                       'frames idle / flood']))
    return results


# -- multi-camera mode ----------------------------------------------------------------------
def multi_run(checkpoint: Path, cameras: int, shared: bool, window_s: float, rate_hz: float,
              size: str, ready_timeout: float, precision: str = 'auto') -> dict:
    names = [f'cam{i}' for i in range(cameras)]
    params = [('precision', precision)]
    if shared:
        listed = '[' + ','.join(f"'{n}'" for n in names) + ']'
        nodes = [subprocess.Popen(node_command(checkpoint, params + [('cameras', listed)]))]
    else:
        nodes = [subprocess.Popen(node_command(checkpoint, params, namespace=n))
                 for n in names]
    peak = {}
    try:
        out = run_child(['--phase', 'cameras', '--names', *names, '--rate', str(rate_hz),
                         '--size', size, '--window', str(window_s),
                         '--ready-timeout', str(ready_timeout)],
                        timeout=ready_timeout + window_s + 120)
        for proc in nodes:
            if proc.poll() is not None:
                out.setdefault('failed', f'a node exited with status {proc.returncode}')
                continue
            for key, value in proc_memory_mib(proc.pid).items():
                peak[key] = peak.get(key, 0.0) + value
    finally:
        for proc in nodes:
            proc.send_signal(signal.SIGINT)  # rclpy's clean shutdown
        for proc in nodes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    out['processes'] = len(nodes)
    out['rss_mib'] = peak.get('VmRSS')
    out['peak_rss_mib'] = peak.get('VmHWM')
    return out


def multi_mode(args, tmp: Path) -> dict:
    results = {'frame': args.size, 'camera_rate_hz': args.rate, 'window_s': args.window,
               'precision': args.precision, 'runs': {}}
    rows = []
    for backbone in args.backbones:
        checkpoint = make_checkpoint(backbone, tmp)
        for cameras in CAMERA_COUNTS:
            for shared in (True, False):
                key = f'{backbone}/{cameras}/{"one node" if shared else "separate nodes"}'
                out = multi_run(checkpoint, cameras, shared, args.window, args.rate,
                                args.size, args.ready_timeout, args.precision)
                results['runs'][key] = out
                if 'failed' in out:
                    rows.append([backbone, cameras, key.split('/')[2], '', '', '', '',
                                 out['failed'][:60]])
                    print(f'{key}: {out["failed"]}', file=sys.stderr)
                    continue
                lat = [c['median_latency_ms'] for c in out['cameras'].values()]
                rows.append([backbone, cameras, key.split('/')[2], out['processes'],
                             f"{out['rss_mib']:.0f}", f"{out['peak_rss_mib']:.0f}",
                             f"{out['total_frames_per_s']:.2f}",
                             ' / '.join('-' if v is None else f'{v:.0f}' for v in lat)])
        one = results['runs'].get(f'{backbone}/1/one node', {})
        four = results['runs'].get(f'{backbone}/4/one node', {})
        if one.get('rss_mib') and four.get('rss_mib'):
            results[f'{backbone}_rss_4_cameras_over_1'] = four['rss_mib'] / one['rss_mib']
            results[f'{backbone}_peak_rss_4_cameras_over_1'] = (four['peak_rss_mib']
                                                                / one['peak_rss_mib'])
    print(f'{args.size} cameras at {args.rate:g} Hz each (another process), {args.window:g} s '
          f'window after every camera answered; precision {args.precision}; random weights, CPU')
    print(table(rows, ['backbone', 'cameras', 'set-up', 'processes', 'RSS MiB', 'peak MiB',
                       'total frames/s', 'median latency ms per camera']))
    for backbone in args.backbones:
        if f'{backbone}_rss_4_cameras_over_1' in results:
            print(f'{backbone}: 4 cameras in one node / 1 camera, resident memory '
                  f"{results[f'{backbone}_rss_4_cameras_over_1']:.2f}, peak "
                  f"{results[f'{backbone}_peak_rss_4_cameras_over_1']:.2f}")
    return results


# -- overhead mode ----------------------------------------------------------------------------
def overhead_mode(args, checkpoint: Path, rgb, bare: float, bare_all: float,
                  node_threads: int, all_threads: int) -> dict:
    """
    End-to-end latency of each set-up over the bare `predict`.

    The one-process set-up times the node's own `predict` between its frames (same process,
    threads and moment): its ratio is the node's overhead. The other set-ups are compared with
    that in-process `predict` too; `predict` timed before the phases is only a reference.
    """
    results = {'backbone': args.backbone, 'frame': args.size, 'frames': args.frames,
               'bare_predict_before_median_ms': bare, 'bare_predict_threads': node_threads,
               f'bare_predict_before_median_ms_{all_threads}_threads': bare_all, 'setups': {}}
    rows = []
    wait_s = 3 * bare / 1e3 + 1.0
    reference = None
    for name, phase in PHASES.items():
        env = dict(os.environ)
        env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
        if phase == 'shm':
            env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(REPO / 'config' / 'fastdds_shm.xml')
        out = run_child(['--phase', phase, '--checkpoint', str(checkpoint), '--frames',
                         str(args.frames), '--size', args.size, '--wait', str(wait_s)], env=env)
        if 'failed' in out:
            results['setups'][name] = out
            rows.append([name, 'failed', '', '', '', out['failed'][:60]])
            continue
        if out['inference'] is not None:
            reference = out['inference']['bare_predict']
        ref = reference or bare
        d, c = statistics.median(out['depth']), statistics.median(out['cloud'])
        entry = {'depth_median_ms': d, 'cloud_median_ms': c, 'input_frames_lost': out['lost'],
                 'frames_measured': len(out['depth']), 'predict_median_ms': ref,
                 'depth_ratio_to_predict': d / ref, 'cloud_ratio_to_predict': c / ref}
        if out['inference'] is not None:
            entry['node_stage_median_ms'] = out['inference']
        results['setups'][name] = entry
        rows.append([name, f'{d:.1f}', f'{c:.1f}', f'{ref:.1f}', f'{c / ref:.3f}',
                     out['lost']])
    if reference is not None:
        results['node_overhead_one_process'] = (
            results['setups']['one process']['cloud_median_ms'] / reference)
    print(f'{args.backbone} (random weights), {args.size} frames with xyzrgb cloud, CPU, '
          f"median of {args.frames}; predict: the node's own, between its frames, in one "
          f'process ({node_threads} torch threads; {bare:.1f} ms timed before the phases)')
    print(table(rows, ['set-up', 'depth ms', 'cloud ms', 'predict ms', 'cloud/predict',
                       'inputs lost']))
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--mode', choices=('overhead', 'threads', 'multi', 'all'), default='all')
    p.add_argument('--backbone', default='ViT-B-16', help='overhead and threads modes')
    p.add_argument('--backbones', nargs='+', default=['ViT-B-16', 'ViT-T-16-test'],
                   help='multi mode')
    p.add_argument('--frames', type=int, default=10, help='frames sent one at a time')
    p.add_argument('--size', default='480x640')
    p.add_argument('--flood', type=float, default=20.0, help='threads mode: flood seconds')
    p.add_argument('--rate', type=float, default=10.0, help='multi mode: Hz per camera')
    p.add_argument('--window', type=float, default=30.0, help='multi mode: seconds measured')
    p.add_argument('--ready-timeout', type=float, default=300.0)
    p.add_argument('--precision', default='auto', help='multi mode: precision of the nodes')
    p.add_argument('--phase', choices=sorted(PHASES.values()) + ['threads', 'cameras'],
                   help=argparse.SUPPRESS)
    p.add_argument('--checkpoint', type=Path, help=argparse.SUPPRESS)
    p.add_argument('--wait', type=float, help=argparse.SUPPRESS)
    p.add_argument('--cpu-threads', type=int, help=argparse.SUPPRESS)
    p.add_argument('--names', nargs='+', help=argparse.SUPPRESS)
    args = p.parse_args()
    h, w = map(int, args.size.split('x'))
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    if args.phase:
        if args.phase == 'cameras':
            camera_phase(args.names, args.rate, args.size, args.ready_timeout, args.window)
        elif args.phase == 'threads':
            out = threads_phase(args.checkpoint, rgb, args.frames, args.wait, args.flood,
                                args.cpu_threads)
        else:
            out = run_phase(args.phase, args.checkpoint, rgb, args.frames, args.wait)
        print(json.dumps(out), flush=True)
        # Skip interpreter teardown: rclpy/Fast DDS can abort on exit with threads still up,
        # after the figures are out; that is not what this benchmark measures.
        os._exit(0)
    tmp = Path(tempfile.mkdtemp())
    if args.mode in ('overhead', 'threads', 'all'):
        checkpoint = make_checkpoint(args.backbone, tmp)
        import torch
        from clip_depth_ros.config import NodeConfig
        from clip_depth_ros.engine.inference import DepthEstimator
        estimator = DepthEstimator.from_checkpoint(checkpoint, device='cpu')
        all_threads = torch.get_num_threads()
        bare_all = time_ms(lambda: estimator.predict(rgb), repeat=args.frames)['median_ms']
        # The node runs torch on all cores but one (cpu_threads: 0); compare like with like.
        node_threads = NodeConfig().inference_threads(os.cpu_count() or 1)
        torch.set_num_threads(node_threads)
        bare = time_ms(lambda: estimator.predict(rgb), repeat=args.frames)['median_ms']
        torch.set_num_threads(all_threads)
        del estimator
    if args.mode in ('overhead', 'all'):
        out = overhead_mode(args, checkpoint, rgb, bare, bare_all, node_threads, all_threads)
        print(f'wrote {write_json(f"node_{args.backbone}_{args.size}", out)}')
    if args.mode in ('threads', 'all'):
        out = threads_mode(args, checkpoint, rgb, bare)
        print(f'wrote {write_json(f"node_threads_{args.backbone}_{args.size}", out)}')
    if args.mode in ('multi', 'all'):
        out = multi_mode(args, tmp)
        suffix = '' if args.precision == 'auto' else f'_{args.precision}'
        print(f'wrote {write_json(f"node_multi_camera_{args.size}{suffix}", out)}')


if __name__ == '__main__':
    main()
