# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Depth datasets in the layouts people download, and a plain folder for a robot's own data.

BTS lists (NYU, KITTI: `lists.py`), NYU's labelled .mat (`nyu.py`), `rgb/` + `depth/` folders
(`folder.py`), TUM RGB-D sequences (`tum.py`) and rosbag2 bags (`bag.py`).

Every item is a dict: `image` (H, W, 3) uint8 RGB, `depth` (H, W) float32 metres with 0 where
there is no measurement, `focal` = fx in pixels at the item's own resolution (0 when unknown),
`name`; sequences add `stamp_ns` (int), `sequence` (str) and `intrinsics`
(geometry.Intrinsics) where known, for temporal consistency.
"""


from __future__ import annotations

from pathlib import Path

from clip_depth_ros.train.datasets.bag import BagTopics, build_bag_datasets
from clip_depth_ros.train.datasets.common import (associate, check_pair, DatasetError,
                                                  DepthCheck, IMAGE_SUFFIXES, PAIR_FIELDS,
                                                  read_intrinsics_txt, read_pair, split_with_gap,
                                                  time_split, write_pairs)
from clip_depth_ros.train.datasets.folder import FolderDataset
from clip_depth_ros.train.datasets.lists import (Entry, KB_CROP, kb_crop, ListDataset,
                                                 parse_bts_list)
from clip_depth_ros.train.datasets.nyu import NyuMatDataset
from clip_depth_ros.train.datasets.splits import check_splits, SplitError
from clip_depth_ros.train.datasets.tum import TumDataset
import numpy as np

__all__ = ['associate', 'BagTopics', 'build_datasets', 'check_pair', 'DatasetError', 'DepthCheck',
           'Entry', 'FolderDataset', 'IMAGE_SUFFIXES', 'kb_crop', 'KB_CROP', 'ListDataset',
           'NyuMatDataset', 'PAIR_FIELDS', 'parse_bts_list', 'read_intrinsics_txt', 'read_pair',
           'split_with_gap', 'SplitError', 'time_split', 'TumDataset', 'write_pairs']


def build_datasets(data, seed: int = 0, max_depth_m: float = 10.0):
    """
    Build the (train, val) datasets of a DataConfig, guarded by `splits.check_splits`.

    Validation shares no frame with training, and no test-split frame is in either unless
    data.allow_test_frames.

    `max_depth_m` bounds the plausible depth of folder and bag data (the model's range).
    """
    train, val = _build(data, seed, max_depth_m)
    check_splits(train, val, data.allow_test_frames)
    return train, val


def _build(data, seed: int, max_depth_m: float):
    root = Path(data.root)
    gt_root = Path(data.gt_root) if data.gt_root else root
    if data.dataset == 'folder':
        full = FolderDataset(root, data.depth_scale, depth_format=data.depth_format,
                             max_depth_m=max_depth_m)
        names = full.names()
        order = np.random.default_rng(seed).permutation(len(names))
        n_val = int(round(len(names) * data.val_fraction))
        if data.val_fraction > 0:
            n_val = max(n_val, 1)
        val_names = sorted(names[i] for i in order[:n_val])
        train_names = sorted(names[i] for i in order[n_val:])
        make = (lambda names: FolderDataset(root, data.depth_scale, names, data.depth_format,
                                            depth_check=full.depth_check))
        return make(train_names), (make(val_names) if val_names else None)
    if data.dataset == 'bag':
        if not data.root:
            raise DatasetError('data.root: required for the bag dataset (a bag or a folder '
                               'of bags)')
        return build_bag_datasets(
            root, BagTopics(data.image_topic, data.depth_topic, data.camera_info_topic),
            data.pair_tolerance_ms, data.val_fraction, data.bags, data.val_bags,
            data.depth_scale, val_gap_s=data.val_gap_s, max_depth_m=max_depth_m)
    if data.dataset == 'tum':
        full = TumDataset(root, tolerance_ns=int(round(data.pair_tolerance_ms * 1e6)))
        train_end, val_start = split_with_gap([f[0] for f in full.frames], data.val_fraction,
                                              data.val_gap_s)
        if train_end == 0:
            raise DatasetError(f'{root}: no training frames left {data.val_gap_s:g} s before '
                               'the validation part (data.val_gap_s)')
        val = full.subset(val_start, len(full)) if val_start < len(full) else None
        return full.subset(0, train_end, gap_stop=val_start), val
    if data.dataset == 'nyu_mat':
        raise DatasetError('nyu_mat holds the labelled test images: train on the BTS "sync" '
                           'lists (dataset: nyu) and use nyu_mat for evaluation')
    scale = 1000.0 if data.dataset == 'nyu' else 256.0
    kb = data.dataset == 'kitti'
    if not data.train_list:
        raise DatasetError('data.train_list: required for the nyu and kitti datasets')
    train = ListDataset(parse_bts_list(Path(data.train_list), root, gt_root), scale, kb)
    val = None
    if data.val_list:
        val = ListDataset(parse_bts_list(Path(data.val_list), root, gt_root), scale, kb)
        val.depth_check = train.depth_check
    return train, val
