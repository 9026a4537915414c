# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How the depth_node process takes Ctrl-C and SIGTERM: both as a KeyboardInterrupt, at once.

Standard library only, so that the executable can install it before its heavy imports.
"""

import signal
import sys
from typing import Any


class Stopped(KeyboardInterrupt):
    """
    SIGTERM (or a lifecycle transition cut short by rclpy's shutdown): unwind as Ctrl-C does.

    Not an Exception: rclpy's lifecycle turns one raised in a transition into an ERROR
    transition, whose own event then fails on the dead context and logs an error.
    """


def _raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped()


def _unraisable(args: Any) -> None:
    # A stop that lands in a finalizer (__del__, a weakref callback) is not raised but printed
    # as 'Exception ignored ... Traceback'; say nothing and deliver it again instead.
    if isinstance(args.exc_value, KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        return
    sys.__unraisablehook__(args)


def install() -> None:
    """Take SIGTERM as Ctrl-C; a stop swallowed by a finalizer is delivered again, quietly."""
    signal.signal(signal.SIGTERM, _raise_stopped)
    sys.unraisablehook = _unraisable
