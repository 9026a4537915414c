# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Running the model: checkpoints, the input rule, precision, PyTorch and ONNX estimators."""
