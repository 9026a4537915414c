# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A real rclpy graph in one process: the node under test plus a probe node, both spinning."""

import os
import sys
import threading
import time
from typing import Callable, Dict, List

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                      reliability=ReliabilityPolicy.RELIABLE)
# The node as `ros2 run` and launch start it: the installed entry point (`python -m` is not the
# same program: Python 3.11 under -m dies of SIGINT after a handled Ctrl-C that landed inside
# an exec() of a string, which a console script's sys.exit does not).
DEPTH_NODE = os.path.join(os.path.dirname(sys.executable), 'depth_node')


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = '') -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f'timed out after {timeout} s waiting for {what or predicate}')


class Graph:
    """
    Own context and executor; `probe` publishes inputs and records what comes out.

    The executor is the one `depth_node` runs under (rclpy.spin's SingleThreadedExecutor).
    rclpy's MultiThreadedExecutor misses keep-last-1 frames the node would get: under it, a
    reliable camera in another process delivered 17 of 20 frames at 2 Hz and 19 of 30 at 10 Hz,
    under this one all of them (benchmarks/README.md, Delivery).
    """

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = Node('probe', context=self.context)
        self.executor.add_node(self.probe)
        self.received: Dict[str, List] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # the executor stops with the context at teardown
            pass

    def add(self, node) -> None:
        self.executor.add_node(node)

    def publisher(self, msg_type, topic: str):
        return self.probe.create_publisher(msg_type, topic, RELIABLE)

    def record(self, msg_type, topic: str) -> List:
        bucket = self.received.setdefault(topic, [])

        def store(msg) -> None:
            with self._lock:
                bucket.append(msg)
        self.probe.create_subscription(msg_type, topic, store, RELIABLE)
        return bucket

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        for node in list(self.executor.get_nodes()):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)
