# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One node, one model, several cameras: over real DDS with the tiny model."""

import itertools
import threading
import time

from clip_depth_ros.ros import conversions
from clip_depth_ros.ros.depth_node import DepthNode
import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rclpy.parameter import Parameter
from ros_harness import Graph, wait_for
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from test_depth_node import camera_info, header, P, raw_image, rgb_frame

_NS = itertools.count(1)


class MultiRig:
    """A node serving `cameras` ({name: image topic or None for the default}) and recorders."""

    def __init__(self, checkpoint, cameras, **params):
        self.ns = f'/multi{next(_NS)}'
        self.graph = Graph()
        overrides = [Parameter('checkpoint', value=str(checkpoint)),
                     Parameter('device', value='cpu'),
                     Parameter('diagnostics_period', value=0.2),
                     Parameter('cameras', value=list(cameras)),
                     # Every camera has a camera_info publisher here, some never publish:
                     # their frames get canonical depth at once (the wait: test_depth_node).
                     Parameter('camera_info_wait', value=0.0)]
        self.inputs = {}
        for name, topic in cameras.items():
            if topic:
                overrides += [Parameter(f'{name}.image', value=f'{topic}/image_raw'),
                              Parameter(f'{name}.camera_info', value=f'{topic}/camera_info')]
                self.inputs[name] = (f'{topic}/image_raw', f'{topic}/camera_info')
            else:
                self.inputs[name] = (f'{self.ns}/{name}/image', f'{self.ns}/{name}/camera_info')
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.node = DepthNode(context=self.graph.context, parameter_overrides=overrides,
                              namespace=self.ns)
        self.graph.add(self.node)
        g = self.graph
        self.depth = {n: g.record(Image, f'{self.ns}/{n}/depth/image') for n in cameras}
        self.points = {n: g.record(PointCloud2, f'{self.ns}/{n}/depth/points') for n in cameras}
        self.diag = g.record(DiagnosticArray, '/diagnostics')
        compressed = {n for n in cameras if params.get(f'{n}.transport') == 'compressed'}
        self.image_pub = {n: g.publisher(CompressedImage, f'{t[0]}/compressed')
                          if n in compressed else g.publisher(Image, t[0])
                          for n, t in self.inputs.items()}
        self.info_pub = {n: g.publisher(CameraInfo, t[1]) for n, t in self.inputs.items()}
        self.node.autostart()
        node = self.node
        wait_for(lambda: len(node.input_subscriptions()) == 2 * len(cameras) and all(
            s.get_publisher_count() > 0 for s in node.input_subscriptions())
            and set(node.input_qos().values()) == {'reliable'}, what='input discovery')
        wait_for(lambda: all(p.get_subscription_count() > 0 for pubs in node._pubs.values()
                             for name, p in pubs.items() if name in ('depth', 'points')),
                 what='output discovery')

    def send_info(self, name, info):
        self.info_pub[name].publish(info)
        cam = self.node._by_name[name]
        wait_for(lambda: cam.camera_info is not None and list(cam.camera_info.p) == list(info.p),
                 what=f'camera_info of {name}')

    def wait_depth(self, name, stamp, timeout=30.0):
        wait_for(lambda: any(m.header.stamp == stamp for m in self.depth[name]), timeout,
                 what=f'depth of {name}')
        return next(m for m in self.depth[name] if m.header.stamp == stamp)

    def status(self, suffix, predicate=lambda st: True, timeout=10.0):
        found = []

        def check():
            for arr in reversed(self.diag):
                for st in arr.status:
                    if st.name == f'{self.ns}/depth_node: {suffix}' and predicate(st):
                        found.append(st)
                        return True
            return False
        wait_for(check, timeout, what=f'status {suffix}')
        return found[0]

    def close(self):
        self.node.stop_inputs()
        self.graph.close()


def values_of(status):
    return {kv.key: kv.value for kv in status.values}


class HeldBatches:
    """
    The node's own batch function, called through, held on demand and failing on demand.

    `hold()` makes the next batch wait inside the model until `release()`: frames published
    meanwhile are pending together, so the next batch holds all of them, whatever the
    machine's speed. `fails(rgb)` says which frames make a batch raise (injected faults).
    """

    def __init__(self, monkeypatch, fails=lambda rgb: False):
        from clip_depth_ros.serving import inference_loop
        self.real, self.fails = inference_loop.depth_and_cloud_batch, fails
        self.sizes = []
        self.entered, self._go = threading.Event(), threading.Event()
        self._go.set()
        monkeypatch.setattr(inference_loop, 'depth_and_cloud_batch', self)

    def hold(self):
        self.entered.clear()
        self._go.clear()

    def release(self):
        self._go.set()

    def __call__(self, estimator, frames, *args, **kwargs):
        self.sizes.append(len(frames))
        self.entered.set()
        assert self._go.wait(60), 'never released'
        if any(self.fails(rgb) for rgb in frames):
            raise RuntimeError('injected: this frame makes its batch fail')
        return self.real(estimator, frames, *args, **kwargs)

    def together(self, rig, publish_busy, publish_all, names):
        """Run publish_all's frames (of cameras `names`) as one batch, after a busy one."""
        self.hold()
        publish_busy()
        wait_for(self.entered.is_set, what='the busy frame inside the model')
        publish_all()
        wait_for(lambda: set(names) <= set(rig.node.slots.pending()), what='frames pending')
        self.release()


def test_two_cameras_batch_equal_sizes(tiny_checkpoint, tiny_estimator, monkeypatch):
    batches = HeldBatches(monkeypatch)
    rig = MultiRig(tiny_checkpoint, {'front': '/robot/front/color', 'left': None},
                   max_range=1000.0)
    try:
        assert rig.node.cameras[0].image_topic == '/robot/front/color/image_raw'
        p_left = list(P)
        p_left[0] *= 2  # another focal length: each camera's depth uses its own
        rig.send_info('front', camera_info(header('front_optical')))
        rig.send_info('left', camera_info(header('left_optical'), p=p_left))
        busy = raw_image(rgb_frame(20, 480, 640), header('front_optical'))
        rgb = {'front': rgb_frame(21), 'left': rgb_frame(22)}
        hdrs = {name: header(f'{name}_optical') for name in rgb}
        # Both small frames wait while the model holds the large one: one batch of two.
        batches.together(rig, lambda: rig.image_pub['front'].publish(busy), lambda: [
            rig.image_pub[name].publish(raw_image(frame, hdrs[name]))
            for name, frame in rgb.items()], rgb)
        msgs = {name: rig.wait_depth(name, hdrs[name].stamp) for name in rgb}
        assert batches.sizes == [1, 2] and rig.node.batch_sizes == {1: 1, 2: 1}, batches.sizes
        for name, msg in msgs.items():
            assert msg.header.frame_id == f'{name}_optical'
            focal = P[0] * (2 if name == 'left' else 1)
            expected = tiny_estimator.predict(rgb[name], focal_px=focal)
            depth = conversions.image_to_depth(msg)
            finite = np.isfinite(depth)
            assert finite.any()
            # bf16 on this CPU: a batch of two rounds slightly differently from one frame.
            np.testing.assert_allclose(depth[finite], expected[finite], rtol=5e-3)
        model = values_of(rig.status('model', lambda st: '2: ' in values_of(st)['batch_sizes']))
        assert model['cameras'] == '2'
        front = rig.status('depth front')
        left = rig.status('depth left')
        assert front.hardware_id != left.hardware_id
        assert values_of(left)['depth_topic'] == f'{rig.ns}/left/depth/image'
    finally:
        rig.close()


@pytest.fixture(scope='module')
def three(tiny_checkpoint):
    rig = MultiRig(tiny_checkpoint, {'front': None, 'left': None, 'rear': None})
    for name in ('front', 'left'):  # rear: no camera_info at all
        rig.send_info(name, camera_info(header(f'{name}_optical')))
    yield rig
    rig.close()


def test_three_cameras_own_headers_and_a_camera_without_camera_info(three):
    hdrs = {name: header(f'{name}_optical') for name in ('front', 'left', 'rear')}
    for i, (name, hdr) in enumerate(hdrs.items()):
        three.image_pub[name].publish(raw_image(rgb_frame(30 + i), hdr))
    for name, hdr in hdrs.items():
        msg = three.wait_depth(name, hdr.stamp)
        assert msg.header.frame_id == f'{name}_optical' and (msg.height, msg.width) == (96, 128)
    for name in ('front', 'left'):
        wait_for(lambda n=name: any(m.header.stamp == hdrs[n].stamp for m in three.points[n]),
                 what=f'cloud of {name}')
    assert not any(m.header.stamp == hdrs['rear'].stamp for m in three.points['rear'])
    rear = three.status('depth rear', lambda st: 'canonical camera' in st.message)
    assert rear.level == DiagnosticStatus.WARN
    assert 'canonical camera' in values_of(rear)['focal_px']
    front = three.status('depth front', lambda st: st.level == DiagnosticStatus.OK)
    assert values_of(front)['camera_info'] == 'ok'


def test_bad_frame_on_one_camera_leaves_the_others_serving(three):
    bad = Image(header=header('left_optical'), height=96, width=128, encoding='rgb8',
                step=128 * 3, data=bytes(100))  # short buffer
    three.image_pub['left'].publish(bad)
    three.status('depth left', lambda st: 'dropping image' in st.message)
    hdr = header('front_optical')
    three.image_pub['front'].publish(raw_image(rgb_frame(40), hdr))
    three.wait_depth('front', hdr.stamp)
    left = values_of(three.status('depth left', lambda st: 'dropping image' in st.message))
    assert any(k.startswith('problem.image.') for k in left)
    assert 'image.' in left['problem_counts']  # by kind, with its count
    assert 'image.' not in values_of(three.status('depth front'))['problem_counts']
    hdr = header('left_optical')
    three.image_pub['left'].publish(raw_image(rgb_frame(41), hdr))
    three.wait_depth('left', hdr.stamp)


def test_a_failing_batch_falls_back_to_one_frame_per_camera(three, monkeypatch):
    """One camera's frame makes the batch raise: the others still get their depth."""
    poison = np.full((96, 128, 3), 7, np.uint8)
    batches = HeldBatches(monkeypatch, fails=lambda rgb: rgb.shape == poison.shape
                          and (rgb == 7).all())
    busy = header('rear_optical')
    hdrs = {name: header(f'{name}_optical') for name in ('front', 'left')}
    frames = {'front': rgb_frame(60), 'left': poison}
    batches.together(three, lambda: three.image_pub['rear'].publish(
        raw_image(rgb_frame(61, 48, 64), busy)), lambda: [
        three.image_pub[name].publish(raw_image(frames[name], hdrs[name]))
        for name in frames], frames)
    three.wait_depth('front', hdrs['front'].stamp)
    assert batches.sizes[:4] == [1, 2, 1, 1], batches.sizes   # the pair, then each alone
    left = values_of(three.status('depth left',
                                  lambda st: 'inference failed' in st.message))
    assert 'injected' in left['problem.inference']
    assert not any(m.header.stamp == hdrs['left'].stamp for m in three.depth['left'])
    assert 'problem.inference' not in values_of(three.status('depth front'))


def test_slow_camera_keeps_its_rate_next_to_a_fast_one(tiny_checkpoint):
    rig = MultiRig(tiny_checkpoint, {'fast': None, 'slow': None}, publish_points=False)
    try:
        # Equal sizes, as for two identical cameras: the slow camera's frame rides in the
        # fast one's batch (different sizes take turns: test_camera_stream covers that).
        fast = raw_image(rgb_frame(50), header('fast_optical'))
        slow_frame = rgb_frame(51)
        sent = []
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 2.0:  # fast at 30 Hz, slow at 5 Hz
            fast.header = header('fast_optical')
            rig.image_pub['fast'].publish(fast)
            if i % 6 == 0:
                hdr = header('slow_optical')
                rig.image_pub['slow'].publish(raw_image(slow_frame, hdr))
                sent.append(hdr.stamp)
            i += 1
            time.sleep(max(0.0, start + i / 30 - time.monotonic()))
        wait_for(lambda: any(m.header.stamp == sent[-1] for m in rig.depth['slow']), 10.0,
                 what='the last slow frame')
        served = sum(any(m.header.stamp == s for m in rig.depth['slow']) for s in sent)
        fast_served = len(rig.depth['fast'])
        # At its rate while the model keeps up; on a machine too loaded for 5 Hz, in every
        # batch the model ran (a starved camera would be left out of most).
        assert served >= min(0.9 * len(sent), fast_served - 1), (
            f'{served} of {len(sent)} slow frames served, {fast_served} fast',
            rig.node.compute_ms.summary())
        assert fast_served > 0
    finally:
        rig.close()


def test_each_camera_has_its_own_transport(tiny_checkpoint):
    rig = MultiRig(tiny_checkpoint, {'raw': None, 'packed': None},
                   **{'packed.transport': 'compressed'})
    try:
        assert rig.node.cameras[1].image_topic == f'{rig.ns}/packed/image/compressed'
        rgb = rgb_frame(60)
        png = cv2.imencode('.png', np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()
        hdrs = {'raw': header('raw_optical'), 'packed': header('packed_optical')}
        rig.image_pub['raw'].publish(raw_image(rgb, hdrs['raw']))
        rig.image_pub['packed'].publish(CompressedImage(header=hdrs['packed'], format='png',
                                                        data=png))
        depths = {n: conversions.image_to_depth(rig.wait_depth(n, h.stamp))
                  for n, h in hdrs.items()}
        np.testing.assert_allclose(depths['packed'], depths['raw'], rtol=5e-3)
    finally:
        rig.close()


@pytest.mark.parametrize('frame_id', ['', 'cam', 'camera_color_optical_frame'])
def test_batch_key_read_from_serialized_image(frame_id):
    """The size a frame is batched by comes from its CDR bytes, as deserializing would say."""
    from clip_depth_ros.serving.cdr import image_size_from_cdr
    from rclpy.serialization import serialize_message
    msg = raw_image(rgb_frame(1, 6, 10), header(frame_id))
    assert image_size_from_cdr(serialize_message(msg)) == (6, 10)
    assert image_size_from_cdr(serialize_message(msg)[:20]) is None
