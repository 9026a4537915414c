#!/usr/bin/env bash
# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Idempotent set-up of .venv: the pinned torch pair, the ROS 2 wheels, and this package
# (editable) with its test, training, export and benchmark extras. Re-runs only when its inputs change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.setup-stamp
# torch and torchvision are pinned together: open_clip needs torchvision, and unpinned pip
# picks a torchvision built for another torch, which then fails to import.
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
ROS_WHEELS=(ros-rclpy ros-sensor-msgs ros-std-msgs ros-diagnostic-msgs ros-lifecycle-msgs
            ros-rmw-fastrtps-cpp ros-ament-flake8 ros-ament-pep257)

want=$(cat setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

start=$(date +%s)
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install --upgrade pip
pip_install "${TORCH_PINS[@]}"
pip_install "${TORCH_PINS[@]}" "${ROS_WHEELS[@]}" -e '.[test,train,export,bench]'
echo "$want" > "$STAMP"
echo "setup: .venv ready in $(( $(date +%s) - start )) s"
