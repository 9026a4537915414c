# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Lifecycle transitions through the standard services, and parameter validation."""

import subprocess

from clip_depth_ros.config import ConfigError
from clip_depth_ros.ros.depth_node import DepthNode
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from ros_harness import DEPTH_NODE, Graph, wait_for


def call(graph, srv_type, name, request, timeout=20.0):
    client = graph.probe.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=timeout), name
    future = client.call_async(request)
    wait_for(future.done, timeout, what=name)
    return future.result()


def state_of(graph):
    return call(graph, GetState, '/depth_node/get_state', GetState.Request()).current_state.id


def change(graph, transition_id):
    req = ChangeState.Request()
    req.transition.id = transition_id
    return call(graph, ChangeState, '/depth_node/change_state', req).success


def node_with(graph, **params):
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    node = DepthNode(context=graph.context, parameter_overrides=overrides)
    graph.add(node)
    return node


def test_lifecycle_through_services(tiny_checkpoint):
    graph = Graph()
    try:
        node = node_with(graph, checkpoint=str(tiny_checkpoint), device='cpu', autostart=False)
        node.autostart()  # autostart=False: stays unconfigured
        assert state_of(graph) == State.PRIMARY_STATE_UNCONFIGURED
        assert change(graph, Transition.TRANSITION_CONFIGURE)
        assert node.estimator is not None
        assert state_of(graph) == State.PRIMARY_STATE_INACTIVE
        assert change(graph, Transition.TRANSITION_ACTIVATE)
        assert state_of(graph) == State.PRIMARY_STATE_ACTIVE
        assert len(node.input_subscriptions()) == 2
        assert change(graph, Transition.TRANSITION_DEACTIVATE)
        assert node.input_subscriptions() == [] and not node.loop.busy()
        assert change(graph, Transition.TRANSITION_CLEANUP)
        assert node.estimator is None
        assert state_of(graph) == State.PRIMARY_STATE_UNCONFIGURED
        node.stop_inputs()
    finally:
        graph.close()


def test_bad_checkpoint_fails_configure_and_says_why(tmp_path):
    bad = tmp_path / 'ckpt'
    bad.mkdir()
    (bad / 'config.json').write_text('{not json')
    graph = Graph()
    try:
        diag = graph.record(DiagnosticArray, '/diagnostics')
        node = node_with(graph, checkpoint=str(bad), device='cpu', diagnostics_period=0.1)
        node.autostart()
        assert state_of(graph) == State.PRIMARY_STATE_UNCONFIGURED
        assert node.estimator is None

        def has_error():
            return any(st.level == DiagnosticStatus.ERROR and 'not valid JSON' in st.message
                       and str(bad) in st.message for arr in diag for st in arr.status)
        wait_for(has_error, what='diagnostics naming the checkpoint')
        assert not change(graph, Transition.TRANSITION_CONFIGURE)  # still fails, still alive
    finally:
        graph.close()


def set_parameter(graph, name, value):
    msg = ParameterMsg(name=name, value=Parameter(name, value=value).get_parameter_value())
    return call(graph, SetParameters, '/depth_node/set_parameters',
                SetParameters.Request(parameters=[msg])).results[0]


def test_rclpy_parameters_settable_while_active(tiny_checkpoint):
    graph = Graph()
    try:
        node = node_with(graph, checkpoint=str(tiny_checkpoint), device='cpu')
        node.autostart()
        assert state_of(graph) == State.PRIMARY_STATE_ACTIVE
        config = node.config
        r = set_parameter(graph, 'use_sim_time', True)  # rclpy's own: not the node's config
        assert r.successful, r.reason
        assert node.get_parameter('use_sim_time').value is True
        assert node.get_clock().ros_time_is_active and node.config is config
        r = set_parameter(graph, 'point_stride', 2)  # the node's own still go through it
        assert r.successful and node.config.point_stride == 2
        assert set_parameter(graph, 'use_sim_time', False).successful
        assert state_of(graph) == State.PRIMARY_STATE_ACTIVE
        node.stop_inputs()
    finally:
        graph.close()


def test_parameters_validated_with_reasons(tiny_checkpoint):
    graph = Graph()
    try:
        node = node_with(graph, checkpoint=str(tiny_checkpoint), device='cpu', autostart=False)

        def set_param(name, value):
            return set_parameter(graph, name, value)

        ok = set_param('point_stride', 4)
        assert ok.successful and node.config.point_stride == 4
        r = set_param('point_stride', 0)
        assert not r.successful and node.config.point_stride == 4
        r = set_param('colormap_max', 0.5)  # below colormap_min? min is 0.0: fine
        assert r.successful
        r = set_param('colormap_min', 2.0)  # now min > max: rejected by the config check
        assert not r.successful and 'colormap' in r.reason
        r = set_param('checkpoint', '/elsewhere')
        assert not r.successful and 'read-only' in r.reason.lower()
        r = set_param('max_range', -1.0)
        assert not r.successful
        wrong_type = ParameterMsg(name='publish_points', value=ParameterValue(
            type=ParameterType.PARAMETER_STRING, string_value='yes'))
        r = call(graph, SetParameters, '/depth_node/set_parameters',
                 SetParameters.Request(parameters=[wrong_type])).results[0]
        assert not r.successful and node.config.publish_points is True
    finally:
        graph.close()


def test_declared_parameters_have_descriptions(tiny_checkpoint):
    graph = Graph()
    try:
        node = node_with(graph, autostart=False)
        from clip_depth_ros.ros.parameters import defaults, descriptor
        for name, default in defaults().items():
            assert descriptor(name).description, name
            if default == [] and not node.has_parameter(name):
                continue  # declared only with a value (test_cameras_unset_means_one_camera)
            d = node.describe_parameter(name)
            assert d.description, name
        assert node.describe_parameter('checkpoint').read_only
        assert node.describe_parameter('device').read_only
        assert node.describe_parameter('point_stride').integer_range[0].to_value == 64
    finally:
        graph.close()


def test_cameras_unset_means_one_camera():
    """
    `cameras` without a value is not declared: rclpy cannot hold an empty string array.

    rclpy types a bare [] as a byte array (pinned here), and a parameter declared by type
    only would stay unset, which empties `ros2 param dump` (GetParameters answers nothing).
    """
    assert Parameter('cameras', value=[]).type_ == Parameter.Type.BYTE_ARRAY
    graph = Graph()
    try:
        node = node_with(graph, autostart=False)
        assert not node.has_parameter('cameras')
        assert node.config.cameras == () and [c.name for c in node.cameras] == ['']
        several = node_with(graph, autostart=False, cameras=['a', 'b'])
        assert several.get_parameter('cameras').value == ['a', 'b']
        d = several.describe_parameter('cameras')
        assert d.type == ParameterType.PARAMETER_STRING_ARRAY and d.read_only
    finally:
        graph.close()


def test_bad_start_parameter_is_one_line():
    r = subprocess.run([DEPTH_NODE, '--ros-args', '-p', 'input_qos:=bogus'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr
    assert 'input_qos: must be one of' in r.stderr


def test_bad_camera_topic_is_named():
    graph = Graph()
    try:
        with pytest.raises(ConfigError, match=r"^front\.image: '9bad' is not a valid topic"):
            node_with(graph, cameras=['front'], **{'front.image': '9bad'})
    finally:
        graph.close()
