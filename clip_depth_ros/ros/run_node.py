# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The `depth_node` executable: stop signals are handled before the heavy imports begin.

Importing the node (rclpy, numpy, OpenCV) takes a second or more; a Ctrl-C or SIGTERM from
launch in that time must end the process as quietly as one later on (exit 0, no traceback),
not by Python's default (a KeyboardInterrupt traceback, or death by SIGTERM).
"""

import os
import sys
from typing import Optional

from clip_depth_ros.ros import stopping


def main(args: Optional[list] = None) -> None:
    """Import and run the node; a stop while importing exits 0 at once."""
    stopping.install()
    try:
        from clip_depth_ros.ros.depth_node import main as run
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    run(args)
