# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Input QoS: auto matches the publishers, and a camera in another process gets through."""

import os
from pathlib import Path
import subprocess
import sys
import threading

from clip_depth_ros.ros.depth_node import DepthNode
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros_harness import Graph, wait_for
from sensor_msgs.msg import Image

PUBLISHER = Path(__file__).resolve().parent / 'camera_publisher.py'


def start_node(graph, checkpoint, ns, **params):
    # The node's defaults otherwise (precision auto, every core): what a user runs.
    overrides = [Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value='cpu')]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = DepthNode(context=graph.context, namespace=ns, parameter_overrides=overrides)
    graph.add(node)
    node.autostart()
    return node


def read_line(proc, timeout=30.0):
    """Read one line of the child's stdout, failing (not hanging) when it says nothing."""
    out = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    assert out, f'no answer from {PUBLISHER.name} in {timeout} s'
    return out[0].strip()


def test_reliable_camera_in_another_process_delivers(tiny_checkpoint):
    """Default Fast DDS, no profile file: >= 95 % of 640x480 frames at 2 Hz and at 10 Hz."""
    graph = Graph()
    proc = None
    try:
        # camera_info_wait 0: every warm-up frame reaches the model, even one before camera_info.
        node = start_node(graph, tiny_checkpoint, '/qos_sep', camera_info_wait=0.0)
        cam = node.cameras[0]
        proc = subprocess.Popen([sys.executable, str(PUBLISHER), '/qos_sep', 'reliable',
                                 '10:3,2:8,10:20'], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        assert read_line(proc) == 'ready'
        wait_for(lambda: node.input_qos()[('', 'image')] == 'reliable'
                 and node.subscription().get_publisher_count() > 0,
                 what='a reliable subscription matched to the camera')
        for count, measured in ((3, False), (8, True), (20, True)):  # warm-up, 2 Hz, 10 Hz
            before = cam.frames_in
            proc.stdin.write('go\n')
            proc.stdin.flush()
            assert read_line(proc) == f'sent {count}'
            try:  # ends when every frame is counted; frames still in flight get their time
                wait_for(lambda: cam.frames_in - before >= count, 30.0)
            except AssertionError:
                pass  # judged below
            got = cam.frames_in - before
            assert not measured or got >= 0.95 * count, f'{got} of {count} frames arrived'
            if not measured:  # the model's first frame (kernel set-up) is behind us
                wait_for(lambda: cam.frames_out > 0, 60.0, what='depth for a warm-up frame')
    finally:
        if proc is not None:
            proc.stdin.write('stop\n')
            proc.stdin.flush()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        node.stop_inputs()
        graph.close()


def test_auto_follows_the_publishers(tiny_checkpoint):
    graph = Graph()
    try:
        node = start_node(graph, tiny_checkpoint, '/qos_auto')
        # No publisher yet: best effort, which matches any.
        assert node.input_qos()[('', 'image')] == 'best_effort'
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                              reliability=ReliabilityPolicy.RELIABLE)
        best_effort = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                 reliability=ReliabilityPolicy.BEST_EFFORT)
        pub = graph.probe.create_publisher(Image, '/qos_auto/image', reliable)
        wait_for(lambda: node.input_qos()[('', 'image')] == 'reliable', 5.0,
                 what='switch to reliable')
        other = graph.probe.create_publisher(Image, '/qos_auto/image', best_effort)
        wait_for(lambda: node.input_qos()[('', 'image')] == 'best_effort', 5.0,
                 what='back to best effort for a best-effort publisher')
        graph.probe.destroy_publisher(other)
        wait_for(lambda: node.input_qos()[('', 'image')] == 'reliable', 5.0,
                 what='reliable again once only reliable publishers are left')
        wait_for(lambda: node.subscription().get_publisher_count() == 1)
        assert pub.get_subscription_count() >= 1
        values = {kv.key: kv.value for kv in node.diagnostics().status[1].values}
        assert values['input_qos'] == 'reliable'
        node.stop_inputs()
    finally:
        graph.close()


def test_fixed_qos_is_kept(tiny_checkpoint):
    graph = Graph()
    try:
        node = start_node(graph, tiny_checkpoint, '/qos_fixed', input_qos='sensor_data')
        graph.probe.create_publisher(Image, '/qos_fixed/image', QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE))
        wait_for(lambda: node.subscription().get_publisher_count() > 0)
        assert node.inputs.timer is None  # a fixed QoS is never re-checked
        node.inputs.check()
        assert set(node.input_qos().values()) == {'best_effort'}
        node.stop_inputs()
    finally:
        graph.close()


def test_output_qos_overrides_are_rclpys(tiny_checkpoint):
    graph = Graph()
    try:
        key = 'qos_overrides./qos_out/depth/image.publisher.reliability'
        node = start_node(graph, tiny_checkpoint, '/qos_out', **{key: 'best_effort'})
        assert node.get_parameter(key).value == 'best_effort'

        def offered(topic):
            return [i.qos_profile.reliability
                    for i in graph.probe.get_publishers_info_by_topic(topic)]
        wait_for(lambda: offered('/qos_out/depth/image') and offered('/qos_out/depth/points'))
        assert offered('/qos_out/depth/image') == [ReliabilityPolicy.BEST_EFFORT]
        assert offered('/qos_out/depth/points') == [ReliabilityPolicy.RELIABLE]
        node.stop_inputs()
    finally:
        graph.close()


def test_outputs_keep_the_last_two_reliable(tiny_checkpoint):
    """Outputs are reliable keep-last 2: a slow subscriber never makes the node buffer more."""
    graph = Graph()
    try:
        # qos_overrides (rclpy's, given at start) change one output's depth, not the others'.
        node = start_node(graph, tiny_checkpoint, '/qos_keep',
                          **{'qos_overrides./qos_keep/depth/points.publisher.depth': 5})
        kinds = {'depth': 'image', 'info': 'camera_info', 'points': 'points',
                 'colormap': 'colormap'}

        def offered(topic):
            return [i.qos_profile for i in graph.probe.get_publishers_info_by_topic(topic)]
        wait_for(lambda: all(offered(f'/qos_keep/depth/{t}') for t in kinds.values()),
                 what='the outputs in the graph')
        for key, topic in kinds.items():
            # Reliability as the graph sees it offered; DDS discovery does not carry history
            # or depth (the graph says UNKNOWN, 0), so those come from the publisher itself.
            (seen,) = offered(f'/qos_keep/depth/{topic}')
            assert seen.reliability == ReliabilityPolicy.RELIABLE, topic
            qos = node._pubs[''][key].qos_profile
            assert (qos.history, qos.depth, qos.reliability) == (
                HistoryPolicy.KEEP_LAST, 5 if key == 'points' else 2,
                ReliabilityPolicy.RELIABLE), topic
        node.stop_inputs()
    finally:
        graph.close()
