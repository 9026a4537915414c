# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A real rclpy graph in one process: the node under test plus a probe node, both spinning."""

import os
import sys
import threading
import time
import traceback
from typing import Callable, Dict, List
import weakref

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


# Every open Graph: a wait fails at once, with the traceback, when one of them has caught an
# exception in a callback, instead of timing out with the cause nowhere in the output.
_GRAPHS: 'weakref.WeakSet[Graph]' = weakref.WeakSet()


class CallbackError(Exception):
    """
    An exception escaped a callback that a test graph's executor ran.

    Not an AssertionError: a test that tolerates a timed-out wait must not swallow it.
    """


def raise_callback_errors() -> None:
    """Fail with the first unreported exception any open test graph's executor caught."""
    for graph in list(_GRAPHS):
        graph.raise_errors()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = '') -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raise_callback_errors()
        if predicate():
            return
        time.sleep(0.01)
    raise_callback_errors()
    raise AssertionError(f'timed out after {timeout} s waiting for {what or predicate}')


class Graph:
    """
    Own context and executor; `probe` publishes inputs and records what comes out.

    The executor is the one `depth_node` runs under (rclpy.spin's SingleThreadedExecutor).
    rclpy's MultiThreadedExecutor misses keep-last-1 frames the node would get: under it, a
    reliable camera in another process delivered 17 of 20 frames at 2 Hz and 19 of 30 at 10 Hz,
    under this one all of them (benchmarks/README.md, Delivery).

    An exception raised in any callback the executor runs (the probe's or the node's) is kept
    with its traceback and fails the next `wait_for`, or `close`, of the test.
    """

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = Node('probe', context=self.context)
        self.executor.add_node(self.probe)
        self.received: Dict[str, List] = {}
        self.errors: List[str] = []  # tracebacks not yet reported
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        _GRAPHS.add(self)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok() and not self._closing:
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:
                if self._closing or not self.context.ok():
                    return  # the executor stops with the context at teardown
                with self._lock:
                    self.errors.append(traceback.format_exc())

    def raise_errors(self) -> None:
        with self._lock:
            errors, self.errors = self.errors, []
        if errors:
            raise CallbackError(f'{len(errors)} exception(s) in callbacks of the test graph; '
                                f'the first:\n{errors[0]}')

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
        self._closing = True
        _GRAPHS.discard(self)
        self.executor.shutdown(timeout_sec=5.0)
        for node in list(self.executor.get_nodes()):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)
        self.raise_errors()
