# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Running the model: checkpoints, input rule, precision, PyTorch/ONNX estimators, output files."""
