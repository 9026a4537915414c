# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One depth node per camera, each under its own namespace.

ros2 launch clip_depth_ros multi_camera.launch.py cameras:="[front, left]" \
    checkpoint:=/path/to/checkpoint
Camera NAME reads NAME/image and NAME/camera_info and publishes under NAME/depth/.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare
import yaml

PACKAGE = 'clip_depth_ros'
FORWARDED = ('params_file', 'checkpoint', 'device', 'input_transport', 'use_sim_time',
             'log_level', 'fastdds_shm')


def parse_cameras(text: str) -> list:
    """'[front, left]' or 'front,left' -> ['front', 'left']; YAML read with safe_load."""
    value = yaml.safe_load(text) if text.strip().startswith('[') else text.split(',')
    names = [str(v).strip().strip('/') for v in value if str(v).strip()]
    if not names or len(set(names)) != len(names):
        raise ValueError(f'cameras must be a list of distinct names, got {text!r}')
    return names


def _launch_setup(context, *args, **kwargs):
    single = PathJoinSubstitution([FindPackageShare(PACKAGE), 'launch', 'depth.launch.py'])
    includes = []
    for name in parse_cameras(LaunchConfiguration('cameras').perform(context)):
        forwarded = {k: LaunchConfiguration(k).perform(context) for k in FORWARDED}
        includes.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(single.perform(context)),
            launch_arguments=dict(forwarded, namespace=name, image='image',
                                  camera_info='camera_info').items()))
    return includes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('cameras', default_value='[camera]',
                              description='Camera namespaces, e.g. "[front, left]".'),
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution(
            [FindPackageShare(PACKAGE), 'config', 'depth.yaml'])),
        DeclareLaunchArgument('checkpoint', default_value=''),
        DeclareLaunchArgument('device', default_value=''),
        DeclareLaunchArgument('input_transport', default_value=''),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        DeclareLaunchArgument('log_level', default_value='info'),
        DeclareLaunchArgument('fastdds_shm', default_value='false'),
        OpaqueFunction(function=_launch_setup),
    ])
