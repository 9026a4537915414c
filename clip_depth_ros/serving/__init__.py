# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The depth node's core without ROS: per-camera state, frame slots, batching and health."""
