# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What every command-line tool shares: logging set-up and turning failures into one line.

Every failure ends as one line on stderr, `<tool>: error: <message>`, and exit status 1 (2 for
usage errors, 130 for an interrupt); `--debug` anywhere on the command line adds the traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from typing import Callable, List, Optional, Sequence

EXPECTED_ERRORS = (OSError, ValueError, RuntimeError)
DEBUG_FLAG = '--debug'
MESSAGE_CHARS = 500
# module -> the console script users type (setup.py entry points)
TOOL_NAMES = {'bag': 'clip-depth-bag', 'infer': 'clip-depth-infer', 'demo': 'clip-depth-demo',
              'train': 'clip-depth-train', 'eval': 'clip-depth-eval',
              'export': 'clip-depth-export', 'init': 'clip-depth-init'}


class UsageError(ValueError):
    """The command line asks for something impossible: exit status 2, like argparse."""


def _quiet_open_clip(record: logging.LogRecord) -> bool:
    # open_clip warns on the root logger whenever it builds random weights, which our tools
    # do on purpose (untrained checkpoints, tests), and logs a failed download before raising
    # the same text, which the tool's one error line carries; everything else still shows.
    message = record.getMessage()
    return not ('No pretrained weights loaded' in message
                or message.startswith('Failed to download weights for tag'))


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
        logging.getLogger().addFilter(_quiet_open_clip)
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
            return 2 if isinstance(e, UsageError) else 1

    return wrapper
