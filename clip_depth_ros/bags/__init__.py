# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""rosbag2 files without ROS: one reader (verification, typestore, errors) and the depth writer."""
