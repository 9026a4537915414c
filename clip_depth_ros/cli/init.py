# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""clip-depth-init: a valid untrained checkpoint, offline, for smoke tests of every tool."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from clip_depth_ros.cli.common import add_debug_option, add_overwrite_option, tool_main
from clip_depth_ros.config import ModelConfig, RANDOM_CLIP_WEIGHTS_MESSAGE
from clip_depth_ros.engine.checkpoint import (CLIP_WEIGHTS_FILE, CONFIG_FILE, is_weights_path,
                                              save_checkpoint, save_random_clip_weights,
                                              WEIGHTS_FILE)
from clip_depth_ros.engine.output_files import check_output, OutputRefused
import torch

_DEFAULTS = ModelConfig()


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-init (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-init', description=__doc__)
    p.add_argument('--backbone', default=_DEFAULTS.backbone, help='open_clip model name')
    p.add_argument('--out', required=True, type=Path, help='checkpoint directory to create')
    p.add_argument('--pretrained', default=None,
                   help='open_clip tag (e.g. openai) or weights file the checkpoint refers to; '
                        'default: random CLIP weights saved beside the checkpoint')
    p.add_argument('--max-depth', type=float, default=_DEFAULTS.max_depth_m, help='metres')
    p.add_argument('--mirror-tokens', type=int, default=_DEFAULTS.mirror_tokens,
                   help='learned token embeddings of the mirror')
    p.add_argument('--taps', type=int, nargs='+', default=list(_DEFAULTS.taps),
                   help='ViT blocks whose patch tokens feed the decoder')
    p.add_argument('--input-short-side', type=int, default=_DEFAULTS.input_short_side,
                   help='short side of the network input, pixels')
    p.add_argument('--input-max-tokens', type=int, default=_DEFAULTS.input_max_tokens,
                   help='cap on the network input, in patches (wider frames are scaled down)')
    p.add_argument('--canonical-focal-px', type=float, default=_DEFAULTS.canonical_focal_px,
                   help='fx at network scale the depth refers to (default: the NYU camera)')
    p.add_argument('--seed', type=int, default=0,
                   help='torch seed of the initial weights (same seed, same checkpoint)')
    add_overwrite_option(p, '--force')  # --force: its name before --overwrite was everyone's
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.models.factory import build_model

    args = parse_args(argv)
    if (args.out / CONFIG_FILE).exists() and not args.overwrite:
        raise OutputRefused(f'{args.out}: already holds a checkpoint; refusing to overwrite it '
                            '(--overwrite replaces outputs of an earlier run)')
    random_clip = args.pretrained is None
    pretrained = CLIP_WEIGHTS_FILE if random_clip else args.pretrained
    weights_in = None if random_clip or not is_weights_path(pretrained) else pretrained
    for name in (CONFIG_FILE, WEIGHTS_FILE) + ((CLIP_WEIGHTS_FILE,) if random_clip else ()):
        check_output(args.out / name, [weights_in], args.overwrite)
    if is_weights_path(pretrained) and not random_clip and not Path(pretrained).is_file():
        raise FileNotFoundError(f'{pretrained}: CLIP weights file not found')
    config = ModelConfig(backbone=args.backbone, pretrained=pretrained, taps=tuple(args.taps),
                         mirror_tokens=args.mirror_tokens, max_depth_m=args.max_depth,
                         input_short_side=args.input_short_side,
                         input_max_tokens=args.input_max_tokens,
                         canonical_focal_px=args.canonical_focal_px)
    torch.manual_seed(args.seed)
    # Shapes come from a randomly initialised CLIP: no download, even for a tag.
    model = build_model(config, clip_weights=None)
    args.out.mkdir(parents=True, exist_ok=True)
    if random_clip:
        save_random_clip_weights(args.out, model)
    save_checkpoint(args.out, config, model.trainable_state_dict(),
                    extra={'note': 'untrained: random mirror and decoder'})
    print(f'wrote {args.out} ({config.backbone}, {model.trainable_parameters():,} trainable '
          f'parameters, CLIP weights: {pretrained})')
    if random_clip:
        print(f'warning: {RANDOM_CLIP_WEIGHTS_MESSAGE} (smoke tests only)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
