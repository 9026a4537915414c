# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What every command-line tool shares: logging set-up, failures as one line, safe output files.

Every failure ends as one line on stderr, `<tool>: error: <message>`, and exit status 1 (2 for
usage errors and refused outputs, 130 for an interrupt); `--debug` anywhere on the command line
adds the traceback. Outputs follow engine.output_files: never inside an input, never over a
file the tool did not create unless `--overwrite` (added by `add_overwrite_option`), never
through a link, no temporary left behind, created with the user's umask.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
from pathlib import Path
import sys
import traceback
from typing import Any, Callable, List, Optional, Sequence, Tuple

from clip_depth_ros.config import check_max_range, ConfigError

from clip_depth_ros.engine.output_files import OutputRefused, OVERWRITE_HELP

EXPECTED_ERRORS = (OSError, ValueError, RuntimeError)
DEBUG_FLAG = '--debug'
MESSAGE_CHARS = 500
# module -> the console script users type (setup.py entry points)
TOOL_NAMES = {'bag': 'clip-depth-bag', 'infer': 'clip-depth-infer', 'demo': 'clip-depth-demo',
              'train': 'clip-depth-train', 'eval': 'clip-depth-eval',
              'export': 'clip-depth-export', 'init': 'clip-depth-init'}
Camera = Tuple[float, float, float, float]  # fx, fy, cx, cy in pixels


class UsageError(ValueError):
    """The command line asks for something impossible: exit status 2, like argparse."""


def add_overwrite_option(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """Add the one --overwrite option: same name, same help in every tool that replaces outputs."""
    parser.add_argument('--overwrite', *aliases, action='store_true', help=OVERWRITE_HELP)


def _quiet_random_init(record: logging.LogRecord) -> bool:
    # open_clip warns on the root logger whenever it builds random weights, which our tools
    # do on purpose (untrained checkpoints, tests); everything else it says still shows.
    return 'No pretrained weights loaded' not in record.getMessage()


def one_line(e: BaseException) -> str:
    """
    Describe an exception in one line that names the file where the exception knows it.

    Errors of our own already name their file; an OSError from deep inside a library (a
    full disk) often does not, so its filename is added. Unexpected types keep their name.
    """
    text = str(e)
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror if not text or text.startswith('[Errno') else text
        for name in (e.filename, getattr(e, 'filename2', None)):
            if name is not None and str(name) not in text:
                text = f'{name}: {text}'
    if not isinstance(e, EXPECTED_ERRORS) or not text:
        text = f'{type(e).__name__}: {text}' if text else type(e).__name__
    text = ' | '.join(part.strip() for part in text.splitlines() if part.strip())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + '...'


def load_estimator(checkpoint, **kwargs):
    """DepthEstimator.from_checkpoint, any failure named by the checkpoint it came from."""
    from clip_depth_ros.engine.inference import DepthEstimator
    try:
        return DepthEstimator.from_checkpoint(checkpoint, **kwargs)
    except Exception as e:  # noqa: B902 - e.g. safetensors' own error for a truncated file
        if str(checkpoint) in str(e):
            raise
        raise RuntimeError(f'{checkpoint}: cannot load the checkpoint: {one_line(e)}') from e


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """Show --debug in the tool's --help; tool_main takes it out wherever it stands."""
    parser.add_argument(DEBUG_FLAG, action='store_true',
                        help='on failure, print the traceback after the one-line error')


def add_camera_options(parser: Any) -> None:
    """Add the camera options every tool reading image files shares (infer, eval)."""
    parser.add_argument('--focal-px', type=float, default=None,
                        help="the camera's fx in pixels at the images' own resolution (depth "
                        "scales with it); overrides --intrinsics' fx and what a dataset knows")
    parser.add_argument('--intrinsics', nargs='+', default=None, metavar='FILE|NUM',
                        help="the camera at the images' own resolution: an intrinsics.txt "
                        'holding "fx fy cx cy", or the four numbers')


def camera_from_args(args: Any) -> Tuple[Optional[float], Optional[Camera]]:
    """Return (focal_px, (fx, fy, cx, cy)) of `add_camera_options`, checked; None: not given."""
    from clip_depth_ros.train.datasets.common import read_intrinsics_txt
    focal = args.focal_px
    if focal is not None and not (math.isfinite(focal) and focal > 0):
        raise UsageError(f'--focal-px: must be a positive number of pixels, got {focal!r}')
    camera = None
    if args.intrinsics is not None:
        if len(args.intrinsics) == 1:
            camera = read_intrinsics_txt(Path(args.intrinsics[0]), required=True)
        elif len(args.intrinsics) == 4:
            try:
                camera = tuple(float(v) for v in args.intrinsics)
            except ValueError:
                camera = None
            if camera is None or not (all(map(math.isfinite, camera)) and camera[0] > 0
                                      and camera[1] > 0):
                raise UsageError('--intrinsics: fx fy cx cy must be finite numbers with '
                                 f'fx, fy > 0, got {" ".join(args.intrinsics)}')
        else:
            raise UsageError('--intrinsics: give a file or four numbers FX FY CX CY, got '
                             f'{len(args.intrinsics)} values')
    return focal, camera


def max_range_arg(text: str) -> float:
    """Parse --max-range by the node's rule (> 0 m, inf = no limit); argparse type."""
    try:
        value = float(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f'not a number: {text!r}') from e
    try:
        return check_max_range(value, '--max-range')
    except ConfigError as e:  # argparse names the option itself
        raise argparse.ArgumentTypeError(str(e).split(': ', 1)[1]) from e


def split_debug(argv: Optional[Sequence[str]]) -> tuple:
    """(argv without --debug, whether --debug was given)."""
    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    return [a for a in args if a != DEBUG_FLAG], debug


def tool_main(func: Callable[[Optional[Sequence[str]]], int]) -> Callable[..., int]:
    """Wrap a tool's main: every failure becomes one line and an exit status, no traceback."""

    @functools.wraps(func)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
        logging.getLogger().addFilter(_quiet_random_init)
        module = func.__module__.rsplit('.', 1)[-1]
        if module == '__main__':  # python -m clip_depth_ros.cli.bag
            module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        prog = TOOL_NAMES.get(module, module)
        args, debug = split_debug(argv)
        if debug:
            logging.getLogger().setLevel(logging.DEBUG)
        try:
            return func(args)
        except KeyboardInterrupt:
            print(f'{prog}: interrupted', file=sys.stderr)
            return 130
        except SystemExit:
            raise  # argparse: its usage line and status 2
        except Exception as e:  # noqa: B902 - the one place every failure is turned into a line
            if debug:
                traceback.print_exc()
            print(f'{prog}: error: {one_line(e)}', file=sys.stderr)
            return 2 if isinstance(e, (UsageError, OutputRefused)) else 1

    return wrapper
