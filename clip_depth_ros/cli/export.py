# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-export: the image path of a checkpoint as ONNX, for one frame size."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from clip_depth_ros.cli.common import add_debug_option, add_overwrite_option, tool_main

# A real camera frame (TUM RGB-D fr1/rpy) shipped with the package: --check runs on it.
SAMPLE_FRAMES = Path(__file__).resolve().parent.parent / 'data' / 'tum_fr1_rpy' / 'rgb'


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-export (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-export', description=__doc__)
    p.add_argument('--checkpoint', required=True, type=Path, help='checkpoint directory')
    p.add_argument('--height', required=True, type=int, help='camera frame height (pixels)')
    p.add_argument('--width', required=True, type=int, help='camera frame width (pixels)')
    p.add_argument('--out', required=True, type=Path, help='output .onnx file')
    add_overwrite_option(p)
    p.add_argument('--opset', type=int, default=17, help='ONNX opset version')
    p.add_argument('--check', action='store_true',
                   help='run onnxruntime and PyTorch (fp32) on a real frame, end to end, and '
                        'print the largest relative difference')
    p.add_argument('--check-image', type=Path, default=None,
                   help='frame for --check (default: a shipped TUM RGB-D frame), resized to '
                        'the export size when it differs')
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def check_frame(path: Optional[Path], height: int, width: int):
    """Return a real RGB frame of height x width for --check."""
    import cv2
    from clip_depth_ros.frames.image_io import read_rgb
    if path is None:
        frames = sorted(SAMPLE_FRAMES.glob('*.png'))
        if not frames:
            raise FileNotFoundError(f'{SAMPLE_FRAMES}: no sample frames; pass --check-image')
        path = frames[0]
    rgb = read_rgb(path)
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return rgb


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.engine.checkpoint import load_checkpoint
    from clip_depth_ros.config import RANDOM_CLIP_WEIGHTS_MESSAGE
    from clip_depth_ros.engine.onnx import export_onnx
    from clip_depth_ros.engine.output_files import check_output
    args = parse_args(argv)
    if args.height <= 0 or args.width <= 0:
        raise ValueError(f'frame size must be positive, got {args.width}x{args.height}')
    check_output(args.out, [args.checkpoint, args.check_image], args.overwrite)
    rgb = check_frame(args.check_image, args.height, args.width) if args.check else None
    model = load_checkpoint(args.checkpoint, device='cpu')
    if model.random_clip_weights:
        print(f'warning: {args.checkpoint}: {RANDOM_CLIP_WEIGHTS_MESSAGE}')
    size = export_onnx(model, args.height, args.width, args.out, args.opset)
    print(f'wrote {args.out}: {args.width}x{args.height} frames, network input '
          f'{size[1]}x{size[0]}, text embedding folded in')
    if args.check:
        import numpy as np
        from clip_depth_ros.config import InferenceConfig
        from clip_depth_ros.engine.onnx import OnnxDepthEstimator
        from clip_depth_ros.engine.inference import DepthEstimator
        ours = DepthEstimator(model, InferenceConfig(device='cpu', precision='fp32')).predict(rgb)
        theirs = OnnxDepthEstimator(args.out).predict(rgb)
        print(f'max relative difference onnxruntime vs PyTorch (fp32, end to end, real frame): '
              f'{float(np.max(np.abs(theirs - ours) / ours)):.2e}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
