# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Batch cost per precision: what one node serving several cameras pays for batching them.

python benchmarks/bench_batch.py [--backbone ViT-B-16] [--device cpu] [--batches 1 2 4]
`DepthEstimator.predict_tensor` on B identical 640x480 frames, fp32 and bf16 (autocast),
timed in turns; per batch size the time per batch and per frame. With `--profile B` the
slowest bf16 batch's top operators (torch.profiler) are recorded too.
"""

import argparse
from pathlib import Path
import sys

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, time_interleaved, write_json  # noqa: E402, I100

PRECISIONS = ('fp32', 'bf16')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', default='ViT-B-16')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batches', type=int, nargs='+', default=[1, 2, 4])
    p.add_argument('--repeat', type=int, default=2)
    p.add_argument('--profile', type=int, default=0, help='profile bf16 at this batch size')
    args = p.parse_args()
    from clip_depth_ros.config import InferenceConfig, ModelConfig
    from clip_depth_ros.engine.inference import DepthEstimator
    from clip_depth_ros.models import build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=args.backbone, pretrained=None), None)
    estimators = {prec: DepthEstimator(model, InferenceConfig(device=args.device,
                                                              precision=prec))
                  for prec in PRECISIONS}
    sync = torch.cuda.synchronize if args.device.startswith('cuda') else (lambda: None)
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    candidates = {f'{prec}_batch{b}': (lambda e=e, b=b: e.predict_tensor([rgb] * b))
                  for b in args.batches for prec, e in estimators.items()}
    timed = time_interleaved(candidates, warmup=1, repeat=args.repeat, sync=sync)
    results = {'backbone': args.backbone, 'device': args.device, 'frame': '480x640',
               'timings': timed}
    rows = []
    for b in args.batches:
        row = [b]
        for prec in PRECISIONS:
            ms = timed[f'{prec}_batch{b}']['median_ms']
            row += [f'{ms:.0f}', f'{ms / b:.0f}']
        rows.append(row)
    if args.profile:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            estimators['bf16'].predict_tensor([rgb] * args.profile)
        top = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:6]
        results[f'bf16_batch{args.profile}_top_ops'] = [
            {'op': e.key, 'calls': e.count, 'self_ms': e.self_cpu_time_total / 1e3,
             'total_ms': e.cpu_time_total / 1e3} for e in top]
    print(f'{args.backbone} (random weights) on {args.device}, 640x480 frames, median of '
          f'{args.repeat} in turns')
    print(table(rows, ['batch', 'fp32 ms', 'fp32 ms/frame', 'bf16 ms', 'bf16 ms/frame']))
    for e in results.get(f'bf16_batch{args.profile}_top_ops', []):
        print(f"  {e['op']}: {e['calls']} calls, self {e['self_ms']:.0f} ms, "
              f"total {e['total_ms']:.0f} ms")
    print(f'wrote {write_json(f"batch_{args.backbone}_{args.device}", results)}')


if __name__ == '__main__':
    main()
