# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline training and evaluation: datasets, augmentation, losses, metrics, engine, CLIs."""
