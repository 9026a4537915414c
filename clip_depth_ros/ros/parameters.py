# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One table of the depth node's parameters: declaration, validation and config/depth.yaml.

Defaults come from `NodeConfig`; this table adds what ROS needs: a description, ranges and
which parameters are read-only (those that only take effect when the model loads).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from clip_depth_ros.config import (ANCHOR_FITS, ANCHOR_MODES, camera_topics, CameraConfig,
                                   INPUT_QOS, NodeConfig, PRECISIONS, RECTIFY_MODES, TRANSPORTS)
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.parameter import Parameter


class Spec(NamedTuple):
    description: str
    read_only: bool = False
    int_range: Optional[Tuple[int, int]] = None
    float_range: Optional[Tuple[float, float]] = None


SPECS: Dict[str, Spec] = {
    'checkpoint': Spec('Checkpoint directory (model.safetensors + config.json), or a .onnx '
                       'file from clip-depth-export (runs with onnxruntime on the CPU).', True),
    'clip_weights': Spec('CLIP weights overriding the checkpoint: an open_clip tag (openai) '
                         'or a weights file path; empty = as the checkpoint says.', True),
    'device': Spec('Torch device: cpu, cuda, cuda:1; empty = CUDA when available.', True),
    'precision': Spec(f'Autocast precision, one of {", ".join(PRECISIONS)}; auto = the fastest '
                      'the device computes natively (bf16 on CUDA and bf16 CPUs, else fp32).',
                      True),
    'input_transport': Spec(f'Input transport, one of {", ".join(TRANSPORTS)}: raw subscribes '
                            'to image, compressed to image/compressed (default of every '
                            'camera).', True),
    'input_qos': Spec(f'Input QoS, one of {", ".join(INPUT_QOS)}: auto matches the '
                      "publishers' reliability (read from the graph, re-checked every second), "
                      'sensor_data is best effort, reliable is reliable; keep last 1.', True),
    'rectify': Spec(f'Rectification, one of {", ".join(RECTIFY_MODES)}: auto rectifies frames '
                    'whose camera_info has non-zero distortion (or a rotation R) as image_proc '
                    'does, and publishes depth, cloud and camera_info (D = 0, K = P) in the '
                    'rectified geometry; off takes frames as rectified (subscribe image_rect).',
                    True),
    'cameras': Spec('Camera names; empty = one camera on image and camera_info. Per camera '
                    'NAME.image, NAME.camera_info (default NAME/image, NAME/camera_info) and '
                    'NAME.transport; outputs under NAME/depth/. Empty reads as "not set": '
                    'rclpy cannot hold an empty string array.', True),
    'publish_points': Spec('Publish the organized point cloud on depth/points.'),
    'point_stride': Spec('Keep every n-th pixel in each direction of the cloud (organized).',
                         int_range=(1, 64)),
    'colorize_points': Spec('Add an rgb field (packed 0x00RRGGBB) to the cloud.'),
    'max_range': Spec('Depth beyond this many metres is published as +Inf (REP 117); the '
                      'cloud has NaN there.', float_range=(0.01, 1000.0)),
    'colormap_min': Spec('Near end of the depth/colormap scale, metres.',
                         float_range=(0.0, 1000.0)),
    'colormap_max': Spec('Far end of the depth/colormap scale, metres.',
                         float_range=(0.01, 1000.0)),
    'diagnostics_period': Spec('Seconds between /diagnostics messages.', True,
                               float_range=(0.05, 60.0)),
    'input_timeout': Spec('Seconds without a frame on an input (or without depth while frames '
                          'arrive) before /diagnostics says WARN.', float_range=(0.01, 3600.0)),
    'input_error_timeout': Spec('Seconds of such silence before /diagnostics says ERROR.',
                                float_range=(0.02, 36000.0)),
    'camera_info_wait': Spec('Seconds from the first frame after activation during which '
                             'frames are dropped while camera_info has a publisher but none '
                             'arrived; then depth assumes the canonical camera. 0 = never.',
                             float_range=(0.0, 3600.0)),
    'max_input_pixels': Spec('Frames with more pixels (width x height, read from the header '
                             'of compressed frames) are refused before decoding.',
                             int_range=(1, 1 << 30)),
    'compressed_formats': Spec('Compressed formats decoded at all (jpeg, png; bmp, webp only '
                               'when listed); others are refused before decoding.'),
    'autostart': Spec('Configure and activate at start-up, so that ros2 run alone works.', True),
    'cpu_threads': Spec('Torch threads for CPU inference; 0 = every core (frames wait '
                        'serialized, so a fast camera costs the callbacks almost nothing).',
                        True, int_range=(0, 256)),
    # -- scale anchoring to a range sensor (read at start: they build each camera's anchor) --
    'anchor_mode': Spec(f'Scale anchoring reference, one of {", ".join(ANCHOR_MODES)}: depth = '
                        'a depth image registered to the camera (16UC1 mm or 32FC1 m) with its '
                        'camera_info on TOPIC/camera_info beside TOPIC/image; points = a '
                        'PointCloud2; scan = a LaserScan. Off by default; when on and no '
                        'reference arrives, depth is published as predicted.', True),
    'anchor_topic': Spec('Reference topic (depth: its namespace), relative to the camera: '
                         'NAME/TOPIC for a named camera.', True),
    'anchor_tolerance_ms': Spec('Largest header stamp difference between a frame and its '
                                'reference; a frame without one is not corrected.', True,
                                float_range=(0.0, 10000.0)),
    'anchor_time_constant_s': Spec('Time constant of the exponential smoothing of the scale, '
                                   'in header stamp time (63 % of a step followed after one, '
                                   '95 % after three); 0 = each frame its own fit.', True,
                                   float_range=(0.0, 3600.0)),
    'anchor_hold_s': Spec('Seconds (stamp time) the smoothed scale stays in use after the last '
                          'good fit while references still match but fits fail.', True,
                          float_range=(0.0, 3600.0)),
    'anchor_fit': Spec(f'What is fitted, one of {", ".join(ANCHOR_FITS)}: one global scale (in '
                       'log depth), or scale + shift in inverse depth.', True),
    'anchor_min_points': Spec('Fewer valid reference points (or inliers) in the image: no '
                              'correction for that frame.', True, int_range=(1, 1_000_000)),
    'anchor_max_points': Spec('Reference points used per frame, evenly thinned beyond: bounds '
                              'the cost of a dense reference.', True, int_range=(1, 1_000_000)),
    'anchor_min_scale': Spec('Smallest scale accepted; a fit outside the bounds is refused.',
                             True, float_range=(1e-3, 1.0)),
    'anchor_max_scale': Spec('Largest scale accepted.', True, float_range=(1.0, 1000.0)),
    'anchor_inlier_threshold': Spec('|log(reference / corrected depth)| above this marks an '
                                    'outlier (0.15 = about 16 %).', True,
                                    float_range=(1e-3, 5.0)),
    'anchor_min_inlier_fraction': Spec('Smallest fraction of inliers among the valid points '
                                       'for a fit to count.', True, float_range=(0.0, 1.0)),
    'anchor_min_range_m': Spec('Reference depths nearer than this are not measurements.', True,
                               float_range=(0.0, 1000.0)),
    'anchor_max_range_m': Spec('Reference depths farther than this are not measurements.',
                               True, float_range=(0.001, 100000.0)),
    'anchor_extrinsic': Spec('points/scan: tx ty tz qx qy qz qw of the reference sensor in the '
                             "camera's optical frame (maps sensor points into it, as TF's "
                             'transform from the sensor frame to the optical frame); empty = '
                             "the points are in the camera's optical frame already.", True),
    'anchor_use_tf': Spec('points/scan: take that transform from TF (reference frame_id to '
                          'image frame_id) instead, where tf2_ros is installed.', True),
}

_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING,
          list: ParameterType.PARAMETER_STRING_ARRAY}


def defaults() -> Dict[str, Any]:
    """Parameter defaults as ROS and YAML hold them (string arrays as lists)."""
    return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(NodeConfig)}


def names() -> List[str]:
    """List the node's own parameters: the only ones that go into NodeConfig."""
    return list(SPECS)


def camera_declarations(name: str,
                        transport: str) -> List[Tuple[str, Any, ParameterDescriptor]]:
    """(name, default, descriptor) of camera `name`'s topics and transport (read-only)."""
    image, camera_info = camera_topics(name)
    specs = (('image', image, 'Image topic of this camera (compressed: TOPIC/compressed).'),
             ('camera_info', camera_info, 'CameraInfo topic of this camera.'),
             ('transport', transport,
              f'Transport of this camera, one of {", ".join(TRANSPORTS)}.'))
    return [(f'{name}.{key}', default,
             ParameterDescriptor(name=f'{name}.{key}', type=ParameterType.PARAMETER_STRING,
                                 description=text, read_only=True))
            for key, default, text in specs]


def camera_config(name: str, values: Dict[str, Any]) -> CameraConfig:
    """Build the CameraConfig from the values of `camera_declarations(name, ...)`."""
    return CameraConfig(name=name, image=values[f'{name}.image'],
                        camera_info=values[f'{name}.camera_info'],
                        transport=values[f'{name}.transport'])


def _parameter_type(name: str) -> int:
    """Return the ParameterType of a NodeConfig field (tuples: string or double arrays)."""
    hint = typing.get_type_hints(NodeConfig)[name]
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[0] is float:
        return ParameterType.PARAMETER_DOUBLE_ARRAY
    return _TYPES[type(defaults()[name])]


def descriptor(name: str) -> ParameterDescriptor:
    spec = SPECS[name]
    d = ParameterDescriptor(name=name, type=_parameter_type(name),
                            description=spec.description, read_only=spec.read_only)
    if spec.int_range:
        d.integer_range = [IntegerRange(from_value=spec.int_range[0],
                                        to_value=spec.int_range[1], step=1)]
    if spec.float_range:
        d.floating_point_range = [FloatingPointRange(from_value=spec.float_range[0],
                                                     to_value=spec.float_range[1], step=0.0)]
    return d


def declarations() -> List[Tuple[str, Any, ParameterDescriptor]]:
    """
    Return (name, default, descriptor) for every parameter, for `Node.declare_parameters`.

    An empty list cannot carry its type in rclpy (7.x Jazzy, 9.x Kilted): `declare_parameter`
    infers the type from the bare value, and `[]` infers BYTE_ARRAY, whatever the descriptor
    says (even a typed STRING_ARRAY override of `[]` is refused as BYTE_ARRAY); and
    `cameras: []` in a YAML file or `-p cameras:=[]` arrives as NOT_SET. Such a parameter is
    therefore given by type only; `declare` leaves it undeclared while it has no value.
    """
    empty = {ParameterType.PARAMETER_DOUBLE_ARRAY: Parameter.Type.DOUBLE_ARRAY}
    return [(name, empty.get(_parameter_type(name), Parameter.Type.STRING_ARRAY)
             if value == [] else value, descriptor(name))
            for name, value in defaults().items()]


def declare(node) -> None:
    """
    Declare the table on `node` so that every declared parameter has a value.

    rclpy's GetParameters answers nothing at all when one requested name is unset, so one
    unset parameter would leave `ros2 param dump` an empty node. A parameter whose default is
    an empty list (`cameras`) is declared by type to read its override, and undeclared again
    when there is none (`value_of` then reads the table's default); with an override it is
    declared again with that value, read-only as the table says (a read-only parameter
    cannot be undeclared, hence the writable first declaration).
    """
    decls = declarations()
    typed = [d for d in decls if isinstance(d[1], Parameter.Type)]
    node.declare_parameters('', [d for d in decls if not isinstance(d[1], Parameter.Type)])
    for name, kind, desc in typed:
        probe = ParameterDescriptor(name=name, type=desc.type, description=desc.description)
        value = node.declare_parameter(name, kind, probe).value
        node.undeclare_parameter(name)
        if value is not None:  # NOT_SET reads as None
            node.declare_parameter(name, value, desc)


def value_of(node, name: str) -> Any:
    """Return a declared parameter's value; the table's default while it is unset."""
    param = node.get_parameter_or(name, None)
    if param is None or param.type_ == Parameter.Type.NOT_SET:
        return defaults()[name]
    return param.value


def to_yaml(node_name: str = '/**') -> str:
    """Render the parameter file, as shipped in config/depth.yaml."""
    import yaml
    return yaml.safe_dump({node_name: {'ros__parameters': defaults()}}, sort_keys=False)
