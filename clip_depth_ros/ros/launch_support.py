# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What the launch files compute, as plain functions: camera lists, bag directories, topics.

The launch files import this module and only wrap its results in launch actions, so the
translation from a cameras file to node parameters and remappings is tested without `launch`
(which installs only with ROS 2). Standard library and PyYAML only.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple, Union

from clip_depth_ros.config import (camera_topics, check_camera_name, check_known_keys, ConfigError,
                                   NodeConfig, parse_bool, TRANSPORTS)
import yaml

_CAMERA_KEYS = ('image', 'camera_info', 'transport')
OUTPUTS = ('depth/image', 'depth/camera_info', 'depth/points', 'depth/colormap')


def qualified(namespace: str, topic: str) -> str:
    """Absolute topic name of `topic` as seen from a node in `namespace`."""
    if topic.startswith('/'):
        return topic
    return '/' + '/'.join(p for p in (namespace.strip('/'), topic.strip('/')) if p)


@dataclasses.dataclass(frozen=True)
class Camera:
    """One camera a depth node serves; topics relative to the node namespace unless absolute."""

    name: str
    image: str = ''
    camera_info: str = ''
    transport: str = 'raw'

    def __post_init__(self) -> None:
        check_camera_name(self.name, 'camera name')
        # Defaults of the depth node's contract: NAME/image and NAME/camera_info.
        image, camera_info = camera_topics(self.name)
        if not self.image:
            object.__setattr__(self, 'image', image)
        if not self.camera_info:
            object.__setattr__(self, 'camera_info', camera_info)
        for field in ('image', 'camera_info'):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip('/') or ' ' in value:
                raise ConfigError(f'{self.name}.{field}: not a topic name: {value!r}')
        if self.transport not in TRANSPORTS:
            raise ConfigError(f'{self.name}.transport: must be one of {TRANSPORTS}, '
                              f'got {self.transport!r}')


def _node_parameters(document: Any, source: str) -> Mapping[str, Any]:
    """Return the ros__parameters of the one node entry in a ROS 2 parameter file."""
    if not isinstance(document, dict) or len(document) != 1:
        raise ConfigError(f'{source}: expected one node entry (e.g. "/**:") with '
                          'ros__parameters')
    (entry,) = document.values()
    if not isinstance(entry, dict) or not isinstance(entry.get('ros__parameters'), dict):
        raise ConfigError(f'{source}: no ros__parameters mapping')
    return entry['ros__parameters']


def cameras_from_parameters(params: Mapping[str, Any], source: str = 'cameras') -> List[Camera]:
    """`cameras: [a, b]` plus one `a: {image, camera_info, transport}` mapping per camera."""
    names = params.get('cameras')
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{source}: cameras must be a non-empty list of names, got {names!r}')
    if len(set(names)) != len(names):
        raise ConfigError(f'{source}: camera names repeat: {names}')
    cameras = []
    for name in names:
        entry = params.get(name, {})
        if not isinstance(entry, dict):
            raise ConfigError(f'{source}: {name} must be a mapping of {_CAMERA_KEYS}')
        try:
            check_known_keys(entry, _CAMERA_KEYS, f'{name}.')
            cameras.append(Camera(name=name, **entry))
        except ConfigError as e:
            raise ConfigError(f'{source}: {e}') from None
    return cameras


def load_cameras(path: Union[str, os.PathLike]) -> List[Camera]:
    """Read a cameras file: a depth node parameter file (safe_load) listing the cameras."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f'{path}: cannot read the cameras file: {e}') from None
    return cameras_from_parameters(_node_parameters(document, str(path)), str(path))


def cameras_from_names(text: str) -> List[Camera]:
    """'[front, left]' or 'front,left' -> cameras with the default topics NAME/image etc."""
    value = yaml.safe_load(text) if text.strip().startswith('[') else text.split(',')
    if not isinstance(value, list):
        raise ConfigError(f'cameras: expected a list of names, got {text!r}')
    names = [str(v).strip().strip('/') for v in value if str(v).strip()]
    return cameras_from_parameters({'cameras': names}, 'cameras')


def shared_node_parameters(cameras: Sequence[Camera]) -> Dict[str, Any]:
    """Parameters of ONE depth node serving every camera (nested, as launch_ros accepts)."""
    params: Dict[str, Any] = {'cameras': [c.name for c in cameras]}
    for c in cameras:
        params[c.name] = {'image': c.image, 'camera_info': c.camera_info,
                          'transport': c.transport}
    return params


def isolated_launch_arguments(camera: Camera, namespace: str = '') -> Dict[str, str]:
    """
    Return depth.launch.py arguments for one single-camera node per camera (isolation).

    The node runs in `namespace/NAME`, so its outputs NAME/depth/... are the same topics the
    shared node publishes; the inputs, relative to `namespace` in the cameras file, are
    resolved to absolute names first.
    """
    return {'namespace': qualified(namespace, camera.name),
            'image': qualified(namespace, camera.image),
            'camera_info': qualified(namespace, camera.camera_info),
            'input_transport': camera.transport}


def input_remappings(image: str, camera_info: str) -> List[Tuple[str, str]]:
    """Remappings of a single-camera node's inputs (the compressed topic follows the image)."""
    return [('image', image), ('image/compressed', image.rstrip('/') + '/compressed'),
            ('camera_info', camera_info)]


def subscribed_image_topic(image: str, transport: str) -> str:
    """Return the topic the node reads for `image`: compressed reads `image`/compressed."""
    return image.rstrip('/') + '/compressed' if transport == 'compressed' else image


def recorded_topics(namespace: str, image: str, camera_info: str,
                    transport: str = 'raw') -> List[str]:
    """List the inputs the node subscribes, every output and /diagnostics of one camera node."""
    image = subscribed_image_topic(image, transport)
    topics = [qualified(namespace, t) for t in (image, camera_info, *OUTPUTS)]
    return topics + ['/diagnostics']


def recorded_camera_topics(namespace: str, cameras: Sequence[Camera]) -> List[str]:
    """List what every camera's node subscribes and publishes (NAME/depth/...), /diagnostics."""
    topics: List[str] = []
    for c in cameras:
        topics += [qualified(namespace, subscribed_image_topic(c.image, c.transport)),
                   qualified(namespace, c.camera_info)]
        topics += [qualified(namespace, f'{c.name}/{output}') for output in OUTPUTS]
    return topics + ['/diagnostics']


def parameter_file_transport(path: Union[str, os.PathLike], override: str = '') -> str:
    """
    Return the input_transport a depth node started with this parameter file uses.

    `override` (a launch argument) wins; else the value under a node entry that matches any
    depth node ('/**', '**', or a name ending in depth_node); else the node's default.
    """
    if override:
        return override
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f'{path}: cannot read the parameter file: {e}') from None
    found = NodeConfig.input_transport
    for key, entry in (document.items() if isinstance(document, dict) else ()):
        params = entry.get('ros__parameters') if isinstance(entry, dict) else None
        if isinstance(params, dict) and 'input_transport' in params and (
                key in ('/**', '**') or str(key).rstrip('/').endswith('depth_node')):
            found = params['input_transport']
    if found not in TRANSPORTS:
        raise ConfigError(f'{path}: input_transport must be one of {TRANSPORTS}, got {found!r}')
    return found


def bag_directory(bag_dir: str, now: datetime.datetime,
                  exists: Callable[[str], bool] = os.path.exists) -> str:
    """
    Return a directory `ros2 bag record` can create: the one given or a new one.

    `ros2 bag record` refuses an existing directory; a given one that exists is an error
    here, named before anything starts, and the default never reuses a name.
    """
    if bag_dir:
        if exists(bag_dir):
            raise ConfigError(f'bag_dir: {bag_dir} exists and ros2 bag record will not '
                              'overwrite it; name a new directory or leave bag_dir empty')
        return bag_dir
    base = 'clip_depth_' + now.strftime('%Y_%m_%d-%H_%M_%S')
    candidate, n = base, 1
    while exists(candidate):
        n += 1
        candidate = f'{base}_{n}'
    return candidate


def record_command(output: str, topics: Sequence[str]) -> List[str]:
    """`ros2 bag record` of `topics` into MCAP; `--topics`, as Jazzy and later expect."""
    return ['ros2', 'bag', 'record', '--storage', 'mcap', '--output', output,
            '--topics', *topics]


def launch_bool(text: str, name: str) -> bool:
    """Read a boolean launch argument as launch's IfCondition does (true/false/1/0)."""
    return parse_bool(text, name)
