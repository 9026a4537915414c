# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Scale anchoring in the depth node over real DDS: a mis-scaled camera brought to scale."""

import itertools
import math

from clip_depth_ros.frames import anchoring, geometry
from clip_depth_ros.ros import conversions
from clip_depth_ros.ros.depth_node import DepthNode
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from ros_harness import Graph, wait_for
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

H, W = 96, 128
FX = 100.0
_STAMPS = itertools.count(1)
_RIGS = itertools.count(1)


def camera_info(fx):
    k = [fx, 0.0, 64.0, 0.0, 110.0, 48.0, 0.0, 0.0, 1.0]
    p = [fx, 0.0, 64.0, 0.0, 0.0, 110.0, 48.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return CameraInfo(header=header(), width=W, height=H, distortion_model='plumb_bob',
                      d=[0.0] * 5, k=k, r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=p)


def header(frame='camera_optical_frame'):
    i = next(_STAMPS)
    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = 1_700_000_000 + i, 500_000 + i
    return h


def image(hdr, seed=3):
    rgb = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    return Image(header=hdr, height=H, width=W, encoding='rgb8', is_bigendian=False,
                 step=W * 3, data=rgb.tobytes())


class AnchorRig:
    def __init__(self, checkpoint, reference_type, late_reference=False, **params):
        self.ns = f'/anchor{next(_RIGS)}'
        self.graph = g = Graph()
        overrides = [Parameter('checkpoint', value=str(checkpoint)),
                     Parameter('device', value='cpu'), Parameter('max_range', value=1000.0),
                     Parameter('diagnostics_period', value=0.2),
                     Parameter('anchor_time_constant_s', value=0.0)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.depth = g.record(Image, f'{self.ns}/depth/image')
        self.points = g.record(PointCloud2, f'{self.ns}/depth/points')
        self.diag = g.record(DiagnosticArray, '/diagnostics')
        self.image_pub = g.publisher(Image, f'{self.ns}/image')
        self.info_pub = g.publisher(CameraInfo, f'{self.ns}/camera_info')
        ref_topic = f'{self.ns}/{params["anchor_topic"]}'
        if not late_reference:
            self.ref_pub = g.publisher(reference_type, ref_topic)
        self.ref_info_pub = g.publisher(CameraInfo, f'{self.ns}/reference/camera_info')
        self.node = DepthNode(context=g.context, parameter_overrides=overrides,
                              namespace=self.ns)
        g.add(self.node)
        self.node.autostart()
        if late_reference:  # the sensor starts after the node: its QoS is followed
            assert self.node.references.reliability()[('', 'reference')] == \
                ReliabilityPolicy.BEST_EFFORT
            self.ref_pub = g.publisher(reference_type, ref_topic)
            wait_for(lambda: self.node.references.reliability()[('', 'reference')]
                     == ReliabilityPolicy.RELIABLE, what='reference QoS follows its publisher')
        wait_for(lambda: self.node.input_subscriptions() and all(
            s.get_publisher_count() > 0 for s in self.node.input_subscriptions())
            and self.ref_pub.get_subscription_count() > 0, what='discovery')
        wait_for(lambda: all(p.get_subscription_count() > 0
                             for n, p in self.node._pubs[''].items() if n in ('depth', 'points')),
                 what='output discovery')

    @property
    def anchor(self):
        return self.node.references.anchors['']

    def send_info(self, fx):
        self.info_pub.publish(camera_info(fx))
        wait_for(lambda: self.node.camera_info is not None and self.node.camera_info.p[0] == fx,
                 what='camera_info')

    def send_reference(self, msg):
        before = self.anchor.references
        self.ref_pub.publish(msg)
        wait_for(lambda: self.anchor.references > before, what='reference')

    def frame(self, hdr):
        """Publish a frame; return its depth and its cloud's z."""
        self.image_pub.publish(image(hdr))
        for bucket in (self.depth, self.points):
            wait_for(lambda b=bucket: any(m.header.stamp == hdr.stamp for m in b), 60.0,
                     what='output')
        depth = conversions.image_to_depth(
            next(m for m in self.depth if m.header.stamp == hdr.stamp))
        cloud = next(m for m in self.points if m.header.stamp == hdr.stamp)
        z = np.frombuffer(bytes(cloud.data), np.float32).reshape(H, W, -1)[..., 2]
        return depth, z

    def status(self, predicate):
        found = []

        def check():
            for arr in reversed(self.diag):
                for st in arr.status:
                    if st.name.startswith(self.ns + '/') and st.name.endswith(': depth'):
                        values = {kv.key: kv.value for kv in st.values}
                        if predicate(values):
                            found.append((st, values))
                            return True
            return False
        wait_for(check, 20.0, what='diagnostics')
        return found[0]

    def close(self):
        self.node.stop_inputs()
        self.graph.close()


def right_and_halved(rig):
    """Return the right camera's depth, after checking fx halved gives half of it."""
    rig.send_info(FX)
    right, _ = rig.frame(header())
    rig.send_info(FX / 2)
    half, _ = rig.frame(header())
    ok = np.isfinite(right) & np.isfinite(half)
    assert ok.mean() > 0.9
    assert abs(np.median(half[ok] / right[ok]) - 0.5) < 0.01  # the premise: half the scale
    return right


def spoil(depth, seed=0):
    """Add 1 % noise and 10 % wild outliers, as a real reference would have."""
    rng = np.random.default_rng(seed)
    out = depth * np.exp(rng.normal(0, 0.01, depth.shape))
    bad = rng.random(depth.shape) < 0.1
    out[bad] = rng.uniform(0.2, 20.0, bad.sum())
    return out.astype(np.float32)


def check_corrected(rig, right, hdr):
    depth, z = rig.frame(hdr)
    ok = np.isfinite(depth) & np.isfinite(right)
    ratio = np.median(depth[ok] / right[ok])
    assert abs(ratio - 1) < 0.02, ratio
    np.testing.assert_allclose(z[ok], depth[ok], rtol=1e-6)  # the cloud carries it too
    _, values = rig.status(lambda v: v.get('anchor_state') == 'ok')
    assert abs(float(values['anchor_scale']) - 2.0) < 0.04
    assert int(values['anchor_points']) >= 20
    assert float(values['anchor_inlier_fraction']) > 0.8
    assert values['anchor_reference_age_s'] != 'never'


def test_reference_depth_image_corrects_a_mis_scaled_camera(tiny_checkpoint):
    rig = AnchorRig(tiny_checkpoint, Image, late_reference=True, anchor_mode='depth',
                    anchor_topic='reference/image')
    try:
        right = right_and_halved(rig)
        # on, nothing received: published as predicted, and /diagnostics says why
        _, values = rig.status(lambda v: v.get('anchor_state') == 'no reference received')
        assert values['anchor_scale'] == '1.0000'
        hdr = header()
        # registered to the camera, at half its resolution, with its own camera_info
        info = camera_info(FX / 4)
        info.width, info.height = W // 2, H // 2
        info.k[2], info.k[5] = 31.75, 23.75
        info.p[2], info.p[6], info.p[5], info.k[4] = 31.75, 23.75, 55.0, 55.0
        rig.ref_info_pub.publish(info)
        ref = spoil(right)[::2, ::2]
        ref[:4] = np.nan  # no measurement there
        ref_hdr = Header(frame_id='depth_optical_frame', stamp=hdr.stamp)
        ref_hdr.stamp.nanosec += 20_000_000  # 20 ms later: within the 50 ms tolerance
        wait_for(lambda: rig.node.references._depth_info.get('') is not None,
                 what='reference camera_info')
        rig.send_reference(conversions.depth_to_image(ref, ref_hdr))
        check_corrected(rig, right, hdr)
    finally:
        rig.close()


def test_point_cloud_in_another_frame_corrects_a_mis_scaled_camera(tiny_checkpoint):
    angle = 0.3
    q = (0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2))  # lidar yawed about camera y
    extrinsic = [0.12, -0.08, 0.05, *q]
    rig = AnchorRig(tiny_checkpoint, PointCloud2, anchor_mode='points',
                    anchor_topic='lidar/points', anchor_extrinsic=extrinsic)
    try:
        right = right_and_halved(rig)
        intr = geometry.Intrinsics.from_camera_info_msg(camera_info(FX / 2))
        xyz_cam = geometry.unproject(spoil(right, 1), intr, 3).reshape(-1, 3).astype(float)
        ext = anchoring.Extrinsic.from_values(extrinsic)
        xyz_lidar = (xyz_cam - np.asarray(ext.translation)) @ ext.matrix()  # inverse transform
        hdr = header()
        cloud = conversions.xyz_to_cloud(xyz_lidar.astype(np.float32).reshape(1, -1, 3),
                                         Header(frame_id='lidar', stamp=hdr.stamp))
        rig.send_reference(cloud)
        check_corrected(rig, right, hdr)
        # a frame whose stamp no reference matches is published as predicted
        later = header()
        depth, _ = rig.frame(later)
        ok = np.isfinite(depth) & np.isfinite(right)
        assert abs(np.median(depth[ok] / right[ok]) - 0.5) < 0.01
        rig.status(lambda v: 'no reference within 50 ms' in v.get('anchor_state', ''))
    finally:
        rig.close()


def test_laser_scan_with_its_extrinsic_corrects_a_mis_scaled_camera(tiny_checkpoint):
    """A planar scan (x forward, y left) through the image's middle row, 10 cm below it."""
    from sensor_msgs.msg import LaserScan
    # scan frame -> optical frame: x_o = -y_s, y_o = -z_s + 0.1, z_o = x_s
    extrinsic = [0.0, 0.1, 0.0, 0.5, -0.5, 0.5, 0.5]
    rig = AnchorRig(tiny_checkpoint, LaserScan, anchor_mode='scan', anchor_topic='scan',
                    anchor_extrinsic=extrinsic)
    try:
        right = right_and_halved(rig)
        intr = geometry.Intrinsics.from_camera_info_msg(camera_info(FX / 2))
        # the row the scan plane (y_o = 0.1 m) crosses depends on depth: v = cy + fy 0.1 / z;
        # take each column's depth on the row nearest that, as the camera would see the plane.
        cols = np.arange(W)
        z = right[int(intr.cy), cols].astype(float)
        for _ in range(3):
            rows = np.clip(np.rint(intr.cy + intr.fy * 0.1 / z), 0, H - 1).astype(int)
            z = right[rows, cols].astype(float)
        x = (cols - intr.cx) / intr.fx * z
        angles, ranges = np.arctan2(-x, z), np.hypot(x, z)  # scan y = -optical x
        order = np.argsort(angles)
        inc = (angles[order][-1] - angles[order][0]) / (W - 1)
        grid = angles[order][0] + inc * np.arange(W)
        hdr = header()
        scan = LaserScan(header=Header(frame_id='laser', stamp=hdr.stamp),
                         angle_min=float(grid[0]), angle_max=float(grid[-1]),
                         angle_increment=float(inc), range_min=0.05, range_max=1000.0,
                         ranges=np.interp(grid, angles[order], ranges[order]).astype(
                             np.float32).tolist())
        rig.send_reference(scan)
        check_corrected(rig, right, hdr)
    finally:
        rig.close()
