# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A camera in its own process: publishes N rgb8 frames + camera_info at a rate, then exits.

Usage: camera_publisher.py TOPIC_NS RELIABILITY(reliable|best_effort) RATE_HZ:N[,RATE_HZ:N] [HxW]
Prints 'ready' once a subscriber has matched, then for each phase waits for a line on stdin,
publishes N frames at RATE_HZ and prints 'sent N'. Default Fast DDS, no profile file: what a
camera driver next to the node looks like.
"""

import sys
import time

import numpy as np
import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image


def main() -> int:
    ns, reliability = sys.argv[1], sys.argv[2]
    phases = [(float(r), int(n)) for r, n in (p.split(':') for p in sys.argv[3].split(','))]
    h, w = (int(v) for v in (sys.argv[4] if len(sys.argv) > 4 else '480x640').split('x'))
    policy = {'reliable': ReliabilityPolicy.RELIABLE,
              'best_effort': ReliabilityPolicy.BEST_EFFORT}[reliability]
    # A driver's usual profile: keep last few, the chosen reliability.
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=policy)
    rclpy.init()
    node = rclpy.create_node('camera_publisher')
    image_pub = node.create_publisher(Image, f'{ns}/image', qos)
    info_pub = node.create_publisher(CameraInfo, f'{ns}/camera_info', qos)
    deadline = time.monotonic() + 30.0
    while image_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    print('ready', flush=True)
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    msg = Image(height=h, width=w, encoding='rgb8', step=w * 3, data=rgb.tobytes())
    info = CameraInfo(width=w, height=h, k=[w * 0.8, 0.0, w / 2, 0.0, w * 0.8, h / 2, 0, 0, 1])
    msg.header.frame_id = info.header.frame_id = 'camera_optical'
    stamp = 1000
    for rate_hz, count in phases:
        sys.stdin.readline()
        period = 1.0 / rate_hz
        start = time.monotonic()
        for i in range(count):
            stamp += 1
            msg.header.stamp.sec = info.header.stamp.sec = stamp
            info_pub.publish(info)
            image_pub.publish(msg)
            time.sleep(max(0.0, start + (i + 1) * period - time.monotonic()))
        print(f'sent {count}', flush=True)
    sys.stdin.readline()  # stay up until told: reliable delivery may still be under way
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
