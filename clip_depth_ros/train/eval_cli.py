# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-eval: standard depth metrics of a checkpoint (or a zero-shot baseline)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Optional, Sequence

from clip_depth_ros.tools.common import tool_main
from clip_depth_ros.train.metrics import METRICS

PROTOCOLS = {  # dataset -> (crop, max depth m); folder: no crop, the model's max depth
    'nyu': ('eigen', 10.0), 'nyu_mat': ('eigen', 10.0), 'kitti': ('garg', 80.0),
}


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='clip-depth-eval', description=__doc__)
    p.add_argument('--checkpoint', type=Path, help='checkpoint directory')
    p.add_argument('--baseline', choices=('depthclip',), default=None,
                   help='evaluate a zero-shot baseline instead of a checkpoint')
    p.add_argument('--backbone', default='ViT-B-16', help='CLIP for --baseline')
    p.add_argument('--pretrained', default='openai', help='CLIP weights for --baseline')
    p.add_argument('--dataset', required=True, choices=('nyu', 'nyu_mat', 'kitti', 'folder'))
    p.add_argument('--data-root', required=True, type=Path,
                   help='image root (nyu, kitti), folder dataset, or nyu_depth_v2_labeled.mat')
    p.add_argument('--gt-root', type=Path, default=None, help='depth root when separate')
    p.add_argument('--split-file', type=Path, default=None,
                   help='BTS test list (nyu, kitti) or splits.mat (nyu_mat)')
    p.add_argument('--depth-scale', type=float, default=1000.0,
                   help='folder: uint16 value / scale = metres')
    p.add_argument('--crop', choices=('none', 'eigen', 'garg'), default=None,
                   help='override the dataset protocol crop')
    p.add_argument('--flip', action='store_true', help='average with the flipped prediction')
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--device', default=None)
    return p.parse_args(argv)


def load_dataset(args: argparse.Namespace):
    from clip_depth_ros.train import datasets as ds
    if args.dataset == 'folder':
        return ds.FolderDataset(args.data_root, args.depth_scale)
    if args.dataset == 'nyu_mat':
        mat = args.data_root
        if mat.is_dir():
            mat = mat / 'nyu_depth_v2_labeled.mat'
        return ds.NyuMatDataset(mat, args.split_file, 'test')
    if args.split_file is None:
        raise ValueError(f'--split-file is required for --dataset {args.dataset}')
    entries = ds.parse_bts_list(args.split_file, args.data_root, args.gt_root)
    if args.dataset == 'nyu':
        return ds.ListDataset(entries, 1000.0)
    return ds.ListDataset(entries, 256.0, crop_kb=True)


def build_predictor(args: argparse.Namespace):
    """Return a function RGB -> metres, and the model's max depth (None for the baseline)."""
    from clip_depth_ros.inference import DepthEstimator
    if args.baseline is None:
        if args.checkpoint is None:
            raise ValueError('give --checkpoint DIR or --baseline depthclip')
        estimator = DepthEstimator.from_checkpoint(args.checkpoint, device=args.device)
        return estimator.predict, estimator.max_depth_m
    return _depthclip_predictor(args), None


def _depthclip_predictor(args: argparse.Namespace):
    import torch
    from clip_depth_ros.config import ModelConfig
    from clip_depth_ros.inference import select_device
    from clip_depth_ros.models.backbone import create_clip, FrozenClip
    from clip_depth_ros.models.depthclip import DepthClip
    from clip_depth_ros.transforms import frames_to_device, network_size, normalise
    device = select_device(args.device)
    backbone = FrozenClip(create_clip(args.backbone, args.pretrained), (1,), args.backbone)
    model = DepthClip(backbone).to(device).eval()
    short_side = ModelConfig().input_short_side

    def predict(rgb):
        images = frames_to_device([rgb], device)
        size = network_size(rgb.shape[0], rgb.shape[1], short_side, model.patch_size)
        with torch.inference_mode():
            x = normalise(images, size, backbone.image_mean, backbone.image_std)
            depth = torch.nn.functional.interpolate(model(x), size=rgb.shape[:2],
                                                    mode='bilinear', align_corners=False)
        return depth[0, 0].cpu().numpy()
    return predict


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.train.engine import evaluate
    from clip_depth_ros.train.metrics import format_table

    args = parse_args(argv)
    dataset = load_dataset(args)  # fails on missing files before the model loads
    predict, model_max = build_predictor(args)
    crop, max_depth = PROTOCOLS.get(args.dataset, (None, model_max or 10.0))
    if args.crop is not None:
        crop = args.crop
    metrics, rows = evaluate(predict, dataset, 1e-3, max_depth, crop, args.flip, progress=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'metrics.json').write_text(json.dumps(metrics, indent=2) + '\n')
    with open(args.out / 'per_image.csv', 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=['name', *METRICS])
        writer.writeheader()
        writer.writerows(rows)
    what = f'baseline {args.baseline} ({args.backbone})' if args.baseline else args.checkpoint
    print(f'{what} on {args.dataset} ({len(dataset)} images, crop {crop or "none"}, '
          f'depth 0.001..{max_depth:g} m{", flip" if args.flip else ""})')
    print(format_table(metrics))
    print(f'wrote {args.out / "metrics.json"} and {args.out / "per_image.csv"}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
