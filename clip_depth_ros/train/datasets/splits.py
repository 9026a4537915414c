# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Guarded splits: no validation frame trains, no known test frame trains or validates.

Unless the configuration says so (data.allow_test_frames, then logged), a test frame never
trains or selects a checkpoint.

The published test splits ship with the package (`data/splits/`): NYU Depth v2's 654 official
test images, by the names of the BTS test list (`kitchen/rgb_00000.jpg`) and by their index in
the labelled .mat (splits.mat testNdxs), and KITTI's Eigen test split (the BTS list
`eigen_test_files_with_gt.txt`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
import re
from typing import FrozenSet, Iterable, List, Optional, Tuple

from clip_depth_ros.train.datasets.common import DatasetError

LOG = logging.getLogger(__name__)
SPLITS_DIR = Path(__file__).resolve().parents[2] / 'data' / 'splits'
NYU_TEST_FILE = SPLITS_DIR / 'nyu_test_frames.txt'
KITTI_TEST_FILE = SPLITS_DIR / 'kitti_eigen_test_frames.txt'
NYU_TEST_COUNT = 654
_NYU_NAME = re.compile(r'(?:^|/)([^/]+)/rgb_(\d{5})\.jpg$')
_KITTI_NAME = re.compile(r'(\d{4}_\d{2}_\d{2}_drive_\d{4}_sync)/(image_0[23])/data/(\d{10})\.png$')


class SplitError(DatasetError):
    """A run's data would train or validate on frames it must not: the command is wrong."""


def _ranges(path: Path) -> Iterable[Tuple[str, List[int]]]:
    """Lines `NAME A B-C ...` of a shipped split file (comments start with #)."""
    for line in path.read_text(encoding='utf-8').splitlines():
        if not line.strip() or line.startswith('#'):
            continue
        name, *spans = line.split()
        numbers: List[int] = []
        for span in spans:
            first, _, last = span.partition('-')
            numbers.extend(range(int(first), int(last or first) + 1))
        yield name, numbers


@functools.lru_cache(maxsize=None)
def nyu_test_names() -> FrozenSet[str]:
    """Name the 654 test images as the BTS test list does: `scene/rgb_NNNNN.jpg`."""
    return frozenset(f'{scene}/rgb_{n:05d}.jpg' for scene, numbers in _ranges(NYU_TEST_FILE)
                     for n in numbers)


@functools.lru_cache(maxsize=None)
def nyu_test_indices() -> FrozenSet[int]:
    """Index the 654 test images 1-based in the labelled .mat (splits.mat testNdxs)."""
    return frozenset(n + 1 for _, numbers in _ranges(NYU_TEST_FILE) for n in numbers)


@functools.lru_cache(maxsize=None)
def kitti_test_frames() -> FrozenSet[str]:
    """
    Name KITTI's Eigen test frames: `DRIVE_sync/image_0C/data/FRAME.png` (697 moments).

    The list names the left camera (image_02); the right camera's image of the same moment
    (image_03) is the same scene a few decimetres over, so it counts as a test frame too.
    """
    return frozenset(f'{drive}/{camera}/data/{n:010d}.png'
                     for drive, numbers in _ranges(KITTI_TEST_FILE) for n in numbers
                     for camera in ('image_02', 'image_03'))


def test_frame(name: str) -> Optional[str]:
    """Which published test split a frame (an image path or a labelled-.mat item) is in."""
    name = str(name).replace('\\', '/')
    match = _NYU_NAME.search(name)
    if match and f'{match.group(1)}/rgb_{match.group(2)}.jpg' in nyu_test_names():
        return 'the official NYU Depth v2 test split (654 images)'
    if name.startswith('nyu_mat/') and name[8:].isdigit() and \
            int(name[8:]) in nyu_test_indices():
        return 'the official NYU Depth v2 test split (splits.mat testNdxs)'
    match = _KITTI_NAME.search(name)
    if match and f'{match.group(1)}/{match.group(2)}/data/{match.group(3)}.png' in \
            kitti_test_frames():
        return "KITTI's Eigen test split (697 frames)"
    return None


def frame_names(dataset) -> List[str]:
    """Name the frames a dataset reads, each by its file (or bag message)."""
    if dataset is None:
        return []
    if hasattr(dataset, 'frame_names'):
        return list(dataset.frame_names())
    return []


def check_splits(train, val, allow_test_frames: bool = False) -> None:
    """
    Refuse validation frames that train too, and test-split frames anywhere (SplitError).

    With `allow_test_frames`, test-split frames are used and the fact is logged as a warning.
    """
    train_names, val_names = frame_names(train), frame_names(val)
    shared = sorted(set(train_names) & set(val_names))
    if shared:
        raise SplitError(f'validation: {len(shared)} of {len(val_names)} frames are training '
                         f'frames too (e.g. {shared[0]}); validation on training data says '
                         'nothing about other frames: remove them from one of the lists')
    for part, names in (('validation', val_names), ('training', train_names)):
        found = [(n, s) for n in names for s in (test_frame(n),) if s]
        if not found:
            continue
        what = (f'{part}: {len(found)} of {len(names)} frames are in {found[0][1]} '
                f'(e.g. {found[0][0]})')
        if allow_test_frames:
            LOG.warning('%s; used anyway (data.allow_test_frames: true): numbers on that '
                        'test split are no longer a held-out result', what)
            continue
        use = ('the test split must not select the checkpoint' if part == 'validation'
               else 'a model trained on test frames cannot be scored on them')
        raise SplitError(f'{what}: {use}; hold out frames of the training scenes instead, or '
                         'set data.allow_test_frames: true to use them anyway (logged)')
