# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Scale anchoring: AbsRel before and after alignment, cost of the fit, settling time in the node.

python benchmarks/bench_anchor.py [--data DIR ...] [--skip-node]

Accuracy: each TUM folder (associations.txt, depth at 1/5000 m, fx from intrinsics.txt or
freiburg1's 517.3 px) is scored with
predictions = ground truth x 0.6 x log-normal noise (sigma 0.1), and with the predictions of a
model checkpoint (--checkpoint; default: the tiny random-weight test model, whose depth has no
meaning: it shows what anchoring does to an arbitrary shape, not what a trained model gets).
References are the ground truth sampled as a sensor would (sparse:P with a fixed seed, or the
rows of a lidar), as `clip-depth-eval --align` does. Settling: the depth node in this process
over real DDS, a camera with fx halved, a registered depth reference whose scale steps from x2
to x2.5 after the smoothed scale has settled; frames 100 ms apart in stamp time.
"""

import argparse
import math
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, time_ms, write_json  # noqa: E402, I100

REPO = Path(__file__).resolve().parent.parent
SPECS = ('sparse:0.1', 'sparse:1', 'sparse:10', 'rows:16', 'rows:4')
FACTOR, NOISE = 0.6, 0.1


def load_folder(root: Path):
    """(name, rgb, depth) of a TUM folder: pairs from associations.txt; fx of freiburg1."""
    from clip_depth_ros.frames.image_io import read_depth_png, read_rgb
    intrinsics = root / 'intrinsics.txt'
    fx = float(intrinsics.read_text().split()[0]) if intrinsics.is_file() else 517.3
    pairs = [ln.split() for ln in (root / 'associations.txt').read_text().splitlines()
             if ln.strip() and not ln.startswith('#')]
    return [(Path(rgb).stem, read_rgb(root / rgb), read_depth_png(root / depth, 5000.0))
            for _, rgb, _, depth in pairs], fx


# 'relaxed': any scale in 0.01..100 and any inlier fraction is accepted (what the fit makes of
# an arbitrary prediction, which the defaults refuse to correct).
RELAXED = {'min_scale': 0.01, 'max_scale': 100.0, 'min_inlier_fraction': 0.0}


def accuracy(frames, predict, spec: str, fit: str, relaxed: bool = False):
    """Mean AbsRel before / after, frames fitted, and the median fit time in ms."""
    from clip_depth_ros.config import AnchorConfig
    from clip_depth_ros.frames import anchoring
    from clip_depth_ros.train.alignment import AlignedScores
    from clip_depth_ros.train.metrics import average, image_errors
    cfg = AnchorConfig(mode='depth', fit=fit, max_points=1_000_000,
                       **(RELAXED if relaxed else {}))
    scores = AlignedScores(spec, 1e-3, 10.0, None, 0, cfg)
    before = []
    for i, (name, rgb, gt) in enumerate(frames):
        pred = predict(i, rgb, gt)
        before.append(image_errors(gt, pred, 1e-3, 10.0))
        scores.add({'name': name, 'depth': gt}, pred)
    m = scores.metrics()
    kind, value = anchoring.parse_align_spec(spec)
    name, rgb, gt = frames[0]
    ref = anchoring.sample_ground_truth(gt, kind, value, (0, 0))
    pred0 = predict(0, rgb, gt)
    cost = time_ms(lambda: anchoring.fit_points(pred0, ref, cfg), warmup=1, repeat=5)
    return {'abs_rel_before': average(before)['abs_rel'], 'abs_rel_after': m['aligned_abs_rel'],
            'delta1_before': average(before)['delta1'], 'delta1_after': m['aligned_delta1'],
            'fitted': m['align_fitted'], 'frames': len(frames),
            'median_scale': m['align_scale_median'], 'points_median': m['align_points_median'],
            'fit_ms': cost['median_ms']}


def synthetic(i, rgb, gt):
    rng = np.random.default_rng(100 + i)
    pred = gt * FACTOR * np.exp(rng.normal(0, NOISE, gt.shape))
    pred[gt <= 0] = float(np.median(gt[gt > 0])) * FACTOR
    return pred.astype(np.float32)


def settling(checkpoint: Path, time_constant_s: float, frames: int = 70, step_at: int = 15):
    """Scale of each published frame when the reference's scale steps from x2 to x2.5."""
    sys.path.insert(0, str(REPO / 'test'))
    from clip_depth_ros.ros import conversions
    from clip_depth_ros.ros.depth_node import DepthNode
    from rclpy.parameter import Parameter
    from ros_harness import Graph, wait_for
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    h, w, fx = 96, 128, 100.0
    graph = Graph()
    ns = '/bench_anchor'
    node = DepthNode(context=graph.context, namespace=ns, parameter_overrides=[
        Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value='cpu'),
        Parameter('max_range', value=1000.0), Parameter('publish_points', value=False),
        Parameter('anchor_mode', value='depth'), Parameter('anchor_topic', value='ref/image'),
        Parameter('anchor_time_constant_s', value=time_constant_s)])
    graph.add(node)
    depth_out = graph.record(Image, f'{ns}/depth/image')
    image_pub = graph.publisher(Image, f'{ns}/image')
    info_pub = graph.publisher(CameraInfo, f'{ns}/camera_info')
    ref_pub = graph.publisher(Image, f'{ns}/ref/image')
    node.autostart()
    wait_for(lambda: all(s.get_publisher_count() > 0 for s in node.input_subscriptions())
             and ref_pub.get_subscription_count() > 0
             and graph.probe.count_publishers(f'{ns}/depth/image') > 0,
             60, 'discovery')
    rgb = np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8)
    info = CameraInfo(width=w, height=h, k=[fx / 2, 0, 64, 0, 110, 48, 0, 0, 1],
                      p=[fx / 2, 0, 64, 0, 0, 110, 48, 0, 0, 0, 1, 0])
    info_pub.publish(info)
    wait_for(lambda: node.camera_info is not None, 30, 'camera_info')
    half = node.estimator.predict(rgb, focal_px=fx / 2)
    anchor = node.references.anchors['']
    scales, walls = [], []
    start = time.perf_counter()
    for k in range(frames):
        hdr = Header(frame_id='cam')
        hdr.stamp.sec, hdr.stamp.nanosec = 1000 + k // 10, (k % 10) * 100_000_000
        truth = 2.0 if k < step_at else 2.5
        before = anchor.references
        ref_pub.publish(conversions.depth_to_image((half * truth).astype(np.float32), hdr))
        wait_for(lambda: anchor.references > before, 30, 'reference')
        image_pub.publish(Image(header=hdr, height=h, width=w, encoding='rgb8', step=w * 3,
                                data=rgb.tobytes()))
        wait_for(lambda: any(m.header.stamp == hdr.stamp for m in depth_out), 60, 'depth')
        out = conversions.image_to_depth(next(m for m in depth_out
                                              if m.header.stamp == hdr.stamp))
        scales.append(float(np.median(out / half)))
        walls.append(time.perf_counter() - start)
    node.stop_inputs()
    graph.close()
    within = [k for k in range(step_at, frames)
              if all(abs(math.log(s / 2.5)) <= math.log(1.02) for s in scales[k:])]
    settled = within[0] if within else None
    return {'time_constant_s': time_constant_s, 'frame_period_s': 0.1,
            'step': 'x2 -> x2.5', 'step_frame': step_at,
            'settled_frame': settled,
            'settling_stamp_s': None if settled is None else (settled - step_at) * 0.1,
            'settling_wall_s': None if settled is None else walls[settled] - walls[step_at],
            'expected_stamp_s': time_constant_s * math.log(math.log(2.5 / 2.0) / math.log(1.02)),
            'scales': [round(s, 4) for s in scales]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, action='append', default=[],
                   help='TUM-style folders (default: the frames shipped in the package)')
    p.add_argument('--checkpoint', type=Path, default=None,
                   help='model for the "model" rows (default: a tiny random-weight model)')
    p.add_argument('--skip-node', action='store_true', help='no settling measurement')
    p.add_argument('--name', default='anchor')
    args = p.parse_args()
    from clip_depth_ros.engine.inference import DepthEstimator
    datasets = args.data or [REPO / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy']
    tmp = tempfile.TemporaryDirectory()
    checkpoint, model_name = args.checkpoint, 'checkpoint'
    if checkpoint is None:
        from clip_depth_ros.cli.init import main as init
        checkpoint = Path(tmp.name) / 'tiny'
        init(['--backbone', 'ViT-T-16-test', '--out', str(checkpoint), '--seed', '1'])
        model_name = 'tiny random ViT-T-16-test'
    estimator = DepthEstimator.from_checkpoint(checkpoint, device='cpu')
    results = {'factor': FACTOR, 'noise_log_sigma': NOISE, 'model': model_name, 'rows': []}
    rows = []
    for root in datasets:
        frames, fx = load_folder(root)
        cache = {}

        def model(i, rgb, gt):
            if i not in cache:
                cache[i] = estimator.predict(rgb, focal_px=fx)
            return cache[i]
        for source, predict, fits in (
                ('gt x 0.6 + noise', synthetic, (('scale', False), ('scale_shift', False))),
                (model_name, model, (('scale', False), ('scale', True),
                                     ('scale_shift', False), ('scale_shift', True)))):
            for fit, relaxed in fits:
                for spec in SPECS:
                    r = accuracy(frames, predict, spec, fit, relaxed)
                    fit_name = fit + (' relaxed' if relaxed else '')
                    r.update(data=root.name, source=source, fit=fit_name, spec=spec)
                    results['rows'].append(r)
                    rows.append([root.name, len(frames), source, fit_name, spec,
                                 f'{r["points_median"]:.0f}', f'{r["abs_rel_before"]:.4f}',
                                 f'{r["abs_rel_after"]:.4f}', f'{r["fitted"]}/{r["frames"]}',
                                 f'{r["median_scale"]:.4f}', f'{r["fit_ms"]:.2f}'])
    print(table(rows, ['data', 'frames', 'prediction', 'fit', 'reference', 'points',
                       'AbsRel before', 'AbsRel after', 'fitted', 'median scale', 'fit ms']))
    if not args.skip_node:
        for tau in (1.0, 0.3):
            s = settling(checkpoint, tau)
            results.setdefault('settling', []).append(s)
            print(f'node settling, time constant {tau:g} s, reference scale x2 -> x2.5 at frame '
                  f'{s["step_frame"]} (frames 0.1 s apart): within 2 % after '
                  f'{s["settling_stamp_s"]:.1f} s of stamp time (expected '
                  f'{s["expected_stamp_s"]:.2f} s), {s["settling_wall_s"]:.2f} s wall')
    print(f'wrote {write_json(args.name, results)}')
    tmp.cleanup()


if __name__ == '__main__':
    main()
