# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training throughput: images per second per device for train steps on synthetic batches.

python benchmarks/bench_train.py [--backbone ViT-B-16] [--crop 416x544] [--batch 4]
                                 [--precisions fp32 auto]
Forward through the frozen CLIP, backward through the mirror (and the text tower) and the
decoder, AdamW step: what `train_one_epoch` does, without data loading; each precision's steps
in turns, `auto` resolved as training resolves `optim.precision: auto`.
"""

import argparse
from pathlib import Path
import sys

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_interleaved, write_json  # noqa: E402, I100


def main() -> None:
    from clip_depth_ros.config import ModelConfig
    from clip_depth_ros.models import build_model
    from clip_depth_ros.engine.precision import AUTOCAST_DTYPES, resolve_precision
    from clip_depth_ros.train.config import OptimConfig
    from clip_depth_ros.train.engine import build_optimizer
    from clip_depth_ros.train.losses import silog_loss
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', default='ViT-B-16')
    p.add_argument('--crop', default='416x544')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--precisions', nargs='+', default=['fp32', 'auto'],
                   choices=('auto', 'fp32', 'bf16', 'fp16'),
                   help='timed in turns (auto as optim.precision: auto resolves it)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = p.parse_args()
    h, w = map(int, args.crop.split('x'))
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=args.backbone, pretrained=None), None).to(device)
    model.train()
    optimizer = build_optimizer(model, OptimConfig())
    x = torch.randn(args.batch, 3, h, w, device=device)
    target = torch.rand(args.batch, 1, h, w, device=device) * 9 + 0.5
    valid = torch.ones_like(target, dtype=torch.bool)

    def step(dtype):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            pred = model(x)
        loss = silog_loss(pred.float(), target, valid)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    chosen = {name: resolve_precision(name, device) for name in args.precisions}
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    times = time_interleaved({name: (lambda d=AUTOCAST_DTYPES[chosen[name][0]]: step(d))
                              for name in args.precisions}, warmup=1, repeat=args.repeat,
                             sync=sync)
    result = {'backbone': args.backbone, 'crop': args.crop, 'batch': args.batch,
              'device': str(device), 'precisions': {}}
    for name, t in times.items():
        images_per_s = args.batch / (t['median_ms'] / 1e3)
        result['precisions'][name] = {'resolved': chosen[name][0], 'reason': chosen[name][1],
                                      'step': t, 'images_per_s_per_device': images_per_s}
        print(f'{args.backbone} at {args.crop}, batch {args.batch} on {device}, {name} '
              f'({chosen[name][0]}): {t["median_ms"]:.0f} ms per step, {images_per_s:.2f} '
              'images/s per device', flush=True)
    if device.type == 'cuda':
        result['peak_memory_gib'] = torch.cuda.max_memory_allocated() / 2**30
    print(f'wrote {write_json(f"train_{args.backbone}_{device.type}", result)}')


if __name__ == '__main__':
    main()
