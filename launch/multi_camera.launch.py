# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Depth for several cameras: one depth node with one model for all of them, or one per camera.

ros2 launch clip_depth_ros multi_camera.launch.py cameras_file:=my_cameras.yaml \
    checkpoint:=/path/to/checkpoint [isolate:=true]
The cameras file (see config/cameras.yaml) names each camera's image and camera_info topics
and transport; camera NAME publishes NAME/depth/... either way. `cameras:="[front, left]"`
instead of a file uses the default topics NAME/image and NAME/camera_info. isolate:=true runs
one single-camera node (depth.launch.py) per camera, each in its own process. record:=true
records every camera's subscribed inputs (image/compressed for compressed cameras) and outputs
into one new MCAP bag (clip_depth_YYYY_MM_DD-HH_MM_SS, or bag_dir).
"""

import datetime

from clip_depth_ros.ros.launch_support import (bag_directory, cameras_from_names,
                                               isolated_launch_arguments, launch_bool,
                                               load_cameras, record_command,
                                               recorded_camera_topics, shared_node_parameters)
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.actions import OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'clip_depth_ros'
# Passed on unchanged to depth.launch.py when isolate:=true.
FORWARDED = ('params_file', 'checkpoint', 'device', 'use_sim_time', 'log_level', 'fastdds_shm')


def _launch_setup(context, *args, **kwargs):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    names = arg('cameras')
    cameras = cameras_from_names(names) if names.strip() else load_cameras(arg('cameras_file'))
    namespace = arg('namespace')
    recording = []
    if launch_bool(arg('record'), 'record'):
        # One bag for all cameras, isolated or not; decided at launch time, new per run.
        output = bag_directory(arg('bag_dir'), datetime.datetime.now())
        recording = [ExecuteProcess(
            cmd=record_command(output, recorded_camera_topics(namespace, cameras)),
            output='screen')]
    if launch_bool(arg('isolate'), 'isolate'):
        single = PathJoinSubstitution([FindPackageShare(PACKAGE), 'launch', 'depth.launch.py'])
        forwarded = {k: arg(k) for k in FORWARDED}
        return [IncludeLaunchDescription(
            PythonLaunchDescriptionSource(single.perform(context)),
            launch_arguments=dict(forwarded, **isolated_launch_arguments(c, namespace)).items())
            for c in cameras] + recording
    overrides = {'use_sim_time': launch_bool(arg('use_sim_time'), 'use_sim_time')}
    for name in ('checkpoint', 'device'):
        if arg(name):
            overrides[name] = arg(name)
    return [Node(
        package=PACKAGE, executable='depth_node', name='depth_node', namespace=namespace,
        output='screen', emulate_tty=True,
        parameters=[arg('params_file'), shared_node_parameters(cameras), overrides],
        ros_arguments=['--log-level', arg('log_level')])] + recording


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    shm = SetEnvironmentVariable(
        'FASTDDS_DEFAULT_PROFILES_FILE',
        PathJoinSubstitution([share, 'config', 'fastdds_shm.xml']),
        condition=IfCondition(LaunchConfiguration('fastdds_shm')))
    return LaunchDescription([
        DeclareLaunchArgument('cameras_file', default_value=PathJoinSubstitution(
            [share, 'config', 'cameras.yaml']),
            description='Cameras: a depth_node parameter file listing them.'),
        DeclareLaunchArgument('cameras', default_value='',
                              description='Camera names with default topics, e.g. '
                              '"[front, left]"; overrides cameras_file.'),
        DeclareLaunchArgument('isolate', default_value='false',
                              description='One node (process) per camera instead of one '
                              'node for all.'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node(s); cameras are under it.'),
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution(
            [share, 'config', 'depth.yaml']),
            description='Parameter file for the node(s); the cameras come on top of it.'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='Checkpoint directory; empty = as in params_file.'),
        DeclareLaunchArgument('device', default_value='',
                              description='Torch device (cpu, cuda, cuda:1); empty = as in '
                              'params_file.'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='Use /clock.'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='Node log level.'),
        DeclareLaunchArgument('fastdds_shm', default_value='false',
                              description='Use the shipped Fast DDS shared-memory profile '
                              '(large messages between processes on one host).'),
        DeclareLaunchArgument('record', default_value='false',
                              description="Record every camera's subscribed inputs and "
                              'outputs with ros2 bag (MCAP), in one bag.'),
        DeclareLaunchArgument('bag_dir', default_value='',
                              description='Output directory of the recording (must not '
                              'exist); empty = a new clip_depth_YYYY_MM_DD-HH_MM_SS per run.'),
        shm,
        OpaqueFunction(function=_launch_setup),
    ])
