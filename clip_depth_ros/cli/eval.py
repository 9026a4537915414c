# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
clip-depth-eval: standard depth metrics of a checkpoint (or a baseline), optionally temporal.

With --poses, also the temporal consistency of sequences (bags, TUM folders): each frame's depth
warped into frame t+k, compared there, next to the same figure for the ground truth.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from clip_depth_ros.cli.common import (add_camera_options, add_debug_option, add_overwrite_option,
                                       camera_from_args, tool_main)
from clip_depth_ros.config import DEPTH_FORMATS, PRECISIONS
from clip_depth_ros.train.config import DataConfig, DATASETS
from clip_depth_ros.train.metrics import CROP_NAMES, METRICS, TEMPORAL_COLUMNS
import numpy as np

_DATA = DataConfig()
CROP_HELP = ('evaluation crop, by where it comes from. KITTI: garg (default) = BTS offline '
             'evaluation (bts_eval.py): the KB-crop prediction padded into the full frame, Garg '
             'fractions of the full ground truth; garg_kb = BTS online validation, as AdaBins '
             'and NeWCRFs: the same fractions of the 352x1216 KB crop; eigen = the Eigen crop '
             'of the full frame. NYU: eigen (default) = rows 45:471, cols 41:601 of 480x640. '
             'Other datasets: none (default), eigen (NYU geometry), garg (fractions of the '
             'frame as given). none everywhere: every pixel')
MEDIAN_MAX_MM = 300_000  # depths beyond 300 m count as 300 m in the median baseline


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-eval (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-eval', description=__doc__)
    p.add_argument('--checkpoint', type=Path, help='checkpoint directory')
    p.add_argument('--baseline', choices=('depthclip', 'median'), default=None,
                   help='evaluate a baseline instead of a checkpoint: depthclip zero-shot, or '
                   'median = one constant depth everywhere, the median ground truth of the '
                   'training part of the time split (or --constant-depth-m)')
    p.add_argument('--constant-depth-m', type=float, default=None,
                   help='the constant of --baseline median, instead of the training median')
    p.add_argument('--backbone', default='ViT-B-16', help='CLIP for --baseline depthclip')
    p.add_argument('--pretrained', default='openai', help='CLIP weights for --baseline')
    p.add_argument('--dataset', required=True, choices=DATASETS,
                   help='dataset layout; nyu, nyu_mat and kitti bring their protocol crop')
    p.add_argument('--data-root', required=True, type=Path,
                   help='image root (nyu, kitti), folder dataset, TUM sequence folder (tum), '
                   'a rosbag2 bag or folder of bags (bag), or nyu_depth_v2_labeled.mat')
    p.add_argument('--gt-root', type=Path, default=None, help='depth root when separate')
    p.add_argument('--split-file', type=Path, default=None,
                   help='BTS test list (nyu, kitti) or splits.mat (nyu_mat)')
    p.add_argument('--depth-scale', type=float, default=1000.0,
                   help='folder: uint16 value / scale = metres; bag: 16UC1 value / scale')
    p.add_argument('--depth-format', choices=DEPTH_FORMATS, default='linear',
                   help='folder: how the depth PNGs store depth: linear (value / --depth-scale) '
                   "or sunrgbd (SUN RGB-D's bit-rotated millimetres, with --depth-scale 1000)")
    g = p.add_argument_group('bags and sequences (bag, tum)')
    g.add_argument('--image-topic', default=_DATA.image_topic,
                   help='colour Image or CompressedImage topic')
    g.add_argument('--depth-topic', default=_DATA.depth_topic,
                   help='depth registered to the colour camera (16UC1 mm or 32FC1 m)')
    g.add_argument('--camera-info-topic', default=_DATA.camera_info_topic,
                   help="the colour camera's CameraInfo (its fx sets the metric scale)")
    g.add_argument('--pair-tolerance-ms', type=float, default=_DATA.pair_tolerance_ms,
                   help='largest colour/depth header stamp difference of a pair')
    g.add_argument('--subset', choices=('all', 'train', 'val'), default='all',
                   help='which part of the time split to evaluate (as clip-depth-train splits)')
    g.add_argument('--val-fraction', type=float, default=_DATA.val_fraction,
                   help='the last fraction of each bag (or sequence) that validates')
    g.add_argument('--val-gap-s', type=float, default=_DATA.val_gap_s,
                   help='as data.val_gap_s in training: frames within this many seconds before '
                   'the validation part are left out of every subset and of the median '
                   "baseline (listed as 'gap' in pairs.csv)")
    add_camera_options(p.add_argument_group('camera (default: what the dataset knows: '
                                            'camera_info, intrinsics.txt, list focal)'))
    g = p.add_argument_group('temporal consistency')
    g.add_argument('--poses', default=None,
                   help='TUM trajectory (timestamp tx ty tz qx qy qz qw, world-from-camera), or '
                   '"tf" for the /tf and /tf_static of the bag(s): score each frame t against '
                   'frame t+k')
    g.add_argument('--tf-fixed-frame', default='',
                   help='with --poses tf: the frame poses are taken in (default: the root)')
    g.add_argument('--temporal-k', type=int, default=1, help='frame offset k (default 1)')
    g = p.add_argument_group('scale anchoring (metrics before and after, side by side)')
    g.add_argument('--align', default=None, metavar='SPEC',
                   help='also score each prediction anchored to a sparse reference sampled '
                   'from its ground truth, as the node anchors to a range sensor: sparse:P = '
                   'P %% of the valid pixels (e.g. sparse:1), rows:N = the pixels of N evenly '
                   'spaced rows (a lidar)')
    g.add_argument('--align-seed', type=int, default=0,
                   help='seed of the sparse:P sample (each frame draws with (seed, index))')
    p.add_argument('--crop', choices=CROP_NAMES, default=None, help=CROP_HELP)
    p.add_argument('--flip', action='store_true',
                   help='average with the prediction of the flipped image (DepthCLIP does so '
                   'always, once)')
    p.add_argument('--out', required=True, type=Path,
                   help='output directory: metrics.json, per_image.csv, pairs.csv')
    add_overwrite_option(p)
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: CUDA if present)')
    p.add_argument('--precision', choices=PRECISIONS, default='auto',
                   help='as the node: auto = bf16 where the device computes it natively')
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    if args.temporal_k < 1:
        p.error('--temporal-k must be >= 1')
    if not 0 <= args.val_fraction < 1:
        p.error('--val-fraction must be in [0, 1)')
    if not 0 <= args.val_gap_s < 1e6:
        p.error('--val-gap-s must be in [0, 1e6) s')
    if args.val_gap_s > 0 and args.dataset not in ('bag', 'tum'):
        p.error('--val-gap-s is for time-ordered datasets (bag, tum)')
    if args.align is not None:
        from clip_depth_ros.frames.anchoring import parse_align_spec
        try:
            parse_align_spec(args.align)
        except ValueError as e:
            p.error(str(e))
    return args


def load_splits(args: argparse.Namespace) -> Tuple[object, Optional[object]]:
    """(train, val) parts of a bag or TUM dataset, split by time as training splits them."""
    from clip_depth_ros.train import datasets as ds
    data = DataConfig(dataset=args.dataset, root=str(args.data_root),
                      depth_scale=args.depth_scale, val_fraction=args.val_fraction,
                      image_topic=args.image_topic, depth_topic=args.depth_topic,
                      camera_info_topic=args.camera_info_topic,
                      pair_tolerance_ms=args.pair_tolerance_ms, val_gap_s=args.val_gap_s)
    return ds.build_datasets(data, max_depth_m=args.max_depth_m)


def load_dataset(args: argparse.Namespace):
    from clip_depth_ros.train import datasets as ds
    if args.dataset in ('bag', 'tum'):
        train, val = load_splits(args)
        if args.subset == 'train':
            return train
        if args.subset == 'val':
            if val is None:
                raise ValueError(f'{args.data_root}: no validation part (--val-fraction '
                                 f'{args.val_fraction})')
            return val
        return Concat([(train, 'train')] + ([(val, 'val')] if val is not None else []))
    if args.dataset == 'folder':
        return ds.FolderDataset(args.data_root, args.depth_scale,
                                depth_format=args.depth_format, max_depth_m=args.max_depth_m)
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


class Concat:
    """Labelled datasets end to end (a bag dataset's train and val parts, in time order)."""

    def __init__(self, labelled: Sequence[Tuple[object, str]]) -> None:
        self.parts = [p for p, _ in labelled]
        self.labels = [label for _, label in labelled]
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> Dict:
        part = int(np.searchsorted(self.starts, index, side='right')) - 1
        return self.parts[part][index - int(self.starts[part])]

    def pair_rows(self, split: str = ''):
        for part, label in zip(self.parts, self.labels):
            yield from part.pair_rows(label)

    def unused_rows(self):
        yield from getattr(self.parts[0], 'unused_rows', lambda: ())()

    @property
    def indexes(self):
        return self.parts[0].indexes


class WithCamera:
    """A dataset whose items carry the camera given on the command line."""

    def __init__(self, dataset, focal_px: Optional[float],
                 camera: Optional[Tuple[float, float, float, float]]) -> None:
        self.dataset, self.focal_px, self.camera = dataset, focal_px, camera

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict:
        from clip_depth_ros.frames.geometry import Intrinsics
        item = dict(self.dataset[index])
        h, w = item['image'].shape[:2]
        if self.camera is not None:
            item['intrinsics'] = Intrinsics(*self.camera, w, h)
            item['focal'] = self.camera[0]
        if self.focal_px is not None:
            item['focal'] = self.focal_px
        return item

    def __getattr__(self, name: str):
        return getattr(self.dataset, name)


def build_predictor(args: argparse.Namespace, dataset=None):
    """Return a function (RGB, focal_px) -> metres and the model's max depth (None: baseline)."""
    from clip_depth_ros.engine.inference import DepthEstimator
    if args.baseline is None:
        if args.checkpoint is None:
            raise ValueError('give --checkpoint DIR or --baseline depthclip|median')
        estimator = DepthEstimator.from_checkpoint(args.checkpoint, device=args.device,
                                                   precision=args.precision)
        return estimator.predict, estimator.max_depth_m
    if args.baseline == 'median':
        value = args.constant_depth_m
        if value is None:
            value = training_median(args)
        return constant_predictor(value), None
    return _depthclip_predictor(args), None


def _check_sequence(item: Dict, args: argparse.Namespace) -> None:
    if 'stamp_ns' not in item:
        raise ValueError(f'--poses: {args.data_root} ({args.dataset}) has no frame stamps; '
                         'temporal consistency needs a bag or a tum sequence')
    if 'intrinsics' not in item:
        raise ValueError(f'--poses: {args.data_root} has no intrinsics (no intrinsics.txt); '
                         'give --intrinsics FILE')


def training_median(args: argparse.Namespace) -> float:
    """Median valid ground truth over the training part of a bag or TUM time split."""
    if args.dataset not in ('bag', 'tum'):
        raise ValueError('--baseline median computes its constant from the training part of '
                         'a bag or tum dataset; give --constant-depth-m for other datasets')
    train, _ = load_splits(args)
    # A millimetre histogram rather than every pixel: memory stays bounded on long recordings.
    counts = np.zeros(MEDIAN_MAX_MM + 1, np.int64)
    for i in range(len(train)):
        depth = train[i]['depth']
        mm = np.rint(depth[depth > 1e-3] * 1000).astype(np.int64)
        counts += np.bincount(np.clip(mm, 0, MEDIAN_MAX_MM), minlength=MEDIAN_MAX_MM + 1)
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f'{args.data_root}: the training part holds no valid depth')
    return float(np.searchsorted(np.cumsum(counts), (total + 1) / 2)) / 1000


def constant_predictor(depth_m: float):
    if not depth_m > 0:
        raise ValueError(f'constant depth must be > 0 m, got {depth_m}')

    def predict(rgb: np.ndarray, focal_px: Optional[float] = None) -> np.ndarray:
        return np.full(rgb.shape[:2], depth_m, np.float32)
    predict.depth_m = depth_m
    return predict


def _depthclip_predictor(args: argparse.Namespace):
    """Run DepthCLIP as the original runs it (flip averaging included), through the input rule."""
    from clip_depth_ros.engine.inference import DepthClipEstimator
    try:
        return DepthClipEstimator(args.backbone, args.pretrained, args.device).predict
    except Exception as e:  # noqa: B902 - open_clip raises many types for missing weights
        from clip_depth_ros.cli.common import one_line
        raise RuntimeError(f'DepthCLIP baseline: {one_line(e)}') from e


def describe_focal(args: argparse.Namespace, predict) -> str:
    """Which focal length the prediction used, for the protocol line."""
    owner = getattr(predict, '__self__', None)
    if args.baseline is not None:
        return 'not used (baseline)'
    if getattr(owner, 'canonical_focal_px', 0) is None:
        return 'not used (legacy checkpoint)'
    if args.focal_px is not None:
        return f'{args.focal_px:g} px (--focal-px)'
    if args.intrinsics is not None:
        return 'fx of --intrinsics'
    return {'nyu': "the list's", 'kitti': "the list's", 'nyu_mat': '518.8579 px (NYU)',
            'bag': 'camera_info', 'tum': 'intrinsics.txt (unknown without)',
            'folder': 'intrinsics.txt (unknown without)'}[args.dataset]


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.train.datasets import write_pairs
    from clip_depth_ros.train.engine import evaluate
    from clip_depth_ros.train.metrics import format_table, resolve_protocol

    from clip_depth_ros.engine.output_files import check_outputs, write_atomic

    args = parse_args(argv)
    check_outputs(args.out, ['metrics.json', 'per_image.csv']
                  + (['pairs.csv'] if args.dataset in ('bag', 'tum') else []),
                  [args.checkpoint, args.data_root, args.gt_root, args.split_file,
                   args.intrinsics[0] if args.intrinsics and len(args.intrinsics) == 1 else None,
                   None if args.poses in (None, 'tf') else args.poses],
                  args.overwrite)
    args.max_depth_m = 10.0  # the readers' plausible range until the protocol is known
    dataset = load_dataset(args)  # fails on missing files before the model loads
    focal_px, camera = camera_from_args(args)
    if camera is not None or args.focal_px is not None:
        dataset = WithCamera(dataset, focal_px, camera)
    poses = None
    if args.poses == 'tf':
        from clip_depth_ros.train.datasets.bag import tf_poses
        if args.dataset != 'bag':
            raise ValueError('--poses tf reads /tf from bags: use it with --dataset bag')
        poses = tf_poses(dataset.indexes, args.tf_fixed_frame)
    elif args.poses is not None:
        from clip_depth_ros.train.temporal import read_tum_poses
        poses = read_tum_poses(Path(args.poses))
    if poses is not None:
        _check_sequence(dataset[0], args)  # before the model loads: fail in a second
    resolve_protocol(args.dataset, args.crop)  # a crop the dataset lacks: before the model
    predict, model_max = build_predictor(args, dataset)
    protocol = resolve_protocol(args.dataset, args.crop, model_max,
                                args.flip or args.baseline == 'depthclip',
                                describe_focal(args, predict))
    for part in getattr(dataset, 'parts', [dataset]):  # frames are read from here on
        check = getattr(part, 'depth_check', None)
        if check is not None:
            check.max_m = protocol.max_depth
    temporal = None
    if poses is not None:
        from clip_depth_ros.train.temporal import TemporalConsistency
        temporal = TemporalConsistency(poses, args.temporal_k, protocol.min_depth,
                                       protocol.max_depth, protocol.mask)
    aligned = None
    if args.align is not None:  # scale anchoring, scored beside the plain prediction
        from clip_depth_ros.train.alignment import AlignedScores
        aligned = AlignedScores(args.align, protocol.min_depth, protocol.max_depth,
                                protocol.mask, args.align_seed)
    hooks = [h.add for h in (temporal, aligned) if h is not None]
    metrics, rows = evaluate(predict, dataset, protocol, progress=True,
                             on_prediction=(lambda item, pred: [h(item, pred) for h in hooks])
                             if hooks else None)
    if metrics['count'] == 0:
        raise ValueError(f'{args.data_root}: no frame has ground truth inside the crop and '
                         f'{protocol.min_depth:g}..{protocol.max_depth:g} m '
                         f'({100 * metrics["gt_out_of_range_fraction"]:.0f} % of the measured '
                         'pixels lie outside the range): check the depth scale and format')
    metrics['protocol'] = protocol.to_dict()
    tag = protocol.tag()
    for row in rows:
        row['protocol'] = tag
    fields = ['name', *METRICS, 'gt_out_of_range', 'protocol']
    if args.baseline == 'median':
        metrics['constant_depth_m'] = predict.depth_m
    if temporal is not None:
        metrics.update(temporal.summary())
        fields += list(TEMPORAL_COLUMNS)
        for row in rows:
            row.update(temporal.rows.get(row['name'], {}))
    if aligned is not None:
        from clip_depth_ros.train.alignment import ALIGNED_COLUMNS
        metrics.update(aligned.metrics())
        fields += list(ALIGNED_COLUMNS)
        for row in rows:
            row.update(aligned.rows.get(row['name'], {}))
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / 'metrics.json', json.dumps(metrics, indent=2) + '\n')
    per_image = io.StringIO(newline='')
    writer = csv.DictWriter(per_image, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(args.out / 'per_image.csv', per_image.getvalue())
    pairs = write_pairs(args.out, dataset, split_name='' if args.subset == 'all' else args.subset)
    what = args.checkpoint
    if args.baseline == 'median':
        what = f'baseline constant {predict.depth_m:.4g} m'
    elif args.baseline:
        what = f'baseline {args.baseline} ({args.backbone})'
    print(f'{what} on {args.dataset} ({len(dataset)} images)')
    print(format_table(metrics, protocol))
    if aligned is not None:
        from clip_depth_ros.train.alignment import side_by_side
        print(side_by_side(metrics))
    written = [args.out / 'metrics.json', args.out / 'per_image.csv'] + ([pairs] if pairs else [])
    print('wrote ' + ', '.join(str(p) for p in written))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
