# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""python -m clip_depth_ros.train CONFIG [key=value ...]."""

from clip_depth_ros.cli.train import main

raise SystemExit(main())
