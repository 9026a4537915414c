# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Scale-anchoring references read from a bag, for the bag tool: what the node's inputs do live.

A first pass lists the reference stamps, so each frame knows which reference it will match
(the nearest within the tolerance); a frame whose reference comes later in the bag waits for
it, and the rest go straight through. Matching, fit and smoothing are serving.anchoring's.
"""

from __future__ import annotations

import bisect
import dataclasses
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from clip_depth_ros.bags.reader import (BagError, CAMERA_INFO, CameraInfos, CLOUD, deserialize,
                                        IMAGE, messages, stamp_ns)
from clip_depth_ros.config import AnchorConfig
from clip_depth_ros.frames import anchoring
from clip_depth_ros.frames.geometry import Intrinsics, InvalidIntrinsics
from clip_depth_ros.frames.pixels import depth_to_metres
from clip_depth_ros.serving.anchoring import CameraAnchor, points_reference, Reference

SCAN = 'sensor_msgs/msg/LaserScan'
MODES = {IMAGE: 'depth', CLOUD: 'points', SCAN: 'scan'}


class BagReferences:
    """One reference topic anchoring every processed image topic of a bag."""

    def __init__(self, reader, typestore, topic: str, config: AnchorConfig,
                 image_topics: Sequence[str], input_path: Path, max_pixels: int) -> None:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            raise BagError(f'{input_path}: no topic named {topic} (--reference-topic)')
        self.msgtype = conns[0].msgtype
        if self.msgtype not in MODES:
            raise BagError(f'{input_path}: {topic} is {self.msgtype}; a reference is a '
                           f'registered depth Image, a PointCloud2 or a LaserScan')
        self.topic, self.typestore, self.input_path = topic, typestore, input_path
        self.max_pixels = max_pixels
        self.config = dataclasses.replace(config, mode=MODES[self.msgtype])
        self.extrinsic = anchoring.Extrinsic.from_values(self.config.extrinsic)
        # Pass 1: the stamps only (each message is dropped once its header is read).
        self.stamps = sorted(stamp_ns(deserialize(typestore, raw, conn, input_path, t).header)
                             for conn, t, raw in messages(reader, input_path, connections=conns))
        self.infos = CameraInfos()
        info_topic = topic.rsplit('/', 1)[0] + '/camera_info'
        info_conns = [c for c in reader.connections
                      if c.topic == info_topic and c.msgtype == CAMERA_INFO]
        if self.msgtype == IMAGE and info_conns:
            for conn, t, raw in messages(reader, input_path, connections=info_conns):
                self.infos.add(deserialize(typestore, raw, conn, input_path, t))
        self.anchors = {t: CameraAnchor(self.config) for t in image_topics}
        self._seen: set = set()
        self._pending: List[Tuple[int, Any, int, bytes]] = []

    def is_reference(self, conn) -> bool:
        return conn.topic == self.topic

    def _awaited(self, stamp: int) -> Optional[int]:
        """Stamp of the reference a frame at `stamp` will match, or None."""
        i = bisect.bisect_left(self.stamps, stamp)
        near = [s for s in self.stamps[max(0, i - 1):i + 1]
                if abs(s - stamp) <= self.config.tolerance_ms * 1e6]
        return min(near, key=lambda s: abs(s - stamp)) if near else None

    def ready(self, conn, raw: bytes, timestamp: int) -> bool:
        """Whether a frame can run now; if not, it waits for its reference (`add` returns it)."""
        msg = deserialize(self.typestore, raw, conn, self.input_path, timestamp)
        awaited = self._awaited(stamp_ns(msg.header))
        if awaited is None or awaited in self._seen:
            return True
        self._pending.append((awaited, conn, timestamp, raw))
        return False

    def add(self, conn, timestamp: int, raw: bytes) -> Iterable[Tuple[Any, int, bytes]]:
        """Read a reference message; return the waiting frames it releases, in bag order."""
        msg = deserialize(self.typestore, raw, conn, self.input_path, timestamp)
        stamp = stamp_ns(msg.header)
        ref = self._reference(msg, stamp)
        if ref is not None:
            for anchor in self.anchors.values():
                anchor.add(ref)
        self._seen.add(stamp)
        released = [item[1:] for item in self._pending if item[0] == stamp]
        self._pending = [item for item in self._pending if item[0] != stamp]
        return released

    def drain(self) -> List[Tuple[Any, int, bytes]]:
        """Frames still waiting at the end of the bag (their reference did not parse)."""
        out, self._pending = [item[1:] for item in self._pending], []
        return out

    def _reference(self, msg, stamp: int) -> Optional[Reference]:
        if self.msgtype == IMAGE:
            if int(msg.width) * int(msg.height) > self.max_pixels:
                return None
            try:
                depth = depth_to_metres(msg.data.tobytes(), msg.encoding, int(msg.width),
                                        int(msg.height), int(msg.step),
                                        bool(msg.is_bigendian))
            except ValueError:
                return None
            info, intr = self.infos.for_stamp(stamp), None
            if info is not None:
                try:
                    intr = Intrinsics.from_camera_info_msg(info)
                    intr.check_image_size(depth.shape[1], depth.shape[0])
                except InvalidIntrinsics:
                    intr = None
            return Reference(stamp, depth_m=depth, depth_intr=intr)
        if self.msgtype == CLOUD:
            try:
                xyz = anchoring.cloud_points(msg)
            except ValueError:
                return None
        else:
            xyz = anchoring.scan_points(msg.ranges, msg.angle_min, msg.angle_increment,
                                        msg.range_min, msg.range_max)
        return points_reference(stamp, xyz, self.extrinsic, self.config.max_points)

    def corrector(self, image_topic: str, stamp: int, intr: Optional[Intrinsics]):
        """Return the depth corrector of a frame of `image_topic`."""
        return self.anchors[image_topic].corrector(stamp, intr)

    def counts(self) -> Dict[str, Tuple[int, int]]:
        """Return {image topic: (frames corrected, frames left as predicted)}."""
        return {t: (a.frames_corrected, a.frames_uncorrected) for t, a in self.anchors.items()}
