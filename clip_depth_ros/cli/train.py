# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
clip-depth-train CONFIG [key=value ...]: train the mirror and decoder.

Also `python -m clip_depth_ros.train`, and under `torchrun --nproc_per_node=N` (DDP).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional, Sequence

from clip_depth_ros.cli.common import add_debug_option, add_overwrite_option, tool_main, UsageError


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of clip-depth-train (docs/ tables are generated from it)."""
    p = argparse.ArgumentParser(prog='clip-depth-train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', type=Path, help='YAML config (e.g. config/train_nyu.yaml)')
    p.add_argument('overrides', nargs='*', metavar='key=value',
                   help='dotted overrides, e.g. optim.epochs=5 data.root=datasets/nyu')
    p.add_argument('--print-config', action='store_true',
                   help='print the resolved config and exit')
    add_overwrite_option(p)
    add_debug_option(p)
    return p


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@tool_main
def main(argv: Optional[Sequence[str]] = None) -> int:
    from clip_depth_ros.config import ConfigError
    from clip_depth_ros.train.config import load_config
    args = parse_args(argv)
    if not args.config.is_file():
        raise FileNotFoundError(f'{args.config}: config file not found')
    cfg = load_config(args.config)  # the file's own errors are the file's (exit 1)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:  # the file was fine: the command line is wrong (bad key or YAML)
        raise UsageError(str(e)) from e
    if args.print_config:
        import yaml
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end='')
        return 0
    from clip_depth_ros.train.engine import check_out_dir, fit
    if os.environ.get('RANK', '0') == '0':  # under torchrun: rank 0 alone, before any writes
        check_out_dir(cfg, args.overwrite)
    out = fit(cfg)
    print(f'checkpoints: {out / "best"} (best validation), {out / "last"} (resume from here)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
