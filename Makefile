# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# make demo                     set up .venv if needed, then run the built-in demo (the main job)
# make test                     set up .venv if needed, then run the whole test suite (Kilted)
# make test ROS_DISTRO=jazzy    set up .venv-jazzy (the Jazzy wheels) if needed, then run the
#                               ROS tests (the test files that use rclpy, ROS messages or the
#                               node) under Jazzy
# make docs                     regenerate the option, parameter and launch-argument tables
# make mutation                 mutate chosen modules and report the mutants the tests miss
#                               (CPU heavy; MUTATION_ARGS="--target limits --sample 0
#                               --budget-s 1800" for more)

ROS_DISTRO ?= kilted
ifeq ($(ROS_DISTRO),kilted)
VENV := .venv
else
VENV := .venv-$(ROS_DISTRO)
endif
PY := $(VENV)/bin/python
# The ROS 2 wheels live in the venv; ament_index looks there, and DDS discovery stays on the
# local host. The demo defaults to the tiny random-weight model, which needs no download;
# `make demo DEMO_ARGS=` uses ViT-B-16 with the pretrained openai weights (downloaded once).
DEMO_ARGS ?= --tiny
ROS_ENV := AMENT_PREFIX_PATH=$(abspath $(VENV)) ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# The test files that need ROS 2: what a second distro is tested with.
ROS_TESTS = $(shell grep -lE '(import rclpy|from rclpy|ros_harness|_msgs\.msg import|clip_depth_ros\.ros\b|clip-depth-demo)' test/test_*.py)
ifeq ($(ROS_DISTRO),kilted)
TESTS :=
else
TESTS = $(ROS_TESTS)
endif

.PHONY: setup demo test lint bench clean mutation

setup:
	@scripts/setup.sh $(ROS_DISTRO)

demo: setup
	$(ROS_ENV) $(VENV)/bin/clip-depth-demo $(DEMO_ARGS)

test: setup
	$(ROS_ENV) HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider $(TESTS) $(PYTEST_ARGS)

MUTATION_ARGS ?= --sample 6 --budget-s 300
mutation: setup
	$(ROS_ENV) HF_HUB_OFFLINE=1 $(PY) scripts/mutation.py $(MUTATION_ARGS)

lint: setup
	$(PY) -m pytest -q test/test_lint.py

clean:
	rm -rf build install log demo_out .pytest_cache

# Reference tables in docs/*.md (options, node parameters, launch arguments) and
# config/depth.yaml, generated from the code; test/test_docs.py fails when they are stale.
.PHONY: docs
docs: setup
	$(ROS_ENV) $(PY) scripts/gen_docs.py
