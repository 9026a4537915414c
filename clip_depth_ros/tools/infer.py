# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-infer: depth for image files, as .npy metres and a colour-mapped .png."""

from __future__ import annotations

import argparse
from pathlib import Path
import time
from typing import Optional, Sequence

from clip_depth_ros.config import PRECISIONS
from clip_depth_ros.tools.common import tool_main
import numpy as np


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='clip-depth-infer', description=__doc__)
    p.add_argument('images', nargs='+', type=Path, help='image files (png, jpg, ...)')
    p.add_argument('--checkpoint', required=True, type=Path, help='checkpoint directory')
    p.add_argument('--out', required=True, type=Path, help='output directory')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: CUDA if present)')
    p.add_argument('--precision', default='auto', choices=PRECISIONS)
    p.add_argument('--colormap-max', type=float, default=None,
                   help='far end of the colour map in metres (default: the model max depth)')
    return p.parse_args(argv)


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.colormap import colorize_depth
    from clip_depth_ros.image_io import read_rgb, write_rgb_png
    from clip_depth_ros.inference import DepthEstimator

    args = parse_args(argv)
    stems = [p.stem for p in args.images]
    if len(set(stems)) != len(stems):
        raise ValueError('two input images share a file stem; outputs would overwrite each other')
    frames = [read_rgb(p) for p in args.images]  # fail on a bad file before loading the model
    estimator = DepthEstimator.from_checkpoint(args.checkpoint, device=args.device,
                                               precision=args.precision)
    vmax = args.colormap_max or estimator.max_depth_m
    args.out.mkdir(parents=True, exist_ok=True)
    for path, rgb in zip(args.images, frames):
        start = time.perf_counter()
        depth = estimator.predict(rgb)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        np.save(args.out / f'{path.stem}.npy', depth)
        write_rgb_png(args.out / f'{path.stem}.png', colorize_depth(depth, 0.0, vmax))
        print(f'{path}: {depth.shape[1]}x{depth.shape[0]}, depth {np.nanmin(depth):.2f}..'
              f'{np.nanmax(depth):.2f} m, {elapsed_ms:.0f} ms')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
