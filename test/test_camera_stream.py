# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's plain-Python parts: per-camera slots and health, intrinsics, REP 117 masks."""

from clip_depth_ros.config import CameraConfig, ConfigError, NodeConfig
from clip_depth_ros.frames import geometry
from clip_depth_ros.serving.camera_stream import (CameraStream, ERROR, FrequencyCheck,
                                                  model_health, OK, WARN)
from clip_depth_ros.serving.frame_slot import FrameSlots
import numpy as np
import pytest
import torch


def test_slots_batch_equal_sizes_and_serve_the_slow_camera():
    sizes = {'fast': (480, 640), 'slow': (240, 320), 'twin': (480, 640)}
    slots = FrameSlots(list(sizes))
    served = dict.fromkeys(sizes, 0)
    batches = []
    for turn in range(60):  # 'fast' and 'twin' have a frame every turn, 'slow' every 6th
        slots.put('fast', turn)
        slots.put('twin', turn)
        if turn % 6 == 0:
            slots.put('slow', turn)
        batch = slots.take(key=lambda name, item: sizes[name], timeout=0)
        batches.append(sorted(batch))
        for name in batch:
            served[name] += 1
    assert served['slow'] == 10  # every frame it sent, though the others never stop
    assert ['fast', 'twin'] in batches and ['slow'] in batches
    assert all(b in (['fast', 'twin'], ['slow']) for b in batches)  # sizes never mixed
    assert slots.dropped['fast'] > 0 and slots.dropped['slow'] == 0
    slots.close()
    assert slots.take(timeout=0) is None


def test_slot_drops_and_counts_and_close_wakes_the_waiter():
    import threading
    slots = FrameSlots(['cam'])
    assert slots.put('cam', 1) is False
    assert slots.put('cam', 2) is True and slots.put('cam', 3) is True
    assert slots.dropped['cam'] == 2 and slots.take(timeout=0.1) == {'cam': 3}
    assert slots.take(timeout=0.01) is None
    got = []
    t = threading.Thread(target=lambda: got.append(slots.take()))
    t.start()
    slots.close()
    t.join(2.0)
    assert got == [None]


def test_slots_after_close_and_reopen():
    """Closed: what is left is still handed out, then None; reopened: stale frames are gone."""
    slots = FrameSlots(['a', 'b'])
    slots.put('a', 1)
    slots.close()
    assert slots.take(timeout=0) == {'a': 1}   # deactivate lets the frame in flight finish
    assert slots.take() is None                 # closed: no wait
    slots.put('b', 2)
    slots.reopen()                              # activate again: no frame from before
    assert slots.pending() == [] and slots.take(timeout=0) is None
    slots.put('b', 3)
    assert slots.pending() == ['b'] and slots.take(timeout=0) == {'b': 3}
    # The camera served least recently goes first; the others of its key ride along.
    slots.put('a', 4)
    slots.put('b', 5)
    assert slots.take(key=lambda name, item: name, timeout=0) == {'a': 4}
    slots.put('a', 6)
    assert slots.take(key=lambda name, item: name, timeout=0) == {'b': 5}
    assert slots.take(key=lambda name, item: name, timeout=0) == {'a': 6}
    assert slots.names == ['a', 'b'] and slots.dropped == {'a': 0, 'b': 0}


def test_frequency_check_levels():
    now = [0.0]
    check = FrequencyCheck(1.0, 3.0, clock=lambda: now[0])
    assert check.level() == OK
    now[0] = 1.5
    assert check.level() == WARN
    now[0] = 3.5
    assert check.level() == ERROR
    check.tick()
    assert check.level() == OK and check.silence_s() == 0.0
    now[0] = 5.0
    assert check.level() == WARN


def test_camera_stream_status_follows_state_and_silence():
    now = [0.0]
    cam = CameraStream(CameraConfig(name='front', image='/front/image'), 1.0, 3.0,
                       clock=lambda: now[0])
    assert cam.status('unconfigured', 'waiting for configure')[:2] == (
        WARN, 'unconfigured: waiting for configure')
    assert cam.status('inactive')[:2] == (OK, 'inactive')
    cam.restart()
    now[0] = 1.2
    level, message, values = cam.status('active')
    assert level == WARN and message.startswith('no frames on /front/image for 1.2 s')
    now[0] = 3.2
    assert cam.status('active')[0] == ERROR
    cam.frame_arrived()
    cam.published(1.0, 1.0, 10.0)
    level, message, values = cam.status('active', dropped=4)
    assert (level, message) == (OK, 'running')
    assert values['dropped_frames'] == '4' and values['camera'] == 'front'
    cam.intrinsics(64, 48)  # no camera_info: the canonical camera, said on diagnostics
    level, message, values = cam.status('active')
    assert level == WARN and 'canonical camera' in values['camera_info']


def test_frames_wait_for_a_coming_camera_info_then_take_the_canonical_camera():
    from types import SimpleNamespace
    now, asked = [10.0], []

    def one():  # a camera_info publisher is in the graph
        asked.append(now[0])
        return 1
    cam = CameraStream(CameraConfig(name='front', camera_info='/front/camera_info'),
                       clock=lambda: now[0])
    cam.restart()
    assert not cam.awaiting_camera_info(one, wait_s=1.0)  # no frame yet
    cam.frame_arrived()
    assert not cam.awaiting_camera_info(lambda: 0, wait_s=1.0)  # nobody publishes one
    assert cam.awaiting_camera_info(one, wait_s=1.0)
    level, message, values = cam.status('active')
    assert level == WARN and 'waiting up to 1 s for the first camera_info on ' \
        '/front/camera_info' in values['camera_info']
    assert values['dropped_awaiting_camera_info'] == '1'
    now[0] = 10.9
    cam.frame_arrived()  # the wait counts from the first frame, not the newest
    assert cam.awaiting_camera_info(one, wait_s=1.0)
    now[0] = 11.0
    asked.clear()
    assert not cam.awaiting_camera_info(one, wait_s=1.0)  # canonical from now on
    assert not cam.awaiting_camera_info(one, wait_s=0.0)
    assert not asked  # past the wait, the graph is not queried any more
    cam.restart()  # a new activation waits again
    cam.frame_arrived()
    assert cam.awaiting_camera_info(one, wait_s=1.0)
    assert cam.status('active')[2]['dropped_awaiting_camera_info'] == '3'
    info = SimpleNamespace(width=64, height=48, k=[500.0, 0, 32, 0, 500.0, 24, 0, 0, 1],
                           p=[0.0] * 12, binning_x=0, binning_y=0, d=[0.0] * 5,
                           r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], distortion_model='plumb_bob',
                           roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0,
                                               do_rectify=False))
    cam.camera_info_arrived(info)
    assert not cam.awaiting_camera_info(one, wait_s=1.0)
    assert cam.intrinsics(64, 48)[1].fx == 500.0 and cam.camera_info_state() == 'ok'


def test_model_health_follows_configure_and_problems():
    from clip_depth_ros.serving.health import ProblemLog
    assert model_health(False, 'unconfigured', reason='waiting for configure') == (
        WARN, 'unconfigured: waiting for configure')
    assert model_health(False, 'unconfigured', 'cannot load checkpoint x', 'waiting') == (
        ERROR, 'cannot load checkpoint x')
    assert model_health(True, 'inactive') == (OK, 'inactive')
    assert model_health(True, 'active') == (OK, 'model loaded')
    log = ProblemLog()
    log.report('model', 'an old configure failure')  # not the loaded model's problem
    assert model_health(True, 'active', problems=log.active()) == (OK, 'model loaded')
    log.report('inference', 'inference failed: boom')
    assert model_health(True, 'active', problems=log.active(), warnings=['random weights']) == (
        WARN, 'random weights; inference failed: boom')


def test_intrinsics_with_binning_and_roi():
    k = [500.0, 0, 320.0, 0, 510.0, 240.0, 0, 0, 1]
    intr = geometry.Intrinsics.from_camera_info(k, [0.0] * 12, 640, 480, 2, 2,
                                                (100, 40, 400, 300))
    assert (intr.width, intr.height) == (200, 150)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (250.0, 255.0, 110.0, 100.0)
    same = geometry.Intrinsics.from_camera_info(k, [0.0] * 12, 640, 480, 0, 1, (0, 0, 0, 0))
    assert (same.fx, same.cx, same.width) == (500.0, 320.0, 640)
    with pytest.raises(geometry.InvalidIntrinsics, match='roi'):
        geometry.Intrinsics.from_camera_info(k, [0.0] * 12, 640, 480, 1, 1, (600, 0, 100, 10))


@pytest.mark.parametrize('device', ['numpy', 'torch'])
def test_rep117_depth_and_cloud(device):
    depth = np.array([[1.0, 7.0], [0.0, np.nan]], np.float32)  # ok, beyond, invalid, invalid
    intr = geometry.Intrinsics(fx=2.0, fy=2.0, cx=0.0, cy=0.0, width=2, height=2)
    if device == 'numpy':
        masked = geometry.mask_range(depth, 5.0)
        xyz = geometry.unproject(masked, intr)
    else:
        masked_t = geometry.mask_range_torch(torch.from_numpy(depth), 5.0)
        masked = masked_t.numpy()
        data = geometry.pack_cloud_torch(masked_t, intr).numpy()
        xyz = data.view(np.float32).reshape(2, 2, 4)[..., :3]
    assert masked[0, 0] == 1.0 and masked[0, 1] == np.inf
    assert np.isnan(masked[1]).all()
    assert np.isfinite(xyz[0, 0]).all()
    assert np.isnan(xyz[0, 1]).all() and np.isnan(xyz[1]).all()  # no point at infinity


def test_node_config_cameras_and_timeouts():
    assert NodeConfig(cameras=['front', 'left']).cameras == ('front', 'left')
    for bad in ({'cameras': ['front', 'front']}, {'cameras': ['a/b']},
                {'input_timeout': 5.0, 'input_error_timeout': 2.0}, {'input_qos': 'fast'},
                {'compressed_formats': ['gif']}):
        with pytest.raises(ConfigError):
            NodeConfig(**bad)
    assert CameraConfig(name='left').output_prefix == 'left/depth'
    assert CameraConfig().output_prefix == 'depth'


def test_cpu_threads_zero_means_every_core():
    assert NodeConfig(cpu_threads=0).inference_threads(16) == 16
    assert NodeConfig().inference_threads(0) == 1   # os.cpu_count() may say None
    assert NodeConfig(cpu_threads=3).inference_threads(16) == 3
    with pytest.raises(ConfigError, match='cpu_threads'):
        NodeConfig(cpu_threads=-1)


def test_every_camera_info_refusal_and_its_boundary():
    """Each refusal names its reason; the largest valid roi and binning are still accepted."""
    k = [500.0, 0, 320, 0, 510.0, 240, 0, 0, 1]
    make = geometry.Intrinsics.from_camera_info
    for bad_k, reason in (([np.nan] + k[1:], 'non-finite'), ([np.inf] + k[1:], 'non-finite'),
                          ([0.0] + k[1:], 'implausible focal length fx=0'),
                          (k[:4] + [-1.0] + k[5:], 'implausible focal length fy=-1 px')):
        with pytest.raises(geometry.InvalidIntrinsics, match=reason):
            make(bad_k, [0.0] * 12, 640, 480)
    for size in ((0, 480), (640, 0), (-1, 480)):
        with pytest.raises(geometry.InvalidIntrinsics, match='no image size'):
            make(k, [0.0] * 12, *size)
    for roi in ((1, 0, 640, 480), (0, 1, 640, 480), (-1, 0, 10, 10), (0, -1, 10, 10),
                (0, 0, 0, 10), (0, 0, 10, 0), (630, 0, 11, 10), (0, 470, 10, 11)):
        with pytest.raises(geometry.InvalidIntrinsics, match='not inside'):
            make(k, [0.0] * 12, 640, 480, 1, 1, roi)
    with pytest.raises(geometry.InvalidIntrinsics, match='leaves no pixel'):
        make(k, [0.0] * 12, 640, 480, 3, 1, (0, 0, 2, 10))
    with pytest.raises(geometry.InvalidIntrinsics, match='leaves no pixel'):
        make(k, [0.0] * 12, 640, 480, 1, 3, (0, 0, 10, 2))
    # The edges themselves are valid: an roi to the last pixel, binning as large as the roi.
    edge = make(k, [0.0] * 12, 640, 480, 2, 5, (630, 470, 10, 10))
    assert edge == geometry.Intrinsics(250.0, 102.0, -155.0, -46.0, 5, 2)
    assert make(k, [0.0] * 12, 640, 480, 10, 10, (0, 0, 10, 10)).width == 1
    edge.check_image_size(5, 2)
    for size in ((5, 3), (4, 2), (2, 5)):
        with pytest.raises(geometry.InvalidIntrinsics, match='is for 5x2, the image is'):
            edge.check_image_size(*size)


# -- frames lost upstream, failing cameras, turns by cost, hostile bytes ---------------------
def test_stamp_gaps_count_frames_lost_before_the_node():
    from clip_depth_ros.serving.health import StampGaps
    gaps = StampGaps()
    period = 10_000_000  # 100 Hz
    stamps = list(range(0, 20 * period, period))  # 20 consecutive frames
    stamps += list(range(stamps[-1] + 4 * period, stamps[-1] + 400 * period, 4 * period))
    for s in stamps:
        gaps.add(s)
    assert gaps.lost == 3 * (len(stamps) - 20)  # three lost in every step of four periods
    assert abs(gaps.period_s() - 0.01) < 1e-9
    gaps.add(0)  # a bag looping: starts again, counts nothing
    assert gaps.lost == 3 * (len(stamps) - 20)


def test_a_failing_camera_is_sampled_once_per_second_and_says_so():
    from clip_depth_ros.serving.camera_stream import FAILING_AFTER
    now = [0.0]
    cam = CameraStream(CameraConfig(), clock=lambda: now[0])
    cam.restart()
    for _ in range(FAILING_AFTER):
        assert cam.sample_failing()
        cam.frame_failed('image.corrupt', 'bad')
    assert not cam.sample_failing()
    now[0] += 1.0
    assert cam.sample_failing()
    cam.frame_arrived()
    level, message, values = cam.status('active')
    assert level == WARN and 'frames all failed' in message, message
    assert values['skipped_while_failing'] == '1'
    cam.frame_decoded()
    assert cam.sample_failing() and cam.sample_failing()


def test_turns_are_shared_by_cost():
    from clip_depth_ros.serving.frame_slot import FrameSlots
    slots = FrameSlots(['a', 'b'])
    served = {'a': 0, 'b': 0}
    for _ in range(100):
        slots.put('a', 1)
        slots.put('b', 1)
        (name,) = slots.take(key=lambda n, item: n)
        served[name] += 1
        slots.charge(name, 0.3 if name == 'a' else 0.1)  # a's frames cost three times b's
    assert served['b'] >= 2.5 * served['a'], served


def test_truncated_and_lying_messages_are_refused_before_deserializing():
    from clip_depth_ros.serving import cdr
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    image = serialize_message(Image(height=2, width=3, encoding='rgb8', step=9,
                                    data=bytes(18)))
    cdr.check_image(image)
    for n in range(len(image) - 20, len(image) - 1):
        with pytest.raises(cdr.CdrError):
            cdr.check_image(image[:n])
    info = serialize_message(CameraInfo(distortion_model='plumb_bob', d=[0.0] * 5))
    cdr.check_camera_info(info)
    at = info.index(b'plumb_bob\x00') + 10
    at += -(at - 4) % 4
    lying = info[:at] + (1 << 28).to_bytes(4, 'little') + info[at + 4:]
    with pytest.raises(cdr.CdrError, match='d \\(268435456 items\\)'):
        cdr.check_camera_info(lying)
    compressed = serialize_message(CompressedImage(format='png', data=bytes(10)))
    cdr.check_compressed_image(compressed)
    with pytest.raises(cdr.CdrError):
        cdr.check_compressed_image(compressed[:-4])
    assert cdr.stamp_ns_from_cdr(image) == 0


def test_incomplete_png_and_jpeg_never_reach_the_decoder():
    import cv2
    from bombs import png_header_only
    from clip_depth_ros.frames.integrity import check_jpeg, check_png
    from clip_depth_ros.frames.limits import FrameRejected
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (48, 64, 3), np.uint8)
    png = cv2.imencode('.png', rgb)[1].tobytes()
    jpegs = [cv2.imencode('.jpg', rgb, p)[1].tobytes()
             for p in ([], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])]
    check_png(png)
    for n in range(8, len(png) - 1, 7):
        with pytest.raises(FrameRejected):
            check_png(png[:n])
    with pytest.raises(FrameRejected, match='inflates'):
        check_png(png_header_only(16_777_216, 1))
    for jpeg in jpegs:
        check_jpeg(jpeg)
        for n in range(2, len(jpeg) - 1, 11):
            with pytest.raises(FrameRejected):
                check_jpeg(jpeg[:n])
        garbled = jpeg[:len(jpeg) // 2] + rng.bytes(len(jpeg) // 2)
        with pytest.raises(FrameRejected):
            check_jpeg(garbled)
