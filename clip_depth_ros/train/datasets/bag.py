# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Recorded rosbag2 bags (MCAP or sqlite3) as a depth dataset, read with `rosbags` (no ROS).

Three topics per bag: a colour image (Image or CompressedImage), a depth image registered to
it (16UC1 millimetres with 0 = none, or 32FC1 metres with NaN/+-Inf per REP 117) and the colour
camera_info. Colour and depth are paired by header stamp (closest first, one to one, within a
tolerance); the split is by time, the last fraction of each bag validating, because
neighbouring frames are near-duplicates and a random split would validate on training data.
Registration is the driver's job: depth of another size or camera is refused, not resampled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from clip_depth_ros.bags.reader import (BagError, CAMERA_INFO, CameraInfos, COMPRESSED,
                                        decode_image, deserialize, IMAGE, stamp_ns, storage_errors,
                                        verify_bag)
from clip_depth_ros.frames import limits as frame_limits
from clip_depth_ros.frames.geometry import Intrinsics, InvalidIntrinsics
from clip_depth_ros.frames.pixels import DEPTH_ENCODINGS, depth_to_metres
from clip_depth_ros.frames.rectify import CameraModel, CameraModels
from clip_depth_ros.train.datasets.common import (associate, DatasetError, DepthCheck,
                                                  split_with_gap)
import cv2
import numpy as np

LOG = logging.getLogger(__name__)
ALIGN_HINT = ('publish depth registered to the colour camera (RealSense: '
              'align_depth.enable:=true, topic /camera/aligned_depth_to_color/image_raw; '
              'otherwise depth_image_proc/register)')


@dataclass(frozen=True)
class BagTopics:
    """The three topics a bag dataset reads."""

    image: str
    depth: str
    camera_info: str


@dataclass(frozen=True)
class BagPair:
    """One colour/depth pair: where to find both messages and the colour camera's intrinsics."""

    bag: str
    image_stamp_ns: int
    depth_stamp_ns: int
    image_log_ns: int
    depth_log_ns: int
    intrinsics: Intrinsics
    frame_id: str = ''
    # The colour camera_info's model: frames (and the depth registered to them) are rectified
    # as the node rectifies them when it has distortion. Shared by the pairs of one camera_info.
    camera: Optional[CameraModel] = field(default=None, compare=False, repr=False)


@dataclass
class BagIndex:
    """What one pass over a bag found: the pairs in time order and the frames left unpaired."""

    bag: str
    image_msgtype: str
    pairs: List[BagPair]
    unmatched_colour: List[int] = field(default_factory=list)
    unmatched_depth: List[int] = field(default_factory=list)


def list_bags(root: Path, names: Sequence[str] = ()) -> List[Path]:
    """`root` itself when it is a bag, else its bags (sub-folders with metadata.yaml)."""
    root = Path(root)
    if names:
        paths = [root / n for n in names]
    elif (root / 'metadata.yaml').is_file() or root.suffix in ('.mcap', '.db3'):
        paths = [root]
    elif root.is_dir():
        paths = sorted(p for p in root.iterdir() if (p / 'metadata.yaml').is_file())
        if not paths:
            raise DatasetError(f'{root}: neither a rosbag2 bag nor a folder of bags '
                               '(no metadata.yaml)')
    else:
        raise DatasetError(f'{root}: bag not found')
    for path in paths:
        if not path.exists():
            raise DatasetError(f'{path}: bag not found')
    return paths


def _connection(reader, bag: Path, topic: str, msgtypes: Sequence[str], what: str):
    for conn in reader.connections:
        if conn.topic == topic:
            if conn.msgtype not in msgtypes:
                raise DatasetError(f'{bag}: {what} topic {topic} is {conn.msgtype}, expected '
                                   f'{" or ".join(msgtypes)}')
            return conn
    available = ', '.join(sorted({f'{c.topic} ({c.msgtype.rsplit("/", 1)[-1]})'
                                  for c in reader.connections})) or 'none'
    raise DatasetError(f'{bag}: no {what} topic {topic}; topics in the bag: {available}')


def _open_error(bag: Path, e: Exception) -> DatasetError:
    return DatasetError(f'{bag}: corrupt or unreadable bag: {type(e).__name__}: {e}')


def index_bag(bag: Path, topics: BagTopics, tolerance_ns: int,
              limits: frame_limits.FrameLimits = frame_limits.DEFAULT_LIMITS) -> BagIndex:
    """Read every header of the three topics once; pair, check alignment, keep no pixels."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import get_typestore, Stores
    typestore = get_typestore(Stores.ROS2_JAZZY)
    images: List[Tuple[int, int, Tuple[int, int], str]] = []  # stamp, log time, (w, h), frame
    depths: List[Tuple[int, int, Tuple[int, int], str]] = []
    infos, depth_infos = CameraInfos(), CameraInfos()
    models = CameraModels('auto')  # the node's default: rectify what has distortion
    try:
        verify_bag(bag)  # MCAP chunk CRCs, sqlite3 structure: damage is named, not trained on
    except BagError as e:
        raise DatasetError(str(e)) from e
    try:
        with Reader(bag) as reader:
            img = _connection(reader, bag, topics.image, (IMAGE, COMPRESSED), 'colour image')
            dep = _connection(reader, bag, topics.depth, (IMAGE,), 'depth image')
            inf = _connection(reader, bag, topics.camera_info, (CAMERA_INFO,), 'camera_info')
            depth_info_topic = topics.depth.rsplit('/', 1)[0] + '/camera_info'
            conns = [img, dep, inf] + [c for c in reader.connections
                                       if c.topic == depth_info_topic and c.msgtype == CAMERA_INFO
                                       and c.topic != topics.camera_info]
            for conn, log_ns, raw in reader.messages(connections=conns):
                msg = deserialize(typestore, raw, conn, bag, log_ns)
                stamp = stamp_ns(msg.header)
                if conn.id == img.id:
                    images.append((stamp, log_ns, _image_size(msg, conn.msgtype, limits, bag,
                                                              topics.image, stamp),
                                   msg.header.frame_id))
                elif conn.id == dep.id:
                    if msg.encoding not in DEPTH_ENCODINGS:
                        raise DatasetError(
                            f'{bag}: depth topic {topics.depth} has encoding {msg.encoding!r}; '
                            f'expected 16UC1 (mm) or 32FC1 (m)')
                    depths.append((stamp, log_ns, (int(msg.width), int(msg.height)),
                                   msg.encoding))
                elif conn.id == inf.id:
                    infos.add(msg)
                else:
                    depth_infos.add(msg)
    except (DatasetError, BagError):
        raise
    except storage_errors() as e:  # rosbags raises many types for corrupt or truncated files
        raise _open_error(bag, e) from e
    if not images:
        raise DatasetError(f'{bag}: colour topic {topics.image} holds no messages')
    if not infos.msgs:
        raise DatasetError(f'{bag}: camera_info topic {topics.camera_info} holds no messages; '
                           'the colour camera intrinsics are needed for metric scale')
    images.sort()
    depths.sort()
    matches = associate([i[0] for i in images], [d[0] for d in depths], tolerance_ns)
    pairs: List[BagPair] = []
    for i, j in matches:
        stamp, log_ns, size, frame_id = images[i]
        d_stamp, d_log, d_size, _ = depths[j]
        if d_size != size:
            raise DatasetError(
                f'{bag}: depth {topics.depth} is {d_size[0]}x{d_size[1]} but colour '
                f'{topics.image} is {size[0]}x{size[1]}: the depth is not registered to the '
                f'colour camera; {ALIGN_HINT}')
        model = _camera_model(infos.for_stamp(stamp), models, bag, topics, size)
        intr = model.intrinsics
        depth_info = depth_infos.for_stamp(d_stamp)
        if depth_info is not None:
            _check_same_camera(depth_info, intr, bag, topics, depth_info_topic)
        pairs.append(BagPair(str(bag), stamp, d_stamp, log_ns, d_log, intr, frame_id,
                             model if model.rectifies else None))
    paired_i = {i for i, _ in matches}
    paired_j = {j for _, j in matches}
    index = BagIndex(str(bag), img.msgtype, pairs,
                     [images[i][0] for i in range(len(images)) if i not in paired_i],
                     [depths[j][0] for j in range(len(depths)) if j not in paired_j])
    if index.unmatched_colour or index.unmatched_depth:
        LOG.warning('%s: %d pairs; %d colour frames without depth and %d depth frames without '
                    'colour within %g ms (listed as unmatched in pairs.csv)', bag, len(pairs),
                    len(index.unmatched_colour), len(index.unmatched_depth), tolerance_ns / 1e6)
    if not pairs:
        raise DatasetError(f'{bag}: no {topics.image} frame has a {topics.depth} frame within '
                           f'{tolerance_ns / 1e6:g} ms of its header stamp '
                           f'({len(images)} colour, {len(depths)} depth frames)')
    return index


def _image_size(msg, msgtype: str, limits, bag: Path, topic: str, stamp: int) -> Tuple[int, int]:
    try:
        if msgtype == COMPRESSED:
            _, width, height = frame_limits.check_compressed(msg.data, msg.format, limits)
        else:
            width, height = int(msg.width), int(msg.height)
            frame_limits.check_pixels(width, height, limits)
    except frame_limits.FrameRejected as e:
        raise DatasetError(f'{bag}: {topic} frame at {stamp} ns refused ({e.kind}): {e}') from e
    return width, height


def _camera_model(info, models: CameraModels, bag: Path, topics: BagTopics,
                  size: Tuple[int, int]) -> CameraModel:
    """Return the camera model of a colour frame: the node's camera step, checked."""
    try:
        model = models.get(info)
        model.intrinsics.check_image_size(*size)
    except InvalidIntrinsics as e:
        raise DatasetError(f'{bag}: {topics.camera_info} does not describe {topics.image}: '
                           f'{e}') from e
    return model


def _check_same_camera(info, intr: Intrinsics, bag: Path, topics: BagTopics,
                       depth_info_topic: str) -> None:
    try:
        d = Intrinsics.from_camera_info_msg(info)
    except InvalidIntrinsics:
        return  # an unusable depth camera_info says nothing either way
    ours = np.array([intr.fx, intr.fy, intr.cx, intr.cy])
    theirs = np.array([d.fx, d.fy, d.cx, d.cy])
    if (d.width, d.height) != (intr.width, intr.height) or \
            not np.allclose(ours, theirs, rtol=1e-3, atol=0.5):
        raise DatasetError(
            f'{bag}: depth {topics.depth} comes from another camera than colour '
            f'{topics.image} ({depth_info_topic} fx fy cx cy {np.round(theirs, 2).tolist()} '
            f'vs {topics.camera_info} {np.round(ours, 2).tolist()}); {ALIGN_HINT}')


class BagDataset:
    """Frame pairs from one or more bags; readers open lazily, one set per process."""

    def __init__(self, pairs: Sequence[BagPair], topics: BagTopics,
                 indexes: Sequence[BagIndex] = (), mm_scale: float = 1000.0,
                 limits: frame_limits.FrameLimits = frame_limits.DEFAULT_LIMITS,
                 gap: Sequence[BagPair] = ()) -> None:
        self.pairs = list(pairs)
        self.gap = list(gap)  # pairs in the val_gap_s gap: listed in pairs.csv, never used
        self.topics = topics
        self.indexes = list(indexes)
        self.mm_scale = mm_scale
        self.limits = limits
        self.depth_check = DepthCheck(1e-3, 10.0, f'16UC1 depth is read as value / {mm_scale:g} '
                                      '(data.depth_scale; 1000 = millimetres), 32FC1 as metres')
        self._readers: Dict[str, object] = {}
        self._pid = None

    def __len__(self) -> int:
        return len(self.pairs)

    def frame_names(self) -> List[str]:
        return [f'{p.bag}@{p.image_stamp_ns}' for p in self.pairs]

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_readers'], state['_pid'] = {}, None
        return state

    def _reader(self, bag: str):
        if self._pid != os.getpid():  # a forked worker must not share the parent's file offset
            self._readers, self._pid = {}, os.getpid()
        if bag not in self._readers:
            from rosbags.rosbag2 import Reader
            from rosbags.typesys import get_typestore, Stores
            try:
                reader = Reader(Path(bag))
                reader.open()
            except Exception as e:
                raise _open_error(Path(bag), e) from e
            self._typestore = get_typestore(Stores.ROS2_JAZZY)
            self._readers[bag] = reader
        return self._readers[bag]

    def _message(self, bag: str, topic: str, log_ns: int, stamp: int):
        reader = self._reader(bag)
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns, start=log_ns, stop=log_ns + 1):
            msg = deserialize(self._typestore, raw, conn, Path(bag), log_ns)
            if stamp_ns(msg.header) == stamp:
                return msg, conn.msgtype
        raise DatasetError(f'{bag}: {topic} message stamped {stamp} ns is gone (bag changed '
                           'since it was indexed?)')

    def __getitem__(self, index: int) -> Dict:
        pair = self.pairs[index]
        msg, msgtype = self._message(pair.bag, self.topics.image, pair.image_log_ns,
                                     pair.image_stamp_ns)
        dmsg, _ = self._message(pair.bag, self.topics.depth, pair.depth_log_ns,
                                pair.depth_stamp_ns)
        where = f'{pair.bag}: {{}} at {{}} ns'
        try:
            image = decode_image(msg, msgtype, self.limits)  # frame limits checked before decoding
            if not image.flags.writeable:  # a view of the message buffer
                image = image.copy()
        except ValueError as e:
            raise DatasetError(where.format(self.topics.image, pair.image_stamp_ns) +
                               f': {e}') from e
        try:
            depth = depth_to_metres(dmsg.data.tobytes(), dmsg.encoding, int(dmsg.width),
                                    int(dmsg.height), int(dmsg.step), bool(dmsg.is_bigendian),
                                    self.mm_scale)
        except ValueError as e:
            raise DatasetError(where.format(self.topics.depth, pair.depth_stamp_ns) +
                               f': {e}') from e
        self.depth_check(depth, where.format(self.topics.depth, pair.depth_stamp_ns))
        if depth.shape != image.shape[:2]:
            raise DatasetError(f'{pair.bag}: depth {self.topics.depth} is {depth.shape[1]}x'
                               f'{depth.shape[0]} but colour {self.topics.image} is '
                               f'{image.shape[1]}x{image.shape[0]}; {ALIGN_HINT}')
        if pair.camera is not None:  # registered depth shares the colour's raw geometry
            image = pair.camera.rectify(image)
            depth = pair.camera.rectify(depth, cv2.INTER_NEAREST)  # 0 = no measurement
        return {'image': image, 'depth': depth, 'focal': pair.intrinsics.fx,
                'name': f'{Path(pair.bag).name}/{pair.image_stamp_ns}',
                'stamp_ns': pair.image_stamp_ns, 'depth_stamp_ns': pair.depth_stamp_ns,
                'sequence': pair.bag, 'intrinsics': pair.intrinsics}

    def pair_rows(self, split: str, pairs: Optional[Sequence[BagPair]] = None) -> Iterable[Dict]:
        for p in self.pairs if pairs is None else pairs:
            yield {'source': p.bag, 'image_stamp_ns': p.image_stamp_ns,
                   'depth_stamp_ns': p.depth_stamp_ns,
                   'dt_ms': round((p.depth_stamp_ns - p.image_stamp_ns) / 1e6, 3),
                   'split': split}

    def unused_rows(self) -> Iterable[Dict]:
        """Pairs in the gap before validation, and frames left without a partner."""
        yield from self.pair_rows('gap', self.gap)
        for index in self.indexes:
            for stamp in index.unmatched_colour:
                yield {'source': index.bag, 'image_stamp_ns': stamp, 'depth_stamp_ns': '',
                       'dt_ms': '', 'split': 'unmatched_colour'}
            for stamp in index.unmatched_depth:
                yield {'source': index.bag, 'image_stamp_ns': '', 'depth_stamp_ns': stamp,
                       'dt_ms': '', 'split': 'unmatched_depth'}


def tf_poses(indexes: Sequence[BagIndex], fixed_frame: str = ''):
    """
    World-from-camera at every paired colour stamp, from the /tf and /tf_static of each bag.

    The camera frame is the colour image's header.frame_id; the chain runs up to the root of
    its tree (or `fixed_frame`). Frames without a transform at their stamp get no pose.
    """
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import get_typestore, Stores
    from clip_depth_ros.train.temporal import sample_track, TransformTree
    typestore = get_typestore(Stores.ROS2_JAZZY)
    stamps, poses = [], []
    for index in indexes:
        bag = Path(index.bag)
        tree = TransformTree()
        try:
            with Reader(bag) as reader:
                conns = [c for c in reader.connections if c.topic in ('/tf', '/tf_static')
                         and c.msgtype == 'tf2_msgs/msg/TFMessage']
                if not conns:
                    raise DatasetError(f'{bag}: no /tf or /tf_static topic to take camera poses '
                                       'from; give --poses with a TUM trajectory file instead')
                for conn, log_ns, raw in reader.messages(connections=conns):
                    for t in deserialize(typestore, raw, conn, bag, log_ns).transforms:
                        tr, rot = t.transform.translation, t.transform.rotation
                        tree.add(t.header.frame_id, t.child_frame_id, stamp_ns(t.header),
                                 (tr.x, tr.y, tr.z), (rot.x, rot.y, rot.z, rot.w),
                                 static=conn.topic == '/tf_static')
        except (DatasetError, BagError):
            raise
        except Exception as e:
            raise _open_error(bag, e) from e
        frames = {p.frame_id for p in index.pairs}
        unknown = sorted(f for f in frames if f.lstrip('/') not in tree.frames())
        if unknown:
            raise DatasetError(f'{bag}: /tf never mentions the colour frame {unknown[0]!r}; '
                               f'frames in /tf: {", ".join(tree.frames()) or "none"}')
        for p in index.pairs:
            stamps.append(p.image_stamp_ns)
            poses.append(tree.world_from(p.frame_id, p.image_stamp_ns, fixed_frame))
    return sample_track(stamps, poses)


def build_bag_datasets(root: Path, topics: BagTopics, tolerance_ms: float = 20.0,
                       val_fraction: float = 0.1, names: Sequence[str] = (),
                       val_bags: Sequence[str] = (), mm_scale: float = 1000.0,
                       limits: frame_limits.FrameLimits = frame_limits.DEFAULT_LIMITS,
                       val_gap_s: float = 0.0, max_depth_m: float = 10.0
                       ) -> Tuple[BagDataset, Optional[BagDataset]]:
    """
    (train, val) from the bags under `root`: the last `val_fraction` of each bag validates.

    Training stops `val_gap_s` before each bag's validation part (`split_with_gap`). With
    `val_bags` (names under `root`), those whole bags validate and the others train.
    """
    root = Path(root)
    paths = list_bags(root, tuple(names) + tuple(v for v in val_bags if v not in names)
                      if names else ())
    val_set = {str(root / v) for v in val_bags}
    unknown = val_set - {str(p) for p in paths}
    if unknown:
        raise DatasetError(f'val_bags: {", ".join(sorted(unknown))} not among the bags '
                           f'under {root}')
    tolerance_ns = int(round(tolerance_ms * 1e6))
    indexes = [index_bag(p, topics, tolerance_ns, limits) for p in paths]
    train: List[BagPair] = []
    val: List[BagPair] = []
    gap: List[BagPair] = []
    for index in indexes:
        if val_bags:
            (val if index.bag in val_set else train).extend(index.pairs)
            continue
        train_end, val_start = split_with_gap([p.image_stamp_ns for p in index.pairs],
                                              val_fraction, val_gap_s)
        train.extend(index.pairs[:train_end])
        gap.extend(index.pairs[train_end:val_start])
        val.extend(index.pairs[val_start:])
    if not train:
        raise DatasetError(f'{root}: no training pairs left after the split'
                           + (f' (data.val_gap_s {val_gap_s:g} s)' if val_gap_s > 0 else ''))
    make = (lambda pairs, gap=(): BagDataset(pairs, topics, indexes, mm_scale, limits, gap))
    train_set, val_set_ = make(train, gap), (make(val) if val else None)
    train_set.depth_check.max_m = max_depth_m
    if val_set_ is not None:
        val_set_.depth_check = train_set.depth_check  # one warning for the whole dataset
    return train_set, val_set_
