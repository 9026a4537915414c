# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-export: the image path of a checkpoint as ONNX, for one frame size."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from clip_depth_ros.tools.common import tool_main


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='clip-depth-export', description=__doc__)
    p.add_argument('--checkpoint', required=True, type=Path)
    p.add_argument('--height', required=True, type=int, help='camera frame height (pixels)')
    p.add_argument('--width', required=True, type=int, help='camera frame width (pixels)')
    p.add_argument('--out', required=True, type=Path, help='output .onnx file')
    p.add_argument('--opset', type=int, default=17)
    p.add_argument('--check', action='store_true',
                   help='run onnxruntime and PyTorch on one frame and print the difference')
    return p.parse_args(argv)


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.checkpoint import load_checkpoint
    from clip_depth_ros.export import export_onnx
    args = parse_args(argv)
    if args.height <= 0 or args.width <= 0:
        raise ValueError(f'frame size must be positive, got {args.width}x{args.height}')
    model = load_checkpoint(args.checkpoint, device='cpu')
    size = export_onnx(model, args.height, args.width, args.out, args.opset)
    print(f'wrote {args.out}: {args.width}x{args.height} frames, network input '
          f'{size[1]}x{size[0]}, text embedding folded in')
    if args.check:
        import numpy as np
        from clip_depth_ros.export import OnnxDepthEstimator
        from clip_depth_ros.inference import DepthEstimator
        rgb = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), np.uint8)
        ours = DepthEstimator(model).predict(rgb)
        theirs = OnnxDepthEstimator(args.out).predict(rgb)
        print(f'max relative difference onnxruntime vs PyTorch: '
              f'{float(np.max(np.abs(theirs - ours) / ours)):.2e}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
