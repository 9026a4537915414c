# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Configuration dataclasses: the one source of defaults for model and inference.

Standard library only, so that the ROS layer and the tools can read and validate a
configuration without importing torch.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from typing import Any, Mapping, Optional, Tuple, Type, TypeVar

T = TypeVar('T')

PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
# '' = eager; otherwise a torch.compile mode ('reduce-overhead' replays CUDA graphs on GPU).
COMPILE_MODES = ('', 'default', 'reduce-overhead', 'max-autotune')
TRANSPORTS = ('raw', 'compressed')
# How a uint16 depth PNG stores depth: `linear` = value / scale (NYU mm, TUM x5000, KITTI x256);
# `sunrgbd` = SUN RGB-D's bit-rotated millimetres, mm = (v >> 3 | v << 13) & 0xFFFF.
DEPTH_FORMATS = ('linear', 'sunrgbd')
# What every tool, the node's log and /diagnostics say when the frozen CLIP has random weights.
RANDOM_CLIP_WEIGHTS_MESSAGE = 'CLIP weights are random, not pretrained: the depth is meaningless'
# auto: match the publishers' reliability, read from the graph as rosbag2 does.
INPUT_QOS = ('auto', 'sensor_data', 'reliable')
# auto: rectify frames whose camera_info has distortion (as image_proc); off: frames are rectified.
RECTIFY_MODES = ('auto', 'off')


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind."""


# A camera name becomes a namespace and a parameter prefix: one ROS name token, a letter first.
_CAMERA_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')
# Booleans as text (launch arguments, tool options) as launch's IfCondition reads them.
_BOOLEANS = {'true': True, '1': True, 'false': False, '0': False}


def check_camera_name(name: Any, field: str = 'cameras') -> str:
    """Check a camera name; return it, or raise ConfigError naming `field`."""
    if not isinstance(name, str) or not _CAMERA_NAME.match(name):
        raise ConfigError(f'{field}: camera name {name!r} is not a ROS name token (letters, '
                          'digits, underscores; a letter first)')
    return name


def camera_topics(name: str) -> Tuple[str, str]:
    """Return the default (image, camera_info) topics of camera `name` ('' = single camera)."""
    prefix = f'{name}/' if name else ''
    return f'{prefix}image', f'{prefix}camera_info'


def parse_bool(text: Any, field: str) -> bool:
    """Read a boolean given as text the way launch does: true/false/1/0, any case."""
    if isinstance(text, bool):
        return text
    value = _BOOLEANS.get(str(text).strip().lower())
    if value is None:
        raise ConfigError(f'{field}: expected true/false (or 1/0), got {text!r}')
    return value


def check_max_range(value: Any, field: str = 'max_range') -> float:
    """Return a valid max range in metres (> 0, +inf = no limit), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or value <= 0:
        raise ConfigError(f'{field}: must be > 0 m (inf = no limit), got {value!r}')
    return float(value)


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ConfigError(f'{field}: {message}')


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return f'{_type_name(inner[0])} or null'
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return 'a list of ' + {int: 'integers', float: 'numbers', str: 'strings'}.get(
            item, _type_name(item))
    return {bool: 'true/false', int: 'an integer', float: 'a finite number',
            str: 'a string'}.get(hint, getattr(hint, '__name__', str(hint)))


def _conform(value: Any, hint: Any) -> Tuple[bool, Any]:
    """(ok, value converted to the field's type): no bool from a string, no truncated floats."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        if value is None and type(None) in typing.get_args(hint):
            return True, None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _conform(value, inner[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        items = [_conform(v, typing.get_args(hint)[0]) for v in value]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    return True, value


def check_field_types(obj: Any) -> None:
    """Check (and normalise: list -> tuple, int -> float) every field of a frozen dataclass."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        ok, converted = _conform(value, hints[f.name])
        _require(ok, f.name, f'expected {_type_name(hints[f.name])}, got {value!r}')
        if converted is not value:
            object.__setattr__(obj, f.name, converted)


# fx of NYU Depth v2's Kinect (518.8579 px at 640x480) at network scale under the default input
# rule (480x640 -> 352x464): 518.8579 * 464 / 640. NYU-trained checkpoints then need no
# conversion on NYU frames; any camera is converted to and from it, so that one run can mix
# cameras and deploy on another one.
NYU_FOCAL_PX = 518.8579
DEFAULT_CANONICAL_FOCAL_PX = 376.1720


# Formats whose header can be read; only these may ever be passed to a decoder.
READABLE_FORMATS = ('jpeg', 'png', 'bmp', 'webp')
_ALIASES = {'jpg': 'jpeg', 'jpe': 'jpeg', 'tif': 'tiff', 'dib': 'bmp'}
KNOWN_FORMATS = READABLE_FORMATS + ('tiff', 'gif', 'jp2', 'exr', 'pnm', 'hdr')


def normalise_format(name: str) -> str:
    """Lower-case a format name and map its aliases (jpg -> jpeg)."""
    name = name.strip().lower()
    return _ALIASES.get(name, name)


@dataclasses.dataclass(frozen=True)
class FrameLimits:
    """The most a single frame may cost, and which compressed formats are decoded at all."""

    # 4096 x 4096: above any camera the model is meant for, far below a decompression bomb.
    max_pixels: int = 16_777_216
    compressed_formats: Tuple[str, ...] = ('jpeg', 'png')

    def __post_init__(self) -> None:
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) \
                or self.max_pixels < 1:
            raise ConfigError(f'max_pixels: must be a positive integer, got {self.max_pixels!r}')
        if isinstance(self.compressed_formats, str):
            raise ConfigError('compressed_formats: must be a list of format names')
        formats = tuple(normalise_format(str(f)) for f in self.compressed_formats)
        bad = [f for f in formats if f not in READABLE_FORMATS]
        if bad or not formats:
            raise ConfigError(f'compressed_formats: each must be one of {READABLE_FORMATS} '
                              f'(formats whose header can be checked), got '
                              f'{list(self.compressed_formats)!r}')
        object.__setattr__(self, 'compressed_formats', formats)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a ClipDepth model; stored with every checkpoint."""

    backbone: str = 'ViT-B-16'
    # An open_clip pretrained tag ('openai'), a path to a weights file, or None (random init).
    pretrained: Optional[str] = 'openai'
    # 1-based ViT block indices whose outputs feed the decoder; later blocks never run.
    taps: Tuple[int, ...] = (3, 6, 9)
    mirror_tokens: int = 64
    mirror_init_std: float = 0.02
    # True: [SOS] + mirror + [EOS], pooled at EOS. False: mirror only, pooled at its last token.
    mirror_sos_eos: bool = True
    # Baseline: condition on this natural-language prompt instead of a mirror (empty = mirror).
    prompt: str = ''
    decoder_width: int = 64
    decoder_heads: int = 4
    decoder_ffn_dim: int = 2048
    max_depth_m: float = 10.0
    min_depth_m: float = 1e-3
    # The input rule (transforms.network_size): short side, aspect kept, multiples of the patch;
    # frames that would exceed input_max_tokens patches are scaled down to fit.
    input_short_side: int = 352
    input_max_tokens: int = 1024
    input_max_aspect: float = 8.0
    # fx in px at network scale of the camera the model's depth refers to; None = a legacy
    # (format 1) checkpoint: no conversion for the deploying camera's focal length at all.
    canonical_focal_px: Optional[float] = DEFAULT_CANONICAL_FOCAL_PX

    def __post_init__(self) -> None:
        check_field_types(self)
        _require(bool(self.backbone), 'backbone', 'must name an open_clip model')
        _require(len(self.taps) > 0, 'taps', 'at least one ViT block must be tapped')
        _require(all(1 <= t <= 256 for t in self.taps), 'taps',
                 f'blocks are 1-based (1..256), got {list(self.taps)}')
        _require(list(self.taps) == sorted(set(self.taps)), 'taps',
                 f'must be strictly increasing, got {list(self.taps)}')
        _require(1 <= self.mirror_tokens <= 1024, 'mirror_tokens',
                 f'must be in 1..1024, got {self.mirror_tokens}')
        _require(0 < self.mirror_init_std <= 1, 'mirror_init_std',
                 f'must be in (0, 1], got {self.mirror_init_std}')
        _require(1 <= self.decoder_width <= 4096, 'decoder_width',
                 f'must be in 1..4096, got {self.decoder_width}')
        _require(self.decoder_heads >= 1 and self.decoder_width % self.decoder_heads == 0,
                 'decoder_heads', f'must divide decoder_width={self.decoder_width}')
        _require(1 <= self.decoder_ffn_dim <= 65536, 'decoder_ffn_dim',
                 f'must be in 1..65536, got {self.decoder_ffn_dim}')
        _require(self.max_depth_m <= 1000, 'max_depth_m',
                 f'must be <= 1000 m, got {self.max_depth_m}')
        _require(0 < self.min_depth_m < self.max_depth_m, 'max_depth_m',
                 f'need 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}')
        _require(16 <= self.input_short_side <= 4096, 'input_short_side',
                 f'must be in 16..4096, got {self.input_short_side}')
        _require(1 <= self.input_max_tokens <= 65536, 'input_max_tokens',
                 f'must be in 1..65536, got {self.input_max_tokens}')
        _require(1 <= self.input_max_aspect <= 64, 'input_max_aspect',
                 f'must be in 1..64, got {self.input_max_aspect}')
        _require(self.canonical_focal_px is None or 1 <= self.canonical_focal_px <= 1e5,
                 'canonical_focal_px', f'must be null or 1..1e5 px, got {self.canonical_focal_px}')

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d['taps'] = list(self.taps)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ModelConfig':
        """Every field required, no unknown ones (a checkpoint config is never partial)."""
        return from_mapping(cls, data, require_all=True)


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
    """How the engine runs a model; never stored in a checkpoint."""

    # None picks CUDA when available; otherwise a torch device string ('cpu', 'cuda:1').
    device: Optional[str] = None
    # 'auto' = bf16 on CUDA and on CPUs that compute bf16 natively, else fp32 (precision.py).
    precision: str = 'auto'
    channels_last: bool = False
    # Off until measured for a deployment: compiling costs start-up time and recompiles per
    # input size; 'reduce-overhead' captures CUDA graphs for a fixed camera resolution.
    compile_mode: str = ''

    def __post_init__(self) -> None:
        check_field_types(self)
        _require(self.precision in PRECISIONS, 'precision',
                 f'must be one of {PRECISIONS}, got {self.precision!r}')
        _require(self.compile_mode in COMPILE_MODES, 'compile_mode',
                 f'must be one of {COMPILE_MODES}, got {self.compile_mode!r}')


ANCHOR_MODES = ('off', 'depth', 'points', 'scan')
ANCHOR_FITS = ('scale', 'scale_shift')


@dataclasses.dataclass(frozen=True)
class AnchorConfig:
    """
    Scale anchoring to a range sensor: what reference, how it is matched, fitted and smoothed.

    The fit compares log(reference / predicted) at the reference points; see
    frames/anchoring.py for the algorithm these numbers drive.
    """

    # off; depth = a depth image registered to the camera (16UC1 mm / 32FC1 m) with its own
    # camera_info beside it; points = sensor_msgs/PointCloud2; scan = sensor_msgs/LaserScan.
    mode: str = 'off'
    # Reference topic, relative to the camera (a named camera's is under its name).
    topic: str = 'reference'
    # A reference is used for a frame when their header stamps differ by at most this.
    tolerance_ms: float = 50.0
    # Exponential smoothing of the scale over stamp time; 0 = each frame's own fit.
    time_constant_s: float = 1.0
    # The smoothed correction is used for this long (stamp time) after the last good fit.
    hold_s: float = 2.0
    # scale: one global factor; scale_shift: factor + offset in inverse depth.
    fit: str = 'scale'
    min_points: int = 20
    # Reference points kept per frame (evenly thinned beyond): bounds the fit's cost.
    max_points: int = 5000
    min_scale: float = 0.2
    max_scale: float = 5.0
    # |log(reference / corrected)| above this is an outlier (0.15 = about 16 %).
    inlier_threshold: float = 0.15
    min_inlier_fraction: float = 0.25
    # Reference depths outside this range are not measurements.
    min_range_m: float = 0.05
    max_range_m: float = 100.0
    # tx ty tz qx qy qz qw taking reference-sensor points into the camera's optical frame
    # (points, scan); empty = the points are in the camera's optical frame already.
    extrinsic: Tuple[float, ...] = ()
    # Take the transform from TF (reference frame_id -> image frame_id) where tf2_ros exists.
    use_tf: bool = False

    def __post_init__(self) -> None:
        check_field_types(self)
        _require(self.mode in ANCHOR_MODES, 'mode',
                 f'must be one of {ANCHOR_MODES}, got {self.mode!r}')
        _require(self.fit in ANCHOR_FITS, 'fit', f'must be one of {ANCHOR_FITS}, got '
                 f'{self.fit!r}')
        _require(bool(self.topic), 'topic', 'must name a topic')
        _require(0 <= self.tolerance_ms <= 10_000, 'tolerance_ms',
                 f'must be in 0..10000 ms, got {self.tolerance_ms}')
        _require(0 <= self.time_constant_s <= 3600, 'time_constant_s',
                 f'must be in 0..3600 s, got {self.time_constant_s}')
        _require(0 <= self.hold_s <= 3600, 'hold_s', f'must be in 0..3600 s, got {self.hold_s}')
        _require(1 <= self.min_points <= 1_000_000, 'min_points',
                 f'must be in 1..1000000, got {self.min_points}')
        _require(self.min_points <= self.max_points <= 1_000_000, 'max_points',
                 f'must be in min_points..1000000, got {self.max_points}')
        _require(0 < self.min_scale <= 1 <= self.max_scale <= 1000, 'max_scale',
                 f'need 0 < min_scale <= 1 <= max_scale <= 1000, got {self.min_scale}, '
                 f'{self.max_scale}')
        _require(0 < self.inlier_threshold <= 5, 'inlier_threshold',
                 f'must be in (0, 5], got {self.inlier_threshold}')
        _require(0 <= self.min_inlier_fraction <= 1, 'min_inlier_fraction',
                 f'must be in 0..1, got {self.min_inlier_fraction}')
        _require(0 <= self.min_range_m < self.max_range_m, 'max_range_m',
                 f'need 0 <= min_range_m < max_range_m, got {self.min_range_m}, '
                 f'{self.max_range_m}')
        _require(len(self.extrinsic) in (0, 7), 'extrinsic',
                 f'must be empty or 7 numbers tx ty tz qx qy qz qw, got {len(self.extrinsic)}')
        if self.extrinsic:
            norm = math.sqrt(sum(q * q for q in self.extrinsic[3:]))
            _require(abs(norm - 1) <= 1e-2, 'extrinsic',
                     f'qx qy qz qw must be a unit quaternion, norm is {norm:.4f}')


_ANCHOR = AnchorConfig()
# NodeConfig field `anchor_<name>` <-> AnchorConfig field `<name>`.
ANCHOR_NODE_FIELDS = tuple(f.name for f in dataclasses.fields(AnchorConfig))


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """The depth node's parameters; `ros/parameters.py` adds descriptors to these defaults."""

    checkpoint: str = ''
    # Overrides the CLIP weights named in the checkpoint: an open_clip tag or a file path.
    clip_weights: str = ''
    device: str = ''
    precision: str = 'auto'
    input_transport: str = 'raw'
    input_qos: str = 'auto'
    rectify: str = 'auto'
    # Camera names; empty = one camera on `image` and `camera_info`, outputs under `depth/`.
    cameras: Tuple[str, ...] = ()
    publish_points: bool = True
    point_stride: int = 1
    colorize_points: bool = True
    max_range: float = 10.0
    colormap_min: float = 0.0
    colormap_max: float = 10.0
    diagnostics_period: float = 1.0
    # No frame on an input (or no depth out while frames arrive) for this long: WARN; for
    # `input_error_timeout`: ERROR.
    input_timeout: float = 3.0
    input_error_timeout: float = 10.0
    # A camera whose camera_info topic has a publisher but sent nothing yet: its frames are
    # dropped for this long from the first frame after activation, then depth assumes the
    # canonical camera. Drivers start both topics together; the first image may come first.
    camera_info_wait: float = 1.0
    max_input_pixels: int = FrameLimits.max_pixels
    compressed_formats: Tuple[str, ...] = FrameLimits.compressed_formats
    autostart: bool = True
    # CPU inference threads; 0 = every core. Frames wait serialized until inference takes one,
    # so a fast camera no longer needs a core kept free (measured: README, depth_node).
    cpu_threads: int = 0
    # Scale anchoring to a range sensor (AnchorConfig): off unless anchor_mode says otherwise.
    anchor_mode: str = _ANCHOR.mode
    anchor_topic: str = _ANCHOR.topic
    anchor_tolerance_ms: float = _ANCHOR.tolerance_ms
    anchor_time_constant_s: float = _ANCHOR.time_constant_s
    anchor_hold_s: float = _ANCHOR.hold_s
    anchor_fit: str = _ANCHOR.fit
    anchor_min_points: int = _ANCHOR.min_points
    anchor_max_points: int = _ANCHOR.max_points
    anchor_min_scale: float = _ANCHOR.min_scale
    anchor_max_scale: float = _ANCHOR.max_scale
    anchor_inlier_threshold: float = _ANCHOR.inlier_threshold
    anchor_min_inlier_fraction: float = _ANCHOR.min_inlier_fraction
    anchor_min_range_m: float = _ANCHOR.min_range_m
    anchor_max_range_m: float = _ANCHOR.max_range_m
    anchor_extrinsic: Tuple[float, ...] = _ANCHOR.extrinsic
    anchor_use_tf: bool = _ANCHOR.use_tf

    def __post_init__(self) -> None:
        object.__setattr__(self, 'cameras', tuple(self.cameras))
        object.__setattr__(self, 'compressed_formats', tuple(self.compressed_formats))
        _require(self.precision in PRECISIONS, 'precision',
                 f'must be one of {PRECISIONS}, got {self.precision!r}')
        _require(self.input_transport in TRANSPORTS, 'input_transport',
                 f'must be one of {TRANSPORTS}, got {self.input_transport!r}')
        _require(self.input_qos in INPUT_QOS, 'input_qos',
                 f'must be one of {INPUT_QOS}, got {self.input_qos!r}')
        _require(self.rectify in RECTIFY_MODES, 'rectify',
                 f'must be one of {RECTIFY_MODES}, got {self.rectify!r}')
        for name in self.cameras:
            check_camera_name(name)
        _require(len(set(self.cameras)) == len(self.cameras), 'cameras',
                 f'names must be unique, got {list(self.cameras)}')
        _require(1 <= self.point_stride <= 64, 'point_stride',
                 f'must be in 1..64, got {self.point_stride}')
        check_max_range(self.max_range)
        _require(self.colormap_max > self.colormap_min >= 0, 'colormap_max',
                 f'need 0 <= colormap_min < colormap_max, got {self.colormap_min}, '
                 f'{self.colormap_max}')
        _require(self.diagnostics_period > 0, 'diagnostics_period', 'must be > 0 s')
        _require(self.input_error_timeout > self.input_timeout > 0, 'input_error_timeout',
                 f'need 0 < input_timeout < input_error_timeout, got {self.input_timeout}, '
                 f'{self.input_error_timeout}')
        _require(self.camera_info_wait >= 0, 'camera_info_wait',
                 f'must be >= 0 s, got {self.camera_info_wait}')
        _require(self.cpu_threads >= 0, 'cpu_threads', f'must be >= 0, got {self.cpu_threads}')
        self.frame_limits()  # validates max_input_pixels and compressed_formats
        try:
            self.anchor()
        except ConfigError as e:  # name the node's parameter, not the AnchorConfig field
            raise ConfigError(f'anchor_{e}') from None

    def anchor(self) -> AnchorConfig:
        """Build the AnchorConfig the anchor_* parameters give (checked there)."""
        values = {name: getattr(self, f'anchor_{name}') for name in ANCHOR_NODE_FIELDS}
        values['extrinsic'] = tuple(values['extrinsic'])
        return AnchorConfig(**values)

    def frame_limits(self):
        """Build the FrameLimits these parameters give (checked there, raising ConfigError)."""
        return FrameLimits(max_pixels=self.max_input_pixels,
                           compressed_formats=self.compressed_formats)

    def inference_threads(self, cpu_count: int) -> int:
        """Torch intra-op threads for CPU inference on a machine with `cpu_count` cores."""
        return self.cpu_threads or max(1, cpu_count)


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    """One camera of a node: its name ('' = the default camera) and its input topics."""

    name: str = ''
    image: str = 'image'
    camera_info: str = 'camera_info'
    transport: str = 'raw'

    def __post_init__(self) -> None:
        _require(bool(self.image), f'{self.name or "camera"}.image', 'must name a topic')
        _require(bool(self.camera_info), f'{self.name or "camera"}.camera_info',
                 'must name a topic')
        _require(self.transport in TRANSPORTS, f'{self.name or "camera"}.transport',
                 f'must be one of {TRANSPORTS}, got {self.transport!r}')

    @property
    def output_prefix(self) -> str:
        """Where this camera's outputs go, relative to the node: 'depth' or '<name>/depth'."""
        return f'{self.name}/depth' if self.name else 'depth'


def check_known_keys(keys: Any, known: Any, prefix: str = '') -> None:
    """
    Refuse keys that are not in `known`, naming the first by its dotted path, the rest after.

    The one wording of this error for checkpoints, training configs and launch camera files.
    """
    unknown = sorted(set(keys) - set(known))
    if unknown:
        rest = f' (and {", ".join(prefix + u for u in unknown[1:])})' if unknown[1:] else ''
        raise ConfigError(f'{prefix}{unknown[0]}: unknown key{rest}; known keys: '
                          f'{", ".join(sorted(known))}')


def from_mapping(cls: Type[T], data: Mapping[str, Any], require_all: bool = False) -> T:
    """Build a dataclass from a mapping, refusing unknown (and, if asked, missing) keys by name."""
    if not isinstance(data, Mapping):
        raise ConfigError(f'expected a mapping of {cls.__name__} fields, got '
                          f'{type(data).__name__}')
    names = [f.name for f in dataclasses.fields(cls)]
    check_known_keys(data, names)
    missing = [n for n in names if n not in data]
    if require_all and missing:
        raise ConfigError(f'{missing[0]}: missing {cls.__name__} field'
                          + (f' (and {", ".join(missing[1:])})' if missing[1:] else ''))
    return cls(**dict(data))
