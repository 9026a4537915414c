# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# make demo   set up .venv if needed, then run the built-in demo (the main job)
# make test   set up .venv if needed, then run the whole test suite

VENV := .venv
PY := $(VENV)/bin/python
# The ROS 2 wheels live in the venv; ament_index and DDS are pointed at this machine only.
ROS_ENV := AMENT_PREFIX_PATH=$(abspath $(VENV)) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST HF_HUB_OFFLINE=1

.PHONY: setup demo test lint bench clean

setup:
	@scripts/setup.sh

demo: setup
	$(ROS_ENV) $(VENV)/bin/clip-depth-init --backbone ViT-T-16-test --out demo_out/checkpoint --force
	$(ROS_ENV) $(VENV)/bin/clip-depth-infer ../shared/samples/tum_freiburg1_rpy/rgb/1305031238.429673.png \
		--checkpoint demo_out/checkpoint --out demo_out/depth

test: setup
	$(ROS_ENV) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(PY) -m pytest -q test/test_lint.py

clean:
	rm -rf build install log demo_out .pytest_cache
