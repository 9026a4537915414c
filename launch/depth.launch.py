# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Launch the depth node for one camera, optionally with RViz and an MCAP recording.

ros2 launch clip_depth_ros depth.launch.py image:=/camera/color/image_raw \
    camera_info:=/camera/color/camera_info checkpoint:=/path/to/checkpoint rviz:=true
record:=true writes a new MCAP bag per run (clip_depth_YYYY_MM_DD-HH_MM_SS, or bag_dir).
"""

import datetime

from clip_depth_ros.ros.launch_support import (bag_directory, input_remappings, launch_bool,
                                               parameter_file_transport, record_command,
                                               recorded_topics)
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'clip_depth_ros'

ARGUMENTS = [
    ('namespace', '', 'Namespace of the node and its outputs.'),
    ('image', 'image', 'Input image topic (compressed: this topic + /compressed).'),
    ('camera_info', 'camera_info', 'Input camera_info topic.'),
    ('params_file', PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'depth.yaml']),
     'Parameter file for the node.'),
    ('checkpoint', '', 'Checkpoint directory; empty = as in params_file.'),
    ('device', '', 'Torch device (cpu, cuda, cuda:1); empty = as in params_file.'),
    ('input_transport', '', 'raw or compressed; empty = as in params_file.'),
    ('use_sim_time', 'false', 'Use /clock.'),
    ('log_level', 'info', 'Node log level.'),
    ('rviz', 'false', 'Start RViz2 with the shipped config.'),
    ('record', 'false', 'Record the inputs the node subscribes (image/compressed with '
     'input_transport compressed) and its outputs with ros2 bag (MCAP).'),
    ('fixed_frame', 'camera_color_optical_frame', 'RViz fixed frame.'),
    ('bag_dir', '', 'Output directory of the recording (must not exist); empty = a new '
     'clip_depth_YYYY_MM_DD-HH_MM_SS per run.'),
    ('fastdds_shm', 'false', 'Use the shipped Fast DDS shared-memory profile (large messages '
     'between processes on one host).'),
]


def _launch_setup(context, *args, **kwargs):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    # Only arguments given on the command line override the parameter file.
    overrides = {'use_sim_time': launch_bool(arg('use_sim_time'), 'use_sim_time')}
    for name in ('checkpoint', 'device', 'input_transport'):
        if arg(name):
            overrides[name] = arg(name)
    namespace, image, info = arg('namespace'), arg('image'), arg('camera_info')
    node = Node(
        package=PACKAGE, executable='depth_node', name='depth_node', namespace=namespace,
        output='screen', emulate_tty=True,
        parameters=[arg('params_file'), overrides],
        remappings=input_remappings(image, info),
        ros_arguments=['--log-level', arg('log_level')])
    actions = [node]
    if launch_bool(arg('record'), 'record'):
        # Decided at launch time, so every run records into a directory of its own.
        output = bag_directory(arg('bag_dir'), datetime.datetime.now())
        transport = parameter_file_transport(arg('params_file'), arg('input_transport'))
        actions.append(ExecuteProcess(
            cmd=record_command(output, recorded_topics(namespace, image, info, transport)),
            output='screen'))
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2', namespace=namespace,
        arguments=['-d', PathJoinSubstitution([FindPackageShare(PACKAGE), 'rviz',
                                               'depth.rviz']).perform(context),
                   '--fixed-frame', arg('fixed_frame')],
        parameters=[{'use_sim_time': overrides['use_sim_time']}],
        condition=IfCondition(arg('rviz')))
    return actions + [rviz]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in ARGUMENTS]
    shm = SetEnvironmentVariable(
        'FASTDDS_DEFAULT_PROFILES_FILE',
        PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'fastdds_shm.xml']),
        condition=IfCondition(LaunchConfiguration('fastdds_shm')))
    return LaunchDescription(declared + [shm, OpaqueFunction(function=_launch_setup)])
