# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-bag: add depth, depth camera_info and point clouds to a recorded rosbag2."""

from __future__ import annotations

import argparse
from pathlib import Path
import signal
from typing import Optional, Sequence

from clip_depth_ros.cli.common import (add_debug_option, load_estimator, max_range_arg, tool_main,
                                       UsageError)
from clip_depth_ros.config import ANCHOR_FITS, AnchorConfig, PRECISIONS, RECTIFY_MODES
from clip_depth_ros.engine.output_files import check_output
from clip_depth_ros.frames.limits import FrameLimits


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-bag (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-bag', description=__doc__)
    p.add_argument('input', type=Path, help='input bag directory (MCAP or sqlite3)')
    p.add_argument('output', type=Path, help='output bag directory (must not exist)')
    p.add_argument('--checkpoint', required=True, type=Path, help='checkpoint directory')
    p.add_argument('--image-topic', action='append', default=[],
                   help='image topic to process (repeatable); default: every image topic')
    p.add_argument('--no-points', action='store_true', help='do not write point clouds')
    p.add_argument('--no-color', action='store_true', help='xyz clouds without the rgb field')
    p.add_argument('--max-range', type=max_range_arg, default=None,
                   help='metres beyond which depth is +Inf (REP 117), > 0, inf = no limit '
                   "(default: the model's max depth); the node's max_range parameter")
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default=None,
                   help='output storage (default: as the input)')
    p.add_argument('--rectify', choices=RECTIFY_MODES, default='auto',
                   help='auto: rectify frames whose camera_info has distortion (as the node '
                        'and image_proc do) and write depth, camera_info and points in the '
                        'rectified geometry; off: the images are already rectified')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: CUDA if present)')
    p.add_argument('--precision', default='auto', choices=PRECISIONS,
                   help='autocast precision; auto = bf16 where the device computes it natively')
    p.add_argument('--max-pixels', type=int, default=FrameLimits.max_pixels,
                   help='frames with more pixels are skipped, before decoding (default '
                        '%(default)s)')
    p.add_argument('--compressed-formats', nargs='+', default=list(FrameLimits.compressed_formats),
                   metavar='FORMAT', help='compressed formats decoded (default: jpeg png)')
    g = p.add_argument_group('scale anchoring to a range sensor recorded in the bag')
    g.add_argument('--reference-topic', default='',
                   help="anchor each frame's depth scale to this topic, as the node does: a "
                   'depth Image registered to the camera (16UC1 mm or 32FC1 m; its camera_info '
                   'beside it), a PointCloud2 or a LaserScan; matched by header stamp')
    g.add_argument('--reference-tolerance-ms', type=float, default=AnchorConfig.tolerance_ms,
                   help='largest stamp difference of a frame and its reference (default '
                   '%(default)s)')
    g.add_argument('--reference-extrinsic', type=float, nargs=7, default=None,
                   metavar=('TX', 'TY', 'TZ', 'QX', 'QY', 'QZ', 'QW'),
                   help="points/scan: the sensor in the camera's optical frame (maps sensor "
                   'points into it); default: the points are in the optical frame')
    g.add_argument('--reference-fit', choices=ANCHOR_FITS, default=AnchorConfig.fit,
                   help='scale (log depth) or scale_shift (inverse depth)')
    g.add_argument('--reference-time-constant-s', type=float,
                   default=AnchorConfig.time_constant_s,
                   help='smoothing of the scale in stamp time; 0 = per frame')
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.bags.depth_writer import BagError, process_bag, verify_bag
    from tqdm import tqdm

    args = parse_args(argv)
    # A service manager stops us with SIGTERM: clean up like an interrupt, leave no half bag.
    signal.signal(signal.SIGTERM, _interrupt)
    if not args.input.exists():
        raise BagError(f'{args.input}: no such bag')
    check_output(args.output, [args.input, args.checkpoint], overwrite=None)
    try:
        limits = FrameLimits(args.max_pixels, tuple(args.compressed_formats))
        anchor = AnchorConfig(mode='depth', tolerance_ms=args.reference_tolerance_ms,
                              fit=args.reference_fit,
                              time_constant_s=args.reference_time_constant_s,
                              extrinsic=tuple(args.reference_extrinsic or ()))
    except ValueError as e:
        raise UsageError(str(e)) from e
    verify_bag(args.input)  # before the model loads: a damaged bag fails in a second
    estimator = load_estimator(args.checkpoint, device=args.device, precision=args.precision)
    bar = None

    def progress(total: int):
        nonlocal bar
        bar = tqdm(total=total, unit='frame', desc=args.input.name)
        return lambda: bar.update(1)

    try:
        summary = process_bag(args.input, args.output, estimator,
                              image_topics=args.image_topic, points=not args.no_points,
                              colorize_points=not args.no_color,
                              max_range_m=(estimator.max_depth_m if args.max_range is None
                                           else args.max_range),
                              storage=args.storage, progress=progress, limits=limits,
                              verify=False, reference_topic=args.reference_topic,
                              anchor=anchor, rectify=args.rectify)
    finally:
        if bar is not None:
            bar.close()
    print(f'wrote {args.output}: {summary.frames} frames in {summary.seconds:.1f} s '
          f'({summary.fps:.2f} frames/s)')
    for topic, count in sorted(summary.written.items()):
        print(f'  {topic}: {count}')
    for (topic, kind), (count, first) in sorted(summary.skip_reasons.items()):
        print(f'  skipped {count} frames on {topic} ({kind}: {first})')
    for topic, (fixed, left) in sorted(summary.anchored.items()):
        print(f'  {topic}: {fixed} frames anchored to {args.reference_topic}, {left} left as '
              'predicted (no reference within the tolerance, or no fit)')
    for topic in summary.no_camera_info:
        print(f'  {topic}: no camera_info, depth only')
    for topic, state in sorted(summary.rectify.items()):
        print(f'  {topic}: rectify {state}')
    for topic, (count, first) in sorted(summary.camera_info_problems.items()):
        print(f'  {count} frames on {topic} without usable camera_info ({first})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
