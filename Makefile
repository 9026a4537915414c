# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# make demo   set up .venv if needed, then run the built-in demo (the main job)
# make test   set up .venv if needed, then run the whole test suite
# make docs   regenerate the option, parameter and launch-argument tables in docs/

VENV := .venv
PY := $(VENV)/bin/python
# The ROS 2 wheels live in the venv; ament_index looks there, and DDS discovery stays on the
# local host. The demo defaults to the tiny random-weight model, which needs no download;
# `make demo DEMO_ARGS=` uses ViT-B-16 with the pretrained openai weights (downloaded once).
DEMO_ARGS ?= --tiny
ROS_ENV := AMENT_PREFIX_PATH=$(abspath $(VENV)) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST

.PHONY: setup demo test lint bench clean

setup:
	@scripts/setup.sh

demo: setup
	$(ROS_ENV) $(VENV)/bin/clip-depth-demo $(DEMO_ARGS)

test: setup
	$(ROS_ENV) HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(PY) -m pytest -q test/test_lint.py

clean:
	rm -rf build install log demo_out .pytest_cache

# Reference tables in docs/*.md (options, node parameters, launch arguments) and
# config/depth.yaml, generated from the code; test/test_docs.py fails when they are stale.
.PHONY: docs
docs: setup
	$(ROS_ENV) $(PY) scripts/gen_docs.py
