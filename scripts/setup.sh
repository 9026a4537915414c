#!/usr/bin/env bash
# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Idempotent set-up of a virtualenv: the pinned torch pair, the ROS 2 wheels of one distro, and
# this package (editable) with its extras. Re-runs only when its inputs change.
#   scripts/setup.sh          .venv:        ROS 2 Kilted, with test, training, export, bench extras
#   scripts/setup.sh jazzy    .venv-jazzy:  ROS 2 Jazzy (the LTS), with the test extras, for the
#                                           ROS tests (make test ROS_DISTRO=jazzy)
set -euo pipefail
cd "$(dirname "$0")/.."

DISTRO=${1:-kilted}
PYTHON=${PYTHON:-python3}
# torch and torchvision are pinned together: open_clip needs torchvision, and unpinned pip
# picks a torchvision built for another torch, which then fails to import.
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
case $DISTRO in
    kilted)
        VENV=.venv
        ROS_WHEELS=(ros-rclpy ros-sensor-msgs ros-std-msgs ros-diagnostic-msgs ros-lifecycle-msgs
                    ros-rmw-fastrtps-cpp ros-ament-flake8 ros-ament-pep257)
        EXTRAS='test,train,export,bench'
        ;;
    jazzy)
        VENV=.venv-jazzy
        # The ros-jazzy-* wheels pin the Jazzy builds (rclpy 7.1.x) of the ros-* packages.
        ROS_WHEELS=(ros-jazzy-rclpy ros-jazzy-sensor-msgs ros-jazzy-std-msgs
                    ros-jazzy-diagnostic-msgs ros-jazzy-lifecycle-msgs
                    ros-jazzy-rmw-fastrtps-cpp)
        EXTRAS='test,export'  # export: the tools' tests that run clip-depth-export
        ;;
    *)
        echo "setup: unknown ROS 2 distro '$DISTRO' (kilted or jazzy)" >&2
        exit 2
        ;;
esac
STAMP=$VENV/.setup-stamp

want=$( (cat setup.py scripts/setup.sh; echo "$DISTRO") | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

start=$(date +%s)
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install --upgrade pip
pip_install "${TORCH_PINS[@]}"
pip_install "${TORCH_PINS[@]}" "${ROS_WHEELS[@]}" -e ".[$EXTRAS]"
echo "$want" > "$STAMP"
echo "setup: $VENV ($DISTRO) ready in $(( $(date +%s) - start )) s"
