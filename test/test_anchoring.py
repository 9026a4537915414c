# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Scale anchoring on real TUM depth: projection, the robust fit, the smoother, the hook."""

import math
from pathlib import Path

from clip_depth_ros.config import AnchorConfig, ConfigError, NodeConfig
from clip_depth_ros.frames import anchoring
from clip_depth_ros.frames.geometry import Intrinsics, unproject
from clip_depth_ros.frames.image_io import read_depth_png
from clip_depth_ros.serving.anchoring import CameraAnchor, points_reference, Reference
import numpy as np
import pytest
import torch

DATA = Path(__file__).resolve().parent.parent / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy'
INTR = Intrinsics(517.3, 516.5, 318.6, 255.3, 640, 480)
CFG = AnchorConfig(mode='depth')


def tum_depths():
    paths = sorted((DATA / 'depth').glob('*.png'))
    assert len(paths) == 10
    return [read_depth_png(p, 5000.0) for p in paths]


@pytest.fixture(scope='module')
def gts():
    return tum_depths()


def noisy_prediction(gt, factor, seed, noise=0.05):
    """Make a 'prediction': ground truth / factor, 5 % log noise; holes get plausible depth."""
    rng = np.random.default_rng(seed)
    pred = gt / factor * np.exp(rng.normal(0, noise, gt.shape)).astype(np.float32)
    pred[gt <= 0] = 2.0 / factor
    return pred.astype(np.float32)


@pytest.mark.parametrize('factor', [0.5, 1.7, 3.0])
def test_recovers_a_known_scale_on_real_depth(gts, factor):
    for i, gt in enumerate(gts):
        pred = noisy_prediction(gt, factor, i)
        ref = anchoring.sample_ground_truth(gt, 'sparse', 1.0, (7, i))
        fit = anchoring.fit_points(pred, ref, CFG)
        assert fit.ok, fit.reason
        assert abs(fit.correction.scale / factor - 1) < 0.01, (i, fit)
        assert fit.inlier_fraction > 0.9
        assert fit.residual < 0.06


def test_outliers_are_rejected(gts):
    """40 % of the reference points are wrong (multipath, glass, a person): the scale holds."""
    gt = gts[3]
    pred = noisy_prediction(gt, 2.0, 3)
    ref = anchoring.sample_ground_truth(gt, 'sparse', 2.0, (1,))
    rng = np.random.default_rng(0)
    z = ref.z.copy()
    bad = rng.random(z.size) < 0.4
    z[bad] = rng.uniform(0.3, 8.0, bad.sum()).astype(np.float32)
    fit = anchoring.fit_points(pred, anchoring.ReferencePoints(ref.u, ref.v, z), CFG)
    assert fit.ok and abs(fit.correction.scale / 2.0 - 1) < 0.02, fit
    assert 0.5 < fit.inlier_fraction < 0.75


def test_too_few_points_gives_no_correction(gts):
    gt = gts[0]
    ref = anchoring.sample_ground_truth(gt, 'sparse', 100.0)
    few = anchoring.ReferencePoints(ref.u[:CFG.min_points - 1], ref.v[:CFG.min_points - 1],
                                    ref.z[:CFG.min_points - 1])
    fit = anchoring.fit_points(gt * 0.5, few, CFG)
    assert not fit.ok
    assert fit.reason == (f'{CFG.min_points - 1} valid reference points, fewer than '
                          f'{CFG.min_points}')
    assert fit.correction == anchoring.Correction()
    assert not anchoring.fit_points(gt, anchoring.ReferencePoints(
        *(np.zeros(0, np.float32),) * 3), CFG).ok


def test_scale_outside_bounds_gives_no_correction(gts):
    gt = gts[0]
    ref = anchoring.sample_ground_truth(gt, 'sparse', 1.0)
    fit = anchoring.fit_points(gt / 10.0, ref, CFG)  # would need x10, max_scale is 5
    assert not fit.ok and 'outside' in fit.reason


def test_scale_shift_in_inverse_depth(gts):
    gt = gts[5]
    valid = gt > 0
    inv = np.where(valid, 1.0 / np.where(valid, gt, 1), 0.5)
    # prediction whose inverse depth is an affine map of the truth's: 1/p = 0.5/z + 0.3
    pred = (1.0 / (0.5 * inv + 0.3)).astype(np.float32)
    ref = anchoring.sample_ground_truth(gt, 'sparse', 1.0)
    cfg = AnchorConfig(mode='depth', fit='scale_shift')
    fit = anchoring.fit_points(pred, ref, cfg)
    assert fit.ok, fit.reason
    out = anchoring.apply_correction(pred, fit.correction)
    rel = np.abs(out[valid] - gt[valid]) / gt[valid]
    assert np.median(rel) < 0.01
    scale_only = anchoring.fit_points(pred, ref, CFG)
    out1 = anchoring.apply_correction(pred, scale_only.correction)
    assert np.median(np.abs(out1[valid] - gt[valid]) / gt[valid]) > 5 * np.median(rel)


def test_registered_depth_image_at_another_resolution(gts):
    """A 320x240 depth camera registered to the 640x480 camera: its pixels land in place."""
    gt = gts[2]
    half = gt[::2, ::2].copy()
    half[half == 0] = np.nan
    half_intr = Intrinsics(517.3 / 2, 516.5 / 2, 318.6 / 2, 255.3 / 2, 320, 240)
    pts = anchoring.from_depth_image(half, half_intr, INTR, 3000)
    assert 500 < len(pts) <= 3000
    at = anchoring.sample_depth(gt, pts)
    assert np.median(np.abs(at - pts.z) / pts.z) < 1e-6
    fit = anchoring.fit_points(noisy_prediction(gt, 1.3, 0), pts, CFG)
    assert fit.ok and abs(fit.correction.scale / 1.3 - 1) < 0.01


def quat_about(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return tuple(axis * math.sin(angle / 2)) + (math.cos(angle / 2),)


def test_points_through_an_extrinsic_and_a_scan(gts):
    gt = gts[4]
    cam_xyz = unproject(np.where(gt > 0, gt, np.nan), INTR, 4).reshape(-1, 3)
    cam_xyz = cam_xyz[np.isfinite(cam_xyz[:, 2])].astype(np.float64)
    ext = anchoring.Extrinsic.from_values((0.1, -0.05, 0.02) + quat_about((1, 2, 3), 0.4))
    rot, t = ext.matrix(), np.asarray(ext.translation)
    sensor_xyz = (cam_xyz - t) @ rot  # inverse of p_c = R p + t
    ref = points_reference(1, sensor_xyz, ext, 2000)
    pts = ref.project(INTR, 2000)
    assert len(pts) == 2000
    assert np.median(np.abs(anchoring.sample_depth(gt, pts) - pts.z) / pts.z) < 1e-3
    fit = anchoring.fit_points(noisy_prediction(gt, 0.6, 1), pts, CFG)
    assert fit.ok and abs(fit.correction.scale / 0.6 - 1) < 0.01
    # A planar scan in a frame whose x is the camera's z (forward): ranges = gt on row cy.
    row = int(round(INTR.cy))
    u = np.arange(40, 600)
    z = gt[row, u].astype(np.float64)
    ok = z > 0
    x = (u - INTR.cx) / INTR.fx * z
    ang, rng_ = np.arctan2(-x, z), np.hypot(x, z)  # scan y to the left = -camera x
    order = np.argsort(ang[ok])
    a_sorted, r_sorted = ang[ok][order], rng_[ok][order]
    inc = (a_sorted[-1] - a_sorted[0]) / (len(a_sorted) - 1)
    grid = a_sorted[0] + inc * np.arange(len(a_sorted))
    ranges = np.interp(grid, a_sorted, r_sorted)
    xyz = anchoring.scan_points(ranges, a_sorted[0], inc, 0.1, 20.0)
    # scan (x fwd, y left, z up) -> optical (x right, y down, z fwd): rotation of the REP 103
    # optical convention, translation 0.
    scan_to_optical = anchoring.Extrinsic.from_values((0, 0, 0, 0.5, -0.5, 0.5, 0.5))
    pts = anchoring.from_points(xyz, INTR, scan_to_optical, 5000)
    assert len(pts) > 300
    assert np.all(np.abs(pts.v - INTR.cy) < 1e-3)
    fit = anchoring.fit_points(noisy_prediction(gt, 2.5, 2), pts, CFG)
    assert fit.ok and abs(fit.correction.scale / 2.5 - 1) < 0.02, fit


def test_cloud_fields_are_read_by_offset():
    class Field:
        def __init__(self, name, offset):
            self.name, self.offset, self.datatype, self.count = name, offset, 7, 1

    class Cloud:
        fields = [Field('z', 8), Field('x', 0), Field('y', 4), Field('intensity', 12)]
        width, height, point_step, is_bigendian = 3, 1, 16, False
        data = np.array([[1, 2, 3, 9], [4, 5, 6, 9], [7, 8, 9, 9]], '<f4').tobytes()
    xyz = anchoring.cloud_points(Cloud())
    assert xyz.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    Cloud.data = Cloud.data[:-1]
    with pytest.raises(ValueError):
        anchoring.cloud_points(Cloud())


def test_smoother_time_constant_is_in_stamp_time():
    s = anchoring.ScaleSmoother(time_constant_s=1.0, hold_s=2.0)
    s.update(0, anchoring.Correction(1.0))
    # a step to x2 followed at 10 Hz: after 1 s of stamps, 63 % of the way (in log scale)
    for k in range(1, 11):
        out = s.update(k * 100_000_000, anchoring.Correction(2.0))
    assert abs(math.log(out.scale) / math.log(2.0) - (1 - math.exp(-1))) < 1e-6
    # the same at 100 Hz: the same fraction after the same second
    s2 = anchoring.ScaleSmoother(1.0, 2.0)
    s2.update(0, anchoring.Correction(1.0))
    for k in range(1, 101):
        out2 = s2.update(k * 10_000_000, anchoring.Correction(2.0))
    assert abs(out2.scale - out.scale) < 1e-9
    assert s.current(1_000_000_000 + 2_100_000_000) is None  # older than hold_s
    # back in time: start over
    assert s.update(0, anchoring.Correction(3.0)).scale == pytest.approx(3.0)


def test_camera_anchor_matches_by_stamp_and_corrects_numpy_and_torch(gts):
    gt = gts[1]
    ref_depth = np.where(gt > 0, gt, np.nan).astype(np.float32)
    anchor = CameraAnchor(AnchorConfig(mode='depth', tolerance_ms=20, time_constant_s=0))
    pred = noisy_prediction(gt, 2.0, 0)
    stamp = 1_000_000_000
    # nothing received: the depth passes unchanged
    assert anchor.corrector(stamp, INTR)(pred) is pred
    assert anchor.values()['anchor_state'] == 'no reference received'
    anchor.add(Reference(stamp + 30_000_000, ref_depth, INTR))  # 30 ms away: stale
    assert anchor.corrector(stamp, INTR)(pred) is pred
    assert 'within 20 ms' in anchor.values()['anchor_state']
    anchor.add(Reference(stamp + 5_000_000, ref_depth, INTR))
    out = anchor.corrector(stamp, INTR)(pred)
    valid = gt > 0
    assert abs(np.median(out[valid] / gt[valid]) - 1) < 0.01
    values = anchor.values()
    assert values['anchor_state'] == 'ok' and abs(float(values['anchor_scale']) - 2) < 0.02
    out_t = anchor.corrector(stamp, INTR)(torch.from_numpy(pred))
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-5)
    assert CameraAnchor(AnchorConfig()).corrector(stamp, INTR) is None  # off


def test_rows_pattern_and_align_spec(gts):
    gt = gts[0]
    pts = anchoring.sample_ground_truth(gt, 'rows', 16)
    assert 14 <= len(np.unique(pts.v)) <= 16  # a row without valid ground truth gives none
    a = anchoring.sample_ground_truth(gt, 'sparse', 0.1, (0, 3))
    b = anchoring.sample_ground_truth(gt, 'sparse', 0.1, (0, 3))
    assert np.array_equal(a.u, b.u) and abs(len(a) - 0.001 * (gt > 0).sum()) < 1
    assert anchoring.parse_align_spec('sparse:0.1') == ('sparse', 0.1)
    assert anchoring.parse_align_spec('rows:16') == ('rows', 16.0)
    for bad in ('sparse:0', 'sparse:101', 'rows:0', 'lines:3', 'sparse'):
        with pytest.raises(ValueError):
            anchoring.parse_align_spec(bad)


def test_config_is_strict():
    with pytest.raises(ConfigError, match='mode'):
        AnchorConfig(mode='lidar')
    with pytest.raises(ConfigError, match='extrinsic'):
        AnchorConfig(extrinsic=(0, 0, 0, 0, 0, 0, 2))
    with pytest.raises(ConfigError, match='extrinsic'):
        AnchorConfig(extrinsic=(0, 0, 0))
    with pytest.raises(ConfigError, match='max_scale'):
        AnchorConfig(min_scale=2.0)
    with pytest.raises(ConfigError, match='tolerance_ms'):
        AnchorConfig(tolerance_ms=True)
    with pytest.raises(ConfigError, match='anchor_fit'):
        NodeConfig(anchor_fit='affine')
    assert NodeConfig(anchor_extrinsic=[0, 0, 0, 0, 0, 0, 1]).anchor().extrinsic == \
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def test_aligned_scores_recover_a_scaled_prediction(gts):
    from clip_depth_ros.train.alignment import AlignedScores
    scores = AlignedScores('sparse:0.1', 1e-3, 10.0)
    rows = []
    for i, gt in enumerate(gts):
        pred = noisy_prediction(gt, 1.6, i)
        scores.add({'name': str(i), 'depth': gt}, pred)
        rows.append(anchoring.fit_points(pred, anchoring.sample_ground_truth(
            gt, 'sparse', 0.1, (0, i)), scores.config).correction.scale)
    m = scores.metrics()
    assert m['align_fitted'] == 10 and abs(m['align_scale_median'] / 1.6 - 1) < 0.02
    assert m['aligned_abs_rel'] < 0.06  # the noise's own; unaligned it is ~0.37
    assert [scores.rows[str(i)]['align_scale'] for i in range(10)] == rows  # same seed rule


def test_eval_align_prints_before_and_after(tmp_path, capsys):
    """clip-depth-eval --align on the shipped frames (a constant baseline: scale recovered)."""
    import json
    from clip_depth_ros.cli.eval import main
    out = tmp_path / 'eval'
    # A constant 2 m against TUM's 0.5..3 m scenes: the scale of the scene is recovered.
    assert main(['--baseline', 'median', '--constant-depth-m', '2', '--dataset', 'folder',
                 '--data-root', str(DATA), '--depth-scale', '5000', '--out', str(out),
                 '--align', 'rows:24']) == 0
    text = capsys.readouterr().out
    assert 'as predicted' in text and 'aligned with --align rows:24' in text
    m = json.loads((out / 'metrics.json').read_text())
    assert m['align'] == 'rows:24' and m['align_fitted'] == 10
    assert 'aligned_abs_rel' in (out / 'per_image.csv').read_text().splitlines()[0]
    assert m['aligned_abs_rel'] < 0.2 < 1.0 < m['abs_rel']
    with pytest.raises(SystemExit):
        main(['--baseline', 'median', '--dataset', 'folder', '--data-root', str(DATA),
              '--out', str(out), '--align', 'sparse:0'])
