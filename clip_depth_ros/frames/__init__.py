# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One frame's bytes to pixels and geometry: size limits, decoding, camera models, colour maps."""
