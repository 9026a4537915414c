# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
clip-depth-infer: depth for image files, as .npy metres and a colour-mapped .png.

Outputs are `<out>/<stem>.npy` and `<out>/<stem>.png`. The tool never replaces a file it
did not create: an output that would be one of the inputs is refused (exit 2), and so is an
existing output file unless --overwrite is given. Each output is written to a unique
temporary file beside it and renamed, so an interrupted run leaves no half file; files are
created with the user's umask.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time
from typing import List, Optional, Sequence

from clip_depth_ros.cli.common import (add_camera_options, add_debug_option, add_overwrite_option,
                                       camera_from_args, load_estimator, tool_main, UsageError)
from clip_depth_ros.config import PRECISIONS
from clip_depth_ros.engine.output_files import check_output, write_atomic
from clip_depth_ros.frames.limits import FrameLimits, FrameRejected
from clip_depth_ros.serving.frame_path import decode_for_model
import numpy as np


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-infer (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-infer', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('images', nargs='+', type=Path, help='image files (png, jpg)')
    p.add_argument('--checkpoint', required=True, type=Path, help='checkpoint directory')
    p.add_argument('--out', required=True, type=Path, help='output directory')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: CUDA if present)')
    p.add_argument('--precision', default='auto', choices=PRECISIONS,
                   help='autocast precision; auto = bf16 where the device computes it natively')
    p.add_argument('--colormap-max', type=float, default=None,
                   help='far end of the colour map in metres (default: the model max depth)')
    add_overwrite_option(p)
    p.add_argument('--max-pixels', type=int, default=FrameLimits.max_pixels,
                   help='refuse images with more pixels, before decoding (default %(default)s)')
    add_camera_options(p.add_argument_group("camera (default: the checkpoint's canonical "
                                            'camera)'))
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def output_paths(images: Sequence[Path], out: Path, overwrite: bool) -> List[tuple]:
    """(npy, png) per image; refuses outputs that collide with each other, an input or a file."""
    stems = [p.stem for p in images]
    if len(set(stems)) != len(stems):
        raise UsageError('two input images share a file stem; outputs would overwrite each other')
    pairs = [(out / f'{s}.npy', out / f'{s}.png') for s in stems]
    for target in (t for pair in pairs for t in pair):
        check_output(target, images, overwrite)
    return pairs


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.frames.image_io import read_rgb, write_rgb_png

    args = parse_args(argv)
    try:
        limits = FrameLimits(max_pixels=args.max_pixels)
    except ValueError as e:
        raise UsageError(str(e)) from e
    focal_override, camera = camera_from_args(args)
    targets = output_paths(args.images, args.out, args.overwrite)
    # Fail on a bad file before loading the model.
    frames = [read_rgb(p, limits) for p in args.images]
    from clip_depth_ros.frames.colormap import colorize_depth
    estimator = load_estimator(args.checkpoint, device=args.device, precision=args.precision)
    for path, rgb in zip(args.images, frames):  # the node's input rule, before anything is written
        try:
            decode_for_model(lambda: rgb, estimator)
        except FrameRejected as e:
            raise FrameRejected(f'{path}: {e}', e.kind) from e
    vmax = args.colormap_max or estimator.max_depth_m
    args.out.mkdir(parents=True, exist_ok=True)
    for path, rgb, (npy, png) in zip(args.images, frames, targets):
        start = time.perf_counter()
        focal = focal_override or (camera[0] if camera is not None else None)
        depth = estimator.predict(rgb, focal_px=focal)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        write_atomic(check_output(npy, args.images, args.overwrite), lambda t: np.save(t, depth))
        view = colorize_depth(depth, 0.0, vmax)
        write_atomic(check_output(png, args.images, args.overwrite),
                     lambda t: write_rgb_png(t, view))
        print(f'{path}: {depth.shape[1]}x{depth.shape[0]}, depth {np.nanmin(depth):.2f}..'
              f'{np.nanmax(depth):.2f} m, {elapsed_ms:.0f} ms')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
