# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The test harness itself: a failure in a callback or a thread fails the test, with its cause."""

import subprocess
import sys
import textwrap
import time

import pytest
from ros_harness import CallbackError, Graph, wait_for
from std_msgs.msg import String


def test_an_exception_in_a_callback_fails_the_wait_with_its_traceback():
    graph = Graph()
    try:
        def explode(msg):
            raise RuntimeError(f'callback broke on {msg.data!r}')
        graph.probe.create_subscription(String, '/harness_check', explode, 10)
        pub = graph.publisher(String, '/harness_check')
        wait_for(lambda: pub.get_subscription_count() > 0, what='the subscription')
        pub.publish(String(data='x17'))
        with pytest.raises(CallbackError) as failure:
            wait_for(lambda: False, 60, 'nothing')   # the callback's error, not a timeout
        assert "RuntimeError: callback broke on 'x17'" in str(failure.value)
        assert 'Traceback' in str(failure.value) and 'in explode' in str(failure.value)
        # Another one, never waited on, fails the test at close.
        pub.publish(String(data='x18'))
        deadline = time.monotonic() + 60
        while not graph.errors and time.monotonic() < deadline:
            time.sleep(0.01)   # polled here, not by wait_for, which would report it
        with pytest.raises(CallbackError, match='x18'):
            graph.close()
    finally:
        graph.close()


def test_an_exception_in_a_thread_fails_the_test(tmp_path):
    """A thread's unhandled exception is an error of the test (pytest's warning, made one)."""
    (tmp_path / 'test_inner.py').write_text(textwrap.dedent("""
        import threading

        def test_thread():
            t = threading.Thread(target=lambda: 1 / 0)
            t.start()
            t.join()
    """))
    from conftest import REPO
    r = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                        '-c', str(REPO / 'setup.cfg'), '--rootdir', str(tmp_path),
                        str(tmp_path / 'test_inner.py')],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, r.stdout
    assert 'ZeroDivisionError' in r.stdout, r.stdout
