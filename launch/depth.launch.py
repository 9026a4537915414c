# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Launch the depth node for one camera, optionally with RViz and an MCAP recording.

ros2 launch clip_depth_ros depth.launch.py image:=/camera/color/image_raw \
    camera_info:=/camera/color/camera_info checkpoint:=/path/to/checkpoint rviz:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'clip_depth_ros'
OUTPUTS = ('depth/image', 'depth/camera_info', 'depth/points', 'depth/colormap')

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
    ('record', 'false', 'Record input and outputs with ros2 bag (MCAP).'),
    ('fixed_frame', 'camera_color_optical_frame', 'RViz fixed frame.'),
    ('bag_dir', 'clip_depth_bag', 'Output directory of the recording.'),
    ('fastdds_shm', 'false', 'Use the shipped Fast DDS shared-memory profile (large messages '
     'between processes on one host).'),
]


def qualified(namespace: str, topic: str) -> str:
    if topic.startswith('/'):
        return topic
    return '/' + '/'.join(p for p in (namespace.strip('/'), topic) if p)


def _launch_setup(context, *args, **kwargs):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    # Only arguments given on the command line override the parameter file.
    overrides = {'use_sim_time': arg('use_sim_time').lower() == 'true'}
    for name in ('checkpoint', 'device', 'input_transport'):
        if arg(name):
            overrides[name] = arg(name)
    namespace, image, info = arg('namespace'), arg('image'), arg('camera_info')
    node = Node(
        package=PACKAGE, executable='depth_node', name='depth_node', namespace=namespace,
        output='screen', emulate_tty=True,
        parameters=[arg('params_file'), overrides],
        remappings=[('image', image), ('image/compressed', image + '/compressed'),
                    ('camera_info', info)],
        ros_arguments=['--log-level', arg('log_level')])
    topics = [qualified(namespace, t) for t in (image, info)]
    topics += [qualified(namespace, t) for t in OUTPUTS] + ['/diagnostics']
    record = ExecuteProcess(
        cmd=['ros2', 'bag', 'record', '--storage', 'mcap', '--output', arg('bag_dir')] + topics,
        output='screen', condition=IfCondition(arg('record')))
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2', namespace=namespace,
        arguments=['-d', PathJoinSubstitution([FindPackageShare(PACKAGE), 'rviz',
                                               'depth.rviz']).perform(context),
                   '--fixed-frame', arg('fixed_frame')],
        parameters=[{'use_sim_time': overrides['use_sim_time']}],
        condition=IfCondition(arg('rviz')))
    return [node, record, rviz]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in ARGUMENTS]
    shm = SetEnvironmentVariable(
        'FASTDDS_DEFAULT_PROFILES_FILE',
        PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'fastdds_shm.xml']),
        condition=IfCondition(LaunchConfiguration('fastdds_shm')))
    return LaunchDescription(declared + [shm, OpaqueFunction(function=_launch_setup)])
