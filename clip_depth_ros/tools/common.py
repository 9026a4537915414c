# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What every command-line tool shares: logging set-up and turning known errors into exit 1."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Callable, Optional, Sequence

EXPECTED_ERRORS = (OSError, ValueError, RuntimeError)


def _quiet_random_init(record: logging.LogRecord) -> bool:
    # open_clip warns on the root logger whenever it builds random weights, which our tools
    # do on purpose (untrained checkpoints, tests); everything else it says still shows.
    return 'No pretrained weights loaded' not in record.getMessage()


def tool_main(func: Callable[[Optional[Sequence[str]]], int]) -> Callable[..., int]:
    """Known failures become one line on stderr and exit status 1, not a traceback."""

    @functools.wraps(func)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
        logging.getLogger().addFilter(_quiet_random_init)
        prog = func.__module__.rsplit('.', 1)[-1]
        try:
            return func(argv)
        except KeyboardInterrupt:
            print(f'{prog}: interrupted', file=sys.stderr)
            return 130
        except EXPECTED_ERRORS as e:
            print(f'error: {e}', file=sys.stderr)
            return 1

    return wrapper
