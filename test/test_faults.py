# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Hostile input without ROS: frame limits before decoding, throttled problem reports."""

from bombs import jpeg_bomb, png_bomb, png_header_only
from clip_depth_ros import pixels
from clip_depth_ros.config import ConfigError
from clip_depth_ros.frame_limits import (check_compressed, declared_format, FrameLimits,
                                         FrameRejected, read_header)
from clip_depth_ros.health import MESSAGE_CHARS, ProblemLog
from clip_depth_ros.image_io import ImageReadError, read_depth_png, read_rgb
import cv2
import numpy as np
import pytest


def encode(ext, shape=(37, 53, 3), params=()):
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(ext, rng.integers(0, 256, shape, dtype=np.uint8), list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize('ext,params,name', [
    ('.png', (), 'png'), ('.jpg', (), 'jpeg'),
    ('.jpg', (cv2.IMWRITE_JPEG_PROGRESSIVE, 1), 'jpeg'),   # SOF2
    ('.bmp', (), 'bmp'), ('.webp', (), 'webp'),
    ('.webp', (cv2.IMWRITE_WEBP_QUALITY, 101), 'webp'),    # lossless VP8L
])
def test_header_gives_the_size_the_decoder_finds(ext, params, name):
    for shape in ((37, 53, 3), (480, 640, 3), (1, 3000, 3)):
        data = encode(ext, shape, params)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert read_header(data) == (name, decoded.shape[1], decoded.shape[0])


@pytest.fixture
def imdecode_calls(monkeypatch):
    """Every frame that reaches cv2.imdecode (the real one still decodes it)."""
    calls = []
    real = cv2.imdecode

    def spy(buf, flags):
        calls.append(len(buf))
        return real(buf, flags)
    monkeypatch.setattr(cv2, 'imdecode', spy)
    return calls


@pytest.mark.parametrize('bomb,fmt', [(png_bomb, 'png'), (jpeg_bomb, 'jpeg'),
                                      (jpeg_bomb, ''), (png_bomb, 'bgr8; png compressed bgr8')])
def test_bombs_are_refused_before_decoding(bomb, fmt, imdecode_calls):
    data = bomb()
    assert len(data) < 400_000  # a few hundred KB at most, 20000 x 20000 declared
    with pytest.raises(FrameRejected) as e:
        pixels.compressed_to_rgb(data, fmt)
    assert e.value.kind == 'too_large' and '20000x20000' in str(e.value)
    assert imdecode_calls == []


def test_raw_frames_get_the_same_limit_before_any_allocation():
    with pytest.raises(FrameRejected) as e:  # no data at all: refused on the header alone
        pixels.raw_to_rgb(b'', 'rgb8', 20000, 20000, 60000)
    assert e.value.kind == 'too_large'
    small = FrameLimits(max_pixels=100)
    with pytest.raises(FrameRejected):
        pixels.raw_to_rgb(bytes(11 * 10 * 3), 'rgb8', 11, 10, 33, limits=small)
    assert pixels.raw_to_rgb(bytes(10 * 10 * 3), 'rgb8', 10, 10, 30, limits=small).shape == \
        (10, 10, 3)
    with pytest.raises(FrameRejected) as e:
        pixels.raw_to_rgb(bytes(5), 'rgb8', 10, 10, 30)
    assert e.value.kind == 'short_buffer'


@pytest.mark.parametrize('ext,declared,kind', [
    ('.bmp', 'bmp', 'unsupported_format'), ('.bmp', '', 'unsupported_format'),
    ('.tiff', 'tiff', 'unsupported_format'), ('.tiff', 'png', 'unsupported_format'),
    ('.webp', 'jpeg', 'unsupported_format'), ('.webp', '', 'unsupported_format'),
    ('.png', 'jpeg', 'format_mismatch'), ('.jpg', 'png', 'format_mismatch'),
])
def test_only_declared_jpeg_and_png_reach_the_decoder(ext, declared, kind, imdecode_calls):
    with pytest.raises(FrameRejected) as e:
        pixels.compressed_to_rgb(encode(ext), declared)
    assert e.value.kind == kind
    assert imdecode_calls == []


def test_formats_can_be_widened_only_to_ones_whose_header_is_read(imdecode_calls):
    wide = FrameLimits(compressed_formats=('JPEG', 'png', 'bmp'))
    assert wide.compressed_formats == ('jpeg', 'png', 'bmp')
    assert pixels.compressed_to_rgb(encode('.bmp'), 'bmp', wide).shape == (37, 53, 3)
    with pytest.raises(FrameRejected, match='too_large|over the limit'):
        pixels.compressed_to_rgb(encode('.bmp'), 'bmp', FrameLimits(
            max_pixels=100, compressed_formats=('bmp',)))
    assert len(imdecode_calls) == 1
    for bad in (('tiff',), (), 'png'):
        with pytest.raises(ConfigError, match='compressed_formats'):
            FrameLimits(compressed_formats=bad)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match='max_pixels'):
            FrameLimits(max_pixels=bad)


@pytest.mark.parametrize('data,kind', [
    (b'', 'empty'), (b'\x89PNG\r\n\x1a\n\x00\x00', 'corrupt'), (b'\xff\xd8\xff\xe0\x00',
                                                                'corrupt'),
    (b'\xff\xd8\xff\xda\x00\x08' + bytes(8), 'corrupt'),   # scan before any frame header
    (bytes(range(256)) * 4, 'corrupt'),
])
def test_corrupt_headers_are_named(data, kind, imdecode_calls):
    with pytest.raises(FrameRejected) as e:
        pixels.compressed_to_rgb(data, 'jpeg' if data[:2] == b'\xff\xd8' else '')
    assert e.value.kind == kind and imdecode_calls == []


def test_random_bytes_after_a_valid_header_fail_in_the_decoder_not_the_process():
    data = encode('.jpg')[:200] + np.random.default_rng(1).bytes(500)
    check_compressed(data, 'jpeg')  # the header is fine and small
    try:
        pixels.compressed_to_rgb(data, 'jpeg')
    except FrameRejected as e:
        assert e.kind == 'corrupt'


def test_declared_format_strings():
    assert declared_format('jpeg') == 'jpeg' and declared_format('JPG') == 'jpeg'
    assert declared_format('rgb8; jpeg compressed bgr8') == 'jpeg'
    assert declared_format('16UC1; compressedDepth png') == 'compresseddepth'
    assert declared_format('') is None
    assert len(declared_format('x' * 10_000)) <= 40


def test_file_readers_check_before_decoding(tmp_path, imdecode_calls):
    huge = tmp_path / 'huge.png'
    huge.write_bytes(png_header_only(100_000, 100_000))
    for read in (read_rgb, lambda p: read_depth_png(p, 1000.0)):
        with pytest.raises(ImageReadError) as e:
            read(huge)
        assert str(huge) in str(e.value) and e.value.kind == 'too_large'
    bmp = tmp_path / 'frame.bmp'
    bmp.write_bytes(encode('.bmp'))
    with pytest.raises(ImageReadError, match='frame.bmp') as e:
        read_rgb(bmp)
    assert e.value.kind == 'unsupported_format' and imdecode_calls == []
    good = tmp_path / 'good.jpg'
    good.write_bytes(encode('.jpg'))
    assert read_rgb(good).shape == (37, 53, 3)
    depth = tmp_path / 'depth.png'
    cv2.imwrite(str(depth), np.full((4, 6), 2000, np.uint16))
    np.testing.assert_array_equal(read_depth_png(depth, 1000.0), np.full((4, 6), 2.0))


# -- problem log ---------------------------------------------------------------------------------
def test_varying_text_bursts_give_one_line_per_key():
    now = [0.0]
    log = ProblemLog(throttle_s=10.0, expire_s=5.0, clock=lambda: now[0])
    rng = np.random.default_rng(0)
    said = []
    for i in range(300):  # 10 s at 30 Hz, texts differ every time, two kinds alternate
        now[0] = i / 30.0
        key = ('image.short_buffer', 'image.corrupt')[i % 2]
        said.append(log.report(key, f'data holds {int(rng.integers(1e6))} bytes; frame {i}'))
        if i % 3 == 0:
            log.clear_prefix('image.')  # a good frame in between does not reset the throttle
    assert said.count(True) == 2, said.index(True)
    assert log.totals() == {'image.short_buffer': 150, 'image.corrupt': 150}
    now[0] = 10.5
    assert log.report('image.corrupt', 'yet another text') is True  # next throttle period


def test_messages_are_cut_and_counted_per_key():
    log = ProblemLog()
    log.report('image.encoding', 'unsupported encoding ' + 'x' * 10_000)
    for _ in range(4):
        log.report('image.encoding', 'e' * 5000)
    (key, problem), = log.active()
    assert key == 'image.encoding' and problem.count == 5
    assert len(problem.message) <= MESSAGE_CHARS and '5000 chars' in problem.message


def test_keys_from_data_cannot_grow_the_log_without_bound():
    log = ProblemLog()
    for i in range(1000):
        log.report(f'key{i}', 'm')
    assert len(log.totals()) <= 65 and log.totals()['problems.other'] == 1000 - 64
