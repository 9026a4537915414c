# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""/diagnostics judges health: silence on inputs, lifecycle states, configure failures."""

import shutil

from clip_depth_ros.ros.depth_node import DepthNode
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import pytest
from rclpy.parameter import Parameter
from ros_harness import Graph, wait_for
from sensor_msgs.msg import CameraInfo, Image
from test_depth_node import camera_info, header, raw_image, rgb_frame

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


class Watch:
    """The node's /diagnostics statuses as they arrive."""

    def __init__(self, graph, name):
        self.arrays = graph.record(DiagnosticArray, '/diagnostics')
        self.name = name

    def statuses(self, suffix=': depth'):
        return [st for arr in list(self.arrays) for st in arr.status
                if st.name == self.name + suffix]

    def wait(self, level, phrase='', suffix=': depth', timeout=10.0, where=lambda st: True):
        """Wait for a new status at `level` whose message holds `phrase` (and `where`)."""
        start = len(self.statuses(suffix))
        found = []

        def check():
            for st in self.statuses(suffix)[start:]:
                if st.level == level and phrase in st.message and where(st):
                    found.append(st)
                    return True
            return False
        wait_for(check, timeout, what=f'{suffix} status {level!r} with {phrase!r}')
        return found[0]


def make_node(graph, checkpoint, ns, **params):
    # fp32: bf16's first frames build oneDNN kernels on both cores for about a second each,
    # starving the executor on a 2-core machine past the WARN phase these tests watch for.
    overrides = [Parameter('checkpoint', value=str(checkpoint)), Parameter('device', value='cpu'),
                 Parameter('precision', value='fp32'),
                 Parameter('diagnostics_period', value=0.1), Parameter('autostart', value=False),
                 Parameter('input_timeout', value=0.4),
                 Parameter('input_error_timeout', value=2.0)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    node = DepthNode(context=graph.context, namespace=ns, parameter_overrides=overrides)
    graph.add(node)
    return node


def test_levels_follow_input_and_lifecycle(tiny_checkpoint):
    graph = Graph()
    try:
        node = make_node(graph, tiny_checkpoint, '/diag')
        watch = Watch(graph, '/diag/depth_node')
        image_pub = graph.publisher(Image, '/diag/image')
        info_pub = graph.publisher(CameraInfo, '/diag/camera_info')
        st = watch.wait(WARN, 'unconfigured')
        assert 'waiting for configure' in st.message
        assert st.hardware_id == '/diag/image'  # tells cameras apart
        watch.wait(WARN, 'unconfigured', suffix=': model')

        node.trigger_configure()
        watch.wait(OK, 'inactive')

        node.trigger_activate()  # no input at all: WARN, then ERROR, naming the topic
        watch.wait(WARN, 'no frames on /diag/image')
        watch.wait(ERROR, 'no frames on /diag/image')

        wait_for(lambda: all(s.get_publisher_count() for s in node.input_subscriptions())
                 and set(node.input_qos().values()) == {'reliable'}, what='discovery')
        info_pub.publish(camera_info(header()))
        wait_for(lambda: node.cameras[0].camera_info is not None, what='camera_info')
        frame = raw_image(rgb_frame(1), header())
        stream = graph.probe.create_timer(0.05, lambda: image_pub.publish(frame))  # 20 Hz
        try:
            watch.wait(OK, 'running')
        finally:
            graph.probe.destroy_timer(stream)

        # The camera stops: WARN after input_timeout, ERROR after input_error_timeout.
        st = watch.wait(WARN, 'no frames on /diag/image for')
        assert int({kv.key: kv.value for kv in st.values}['frames_published']) > 0
        watch.wait(ERROR, 'no frames on /diag/image for')

        node.trigger_deactivate()
        watch.wait(OK, 'inactive')

        node.trigger_cleanup()
        st = watch.wait(WARN, 'unconfigured: cleaned up')
        after = len(watch.statuses()) + len(watch.statuses(': model'))
        wait_for(lambda: len(watch.statuses()) + len(watch.statuses(': model')) > after + 6)
        later = watch.statuses()[-4:] + watch.statuses(': model')[-4:]
        assert all(s.level == WARN for s in later), [(s.level, s.message) for s in later]

        node.trigger_shutdown()  # finalized: nothing more
        wait_for(lambda: node._lifecycle == 'finalized')
        count = len(watch.statuses())
        probe_done = []
        graph.probe.create_timer(0.5, lambda: probe_done.append(1))
        wait_for(lambda: probe_done, what='half a second')
        assert len(watch.statuses()) <= count + 1  # one may have been in flight
    finally:
        graph.close()


def test_output_silence_while_frames_arrive_is_reported(tiny_checkpoint):
    graph = Graph()
    try:
        node = make_node(graph, tiny_checkpoint, '/diag_out', input_timeout=0.3,
                         input_error_timeout=5.0)
        watch = Watch(graph, '/diag_out/depth_node')
        image_pub = graph.publisher(Image, '/diag_out/image')
        node.trigger_configure()
        node.trigger_activate()
        wait_for(lambda: node.subscription().get_publisher_count() > 0
                 and node.input_qos()[('', 'image')] == 'reliable', what='discovery')
        # Frames that are all refused: input arrives, no depth leaves.
        bad = Image(header=header(), height=4, width=4, encoding='bayer_rggb8', step=4,
                    data=bytes(16))
        timer = graph.probe.create_timer(0.05, lambda: image_pub.publish(bad))
        try:
            # The output check may judge before the first refused frame is reported: wait for
            # a status that has both.
            st = watch.wait(WARN, 'no depth published on /diag_out/depth/image',
                            where=lambda st: any(kv.key.startswith('problem.image.')
                                                 for kv in st.values))
        finally:
            graph.probe.destroy_timer(timer)
        values = {kv.key: kv.value for kv in st.values}
        assert int(values['frames_received']) > 0 and values['frames_published'] == '0'
        assert any(k.startswith('problem.image.') for k in values)
        node.stop_inputs()
    finally:
        graph.close()


def test_unexpected_configure_failure_named_once(tiny_checkpoint, tmp_path, capfd):
    broken = tmp_path / 'broken'
    shutil.copytree(tiny_checkpoint, broken)
    weights = broken / 'clip_weights.safetensors'
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    graph = Graph()
    try:
        node = make_node(graph, broken, '/diag_bad')
        watch = Watch(graph, '/diag_bad/depth_node')
        node.trigger_configure()
        st = watch.wait(ERROR, 'cannot load checkpoint', suffix=': model')
        # The exception's type and message, whatever raised it (here the weights file named).
        assert f'CheckpointError: {weights}: corrupt or truncated' in st.message, st.message
        assert node.estimator is None
        err = capfd.readouterr().err
        lines = [ln for ln in err.splitlines() if 'cannot load checkpoint' in ln]
        assert len(lines) == 1, err
        assert 'Traceback' not in err
    finally:
        graph.close()


def test_any_exception_at_configure_is_named(tiny_checkpoint, capfd):
    """An error from inside torch (a CUDA device this machine lacks), not a CheckpointError."""
    import torch
    if torch.cuda.device_count() > 97:
        pytest.skip('this machine has a CUDA device 97')
    graph = Graph()
    try:
        node = make_node(graph, tiny_checkpoint, '/diag_dev', device='cuda:97')
        watch = Watch(graph, '/diag_dev/depth_node')
        node.trigger_configure()
        st = watch.wait(ERROR, 'cannot load checkpoint', suffix=': model')
        kind = st.message.split('cannot load checkpoint', 1)[1]
        assert 'CheckpointError' not in kind and 'Error: ' in kind, st.message
        assert node.estimator is None
        err = capfd.readouterr().err
        assert len([ln for ln in err.splitlines() if 'cannot load checkpoint' in ln]) == 1, err
        assert 'Traceback' not in err
    finally:
        graph.close()


def test_frames_lost_before_the_node_are_shown_beside_those_it_replaced(tiny_checkpoint):
    """Stamps 0.1 s apart with every other frame never sent: about one lost per frame sent."""
    from std_msgs.msg import Header
    graph = Graph()
    try:
        # Reliable from the start: auto QoS may re-subscribe once, which can lose a frame.
        node = make_node(graph, tiny_checkpoint, '/lost', autostart=True, input_qos='reliable')
        node.autostart()
        watch = Watch(graph, '/lost/depth_node')
        image_pub = graph.publisher(Image, '/lost/image')
        wait_for(lambda: image_pub.get_subscription_count() > 0
                 and node.subscription().get_publisher_count() > 0, 60, 'discovery')
        rgb = rgb_frame(2)
        sent = 0
        for i in range(10):  # consecutive frames: the camera's period, 0.1 s
            image_pub.publish(raw_image(rgb, Header(stamp=stamp(i * 0.1))))
            sent += 1
            wait_for(lambda: node.cameras[0].frames_in >= sent, 10, 'frame delivery')
        for i in range(12, 52, 2):  # every other frame lost on the way: 20 lost
            image_pub.publish(raw_image(rgb, Header(stamp=stamp(i * 0.1))))
            sent += 1
            wait_for(lambda: node.cameras[0].frames_in >= sent, 10, 'frame delivery')

        def latest() -> dict:
            statuses = watch.statuses()
            return {kv.key: kv.value for kv in statuses[-1].values} if statuses else {}
        wait_for(lambda: latest().get('frames_lost_upstream') == '21', 30,
                 f'21 frames lost upstream on /diagnostics (last: {latest()})')
        values = latest()
        assert values['camera_rate_hz'] == '10.00', values
        assert 'dropped_frames' in values  # the frames the node replaced itself
    finally:
        node.stop_inputs()
        graph.close()


def stamp(seconds: float):
    from builtin_interfaces.msg import Time
    ns = 1_800_000_000 * 10**9 + round(seconds * 1e9)
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)
