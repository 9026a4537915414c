# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 adapters: the only place that imports rclpy or message types."""
