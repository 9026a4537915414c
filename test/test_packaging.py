# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch files, RViz config, parameter file and installed data, checked against the package."""

import ast
import os
from pathlib import Path
import re

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
NODE_OUTPUTS = {'depth/image', 'depth/camera_info', 'depth/points', 'depth/colormap'}
NODE_INPUTS = {'image', 'camera_info'}


def console_scripts():
    tree = ast.parse((REPO / 'setup.py').read_text())
    scripts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.match(r'^[\w-]+ = [\w.]+:\w+$', node.value):
            scripts.add(node.value.split(' = ')[0])
    return scripts


def string_calls(tree, func_name):
    """First string arguments of every call to `func_name` in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == func_name \
                and node.args and isinstance(node.args[0], ast.Constant):
            yield node.args[0].value


def declared_arguments(tree):
    names = set(string_calls(tree, 'DeclareLaunchArgument'))
    for node in ast.walk(tree):  # the (name, default, description) table in depth.launch.py
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'ARGUMENTS':
            names |= {elt.elts[0].value for elt in node.value.elts}
    return names


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_references_resolve(path):
    tree = ast.parse(path.read_text())
    declared = declared_arguments(tree)
    used = set(string_calls(tree, 'LaunchConfiguration'))
    for node in ast.walk(tree):  # arg('name') in OpaqueFunction set-ups
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'arg' \
                and isinstance(node.args[0], ast.Constant):
            used.add(node.args[0].value)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'FORWARDED':
            used |= {e.value for e in node.value.elts}
    assert used, 'launch file uses no arguments?'
    assert used <= declared, f'undeclared launch arguments: {sorted(used - declared)}'
    executables = {kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                   for kw in node.keywords if kw.arg == 'executable'
                   and isinstance(kw.value, ast.Constant)}
    ours = executables - {'rviz2'}
    assert ours <= console_scripts(), f'unknown executables: {ours - console_scripts()}'
    for node in ast.walk(tree):  # every share file named in a PathJoinSubstitution exists
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'PathJoinSubstitution':
            parts = [e.value for e in node.args[0].elts[1:] if isinstance(e, ast.Constant)]
            assert (REPO.joinpath(*parts)).exists(), parts


def test_depth_launch_has_the_documented_arguments():
    tree = ast.parse((REPO / 'launch' / 'depth.launch.py').read_text())
    assert {'namespace', 'image', 'camera_info', 'params_file', 'checkpoint', 'device',
            'input_transport', 'use_sim_time', 'log_level', 'rviz', 'record',
            'bag_dir'} <= declared_arguments(tree)


def test_launch_descriptions_load_where_launch_is_installed():
    # Not find_spec('launch'): the repository's own launch/ folder would satisfy it.
    pytest.importorskip('launch_ros', reason='launch_ros needs a ROS 2 install')
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    for path in LAUNCH_FILES:
        description = get_launch_description_from_python_launch_file(str(path))
        names = {a.name for a in description.get_launch_arguments()}
        assert names == declared_arguments(ast.parse(path.read_text()))


def test_parameter_yaml_matches_the_table():
    from clip_depth_ros.ros.parameters import defaults, SPECS, to_yaml
    shipped = yaml.safe_load((REPO / 'config' / 'depth.yaml').read_text())
    params = shipped['/**']['ros__parameters']
    assert set(params) == set(defaults()) == set(SPECS)
    assert params == defaults()
    assert yaml.safe_load(to_yaml()) == shipped


def test_rviz_config_shows_node_topics():
    config = yaml.safe_load((REPO / 'rviz' / 'depth.rviz').read_text())
    displays = config['Visualization Manager']['Displays']
    topics = {d['Class'].split('/')[-1]: [] for d in displays}
    for d in displays:
        if 'Topic' in d:
            topics[d['Class'].split('/')[-1]].append(d['Topic'])
    image_topics = {t['Value'] for t in topics['Image']}
    assert {'image', 'depth/image', 'depth/colormap'} == image_topics
    (cloud,) = [d for d in displays if d['Class'].endswith('PointCloud2')]
    assert cloud['Topic']['Value'] == 'depth/points' and cloud['Color Transformer'] == 'RGB8'
    for t in sum(topics.values(), []):
        assert t['Value'] in NODE_OUTPUTS | NODE_INPUTS
        expected = 'Best Effort' if t['Value'] in NODE_INPUTS else 'Reliable'
        assert t['Reliability Policy'] == expected, t


def test_setup_installs_share_files(tmp_path):
    """Build a wheel and look inside: launch/, config/, rviz/ and the marker are installed."""
    import subprocess
    import sys
    import zipfile
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                        '-q', '-w', str(tmp_path), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob('*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    data = 'clip_depth_ros-0.1.0.data/data/share/'
    expected = {'ament_index/resource_index/packages/clip_depth_ros',
                'clip_depth_ros/package.xml', 'clip_depth_ros/config/depth.yaml',
                'clip_depth_ros/config/fastdds_shm.xml', 'clip_depth_ros/rviz/depth.rviz'}
    expected |= {f'clip_depth_ros/launch/{p.name}' for p in LAUNCH_FILES}
    assert {data + e for e in expected} <= names
    assert 'clip_depth_ros/model_configs/ViT-T-16-test.json' in names


def test_fastdds_profile_is_valid_xml_with_a_large_shm_segment():
    import xml.etree.ElementTree as ET
    root = ET.parse(REPO / 'config' / 'fastdds_shm.xml').getroot()
    ns = {'f': 'http://www.eprosima.com'}
    sizes = [int(e.text) for e in root.iterfind('.//f:segment_size', ns)]
    assert sizes and sizes[0] >= 640 * 480 * 32 * 2


# Keys checked by hand against ros/rosdistro (the files rosdep itself reads):
# - rosdep/python.yaml (read at commit 000730dc5f91): python3-numpy, python3-opencv,
#   python3-yaml, python3-h5py, python3-scipy, python3-tqdm, python3-pytest,
#   python3-pytest-timeout, python3-pil. python3-torch and python3-torchvision (apt: the
#   distribution's CPU-only builds, older than torch 2.4) and python3-rosbags-pip (a pip key)
#   exist but are not declared, see package.xml; open_clip_torch and safetensors have no key.
#   README.md installs those with pip.
# - jazzy/distribution.yaml and kilted/distribution.yaml (kilted read at 0013c554954f): the
#   released ROS packages rclpy; rcl_interfaces, builtin_interfaces, lifecycle_msgs
#   (rcl_interfaces); ros2bag, rosbag2_storage_mcap (rosbag2); std_msgs, sensor_msgs,
#   sensor_msgs_py, diagnostic_msgs (common_interfaces); launch; launch_ros; rviz2 (rviz);
#   ament_index_python (ament_index); ament_copyright, ament_flake8, ament_pep257
#   (ament_lint); cv_bridge (vision_opencv).
VERIFIED_ROSDEP_KEYS = {
    'python3-numpy', 'python3-opencv', 'python3-yaml', 'python3-h5py', 'python3-scipy',
    'python3-tqdm', 'python3-pytest', 'python3-pytest-timeout', 'python3-pil',
    'rclpy', 'rcl_interfaces', 'builtin_interfaces', 'lifecycle_msgs', 'ros2bag',
    'rosbag2_storage_mcap', 'std_msgs', 'sensor_msgs', 'sensor_msgs_py', 'diagnostic_msgs',
    'launch', 'launch_ros', 'rviz2', 'ament_index_python', 'ament_copyright', 'ament_flake8',
    'ament_pep257', 'cv_bridge',
}
DEPEND_TAGS = ('depend', 'build_depend', 'buildtool_depend', 'build_export_depend',
               'exec_depend', 'test_depend', 'doc_depend')


def package_keys():
    import xml.etree.ElementTree as ET
    root = ET.parse(REPO / 'package.xml').getroot()
    return [(e.tag, e.text.strip()) for e in root if e.tag in DEPEND_TAGS]


def test_package_xml_uses_only_rosdep_keys_that_exist():
    keys = package_keys()
    assert ('buildtool_depend', 'ament_python') not in keys  # no rosdep key of that name
    unknown = sorted({k for _, k in keys} - VERIFIED_ROSDEP_KEYS)
    assert not unknown, f'not checked against rosdistro: {unknown}'
    assert len({k for _, k in keys}) == len(keys), 'a key declared twice'


def test_readme_rosdep_command_matches_package_xml():
    """The README's rosdep line skips nothing that package.xml does not declare."""
    readme = (REPO / 'README.md').read_text()
    lines = [ln for ln in readme.splitlines() if ln.startswith('rosdep install')]
    assert lines == ['rosdep install --from-paths src -y --ignore-src --rosdistro jazzy']
    declared = {k for _, k in package_keys()}
    for pip_only in ('torch', 'open_clip_torch', 'safetensors', 'rosbags'):
        assert pip_only in readme and not any(pip_only in k for k in declared)


def test_console_scripts_install_where_ros2_run_looks(tmp_path):
    """`ros2 run clip_depth_ros TOOL` searches lib/clip_depth_ros; install as colcon does."""
    import subprocess
    import sys
    prefix = tmp_path / 'install'
    # colcon's ament_python build: setup.py egg_info/build/install with a prefix, so that
    # setup.cfg's install_scripts applies (a wheel install would put scripts in bin/).
    r = subprocess.run([sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base',
                        str(tmp_path), 'build', '--build-base', str(tmp_path / 'build'),
                        'install', '--prefix', str(prefix), '--single-version-externally-managed',
                        '--record', str(tmp_path / 'record.txt')],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lib = prefix / 'lib' / 'clip_depth_ros'
    installed = {p.name for p in lib.iterdir()}
    assert installed == console_scripts()
    assert all(os.access(lib / name, os.X_OK) for name in installed)
    assert "'console_scripts','clip-depth-bag'" in (lib / 'clip-depth-bag').read_text()
    share = prefix / 'share' / 'clip_depth_ros'
    assert (share / 'config' / 'cameras.yaml').is_file()
    assert {p.name for p in (share / 'launch').iterdir()} == {p.name for p in LAUNCH_FILES}
    assert 'ros2 run clip_depth_ros clip-depth-bag' in (REPO / 'README.md').read_text()


def test_launch_files_import_only_what_launch_support_has():
    from clip_depth_ros.ros import launch_support
    for path in LAUNCH_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) \
                    and node.module == 'clip_depth_ros.ros.launch_support':
                missing = [a.name for a in node.names if not hasattr(launch_support, a.name)]
                assert not missing, (path.name, missing)


def test_shipped_cameras_file_is_the_node_parameter_contract():
    from clip_depth_ros.ros.launch_support import load_cameras, shared_node_parameters
    path = REPO / 'config' / 'cameras.yaml'
    cameras = load_cameras(path)
    assert [(c.name, c.image, c.camera_info, c.transport) for c in cameras] == [
        ('front', '/front/color/image_raw', '/front/color/camera_info', 'raw'),
        ('left', '/left/color/image_raw', '/left/color/camera_info', 'compressed')]
    # The launch file hands the node exactly what the file says (contract 5).
    params = yaml.safe_load(path.read_text())['/**']['ros__parameters']
    assert shared_node_parameters(cameras) == params


def test_camera_names_alone_get_the_default_topics():
    from clip_depth_ros.ros.launch_support import cameras_from_names, shared_node_parameters
    for text in ('[front, left]', 'front,left', ' /front/ , left '):
        cameras = cameras_from_names(text)
        assert shared_node_parameters(cameras) == {
            'cameras': ['front', 'left'],
            'front': {'image': 'front/image', 'camera_info': 'front/camera_info',
                      'transport': 'raw'},
            'left': {'image': 'left/image', 'camera_info': 'left/camera_info',
                     'transport': 'raw'}}


def test_isolated_nodes_read_and_publish_the_topics_of_the_shared_node():
    from clip_depth_ros.ros.launch_support import (Camera, input_remappings,
                                                   isolated_launch_arguments, qualified)
    driver = Camera('front', '/front/color/image_raw', '/front/color/camera_info', 'compressed')
    assert isolated_launch_arguments(driver) == {
        'namespace': '/front', 'image': '/front/color/image_raw',
        'camera_info': '/front/color/camera_info', 'input_transport': 'compressed'}
    default = Camera('left')
    args = isolated_launch_arguments(default, 'robot')
    # The shared node in /robot reads left/image = /robot/left/image; the isolated one too.
    assert (args['namespace'], args['image'], args['camera_info']) == (
        '/robot/left', '/robot/left/image', '/robot/left/camera_info')
    assert qualified(args['namespace'], 'depth/points') == qualified('robot', 'left/depth/points')
    assert input_remappings(args['image'], args['camera_info']) == [
        ('image', '/robot/left/image'), ('image/compressed', '/robot/left/image/compressed'),
        ('camera_info', '/robot/left/camera_info')]


@pytest.mark.parametrize('text,error', [
    ('[/**: {ros__parameters: {}}]', 'one node entry'),
    ('/**: {ros__parameters: {cameras: []}}', 'non-empty list'),
    ('/**: {ros__parameters: {cameras: [a, a]}}', 'repeat'),
    ('/**: {ros__parameters: {cameras: [front-left]}}', 'ROS name'),
    ('/**: {ros__parameters: {cameras: [a], a: {image: x, topic: y}}}',
     'a.topic: unknown key; known keys: camera_info, image, transport'),
    ('/**: {ros__parameters: {cameras: [a], a: {transport: h264}}}', 'a.transport'),
    ('/**: {ros__parameters: {cameras: [a], a: {image: ""}}}', None),
    ('/**: {ros__parameters: {cameras: [a], a: {camera_info: "/"}}}', 'a.camera_info'),
    ('/**: {ros__parameters: {cameras: [a]: b}}', 'cannot read'),
])
def test_bad_cameras_file_is_one_clear_error(tmp_path, text, error):
    from clip_depth_ros.config import ConfigError
    from clip_depth_ros.ros.launch_support import load_cameras
    path = tmp_path / 'cameras.yaml'
    path.write_text(text)
    if error is None:  # an empty topic means the default
        assert load_cameras(path)[0].image == 'a/image'
        return
    with pytest.raises(ConfigError) as e:
        load_cameras(path)
    assert error in str(e.value) and str(path) in str(e.value)
    with pytest.raises(ConfigError, match='cannot read'):
        load_cameras(tmp_path / 'missing.yaml')


def test_every_recording_gets_a_new_bag_directory(tmp_path):
    import datetime
    from clip_depth_ros.config import ConfigError
    from clip_depth_ros.ros.launch_support import bag_directory
    now = datetime.datetime(2026, 12, 1, 7, 5, 9)
    taken = set()
    for _ in range(3):  # three runs within the same second: three directories
        taken.add(bag_directory('', now, exists=taken.__contains__))
    assert taken == {'clip_depth_2026_12_01-07_05_09', 'clip_depth_2026_12_01-07_05_09_2',
                     'clip_depth_2026_12_01-07_05_09_3'}
    given = tmp_path / 'run1'
    assert bag_directory(str(given), now) == str(given)
    given.mkdir()  # ros2 bag record refuses an existing folder: say so before launching
    with pytest.raises(ConfigError, match='bag_dir: .*run1 exists'):
        bag_directory(str(given), now)


def test_record_command_names_topics_with_the_topics_option():
    from clip_depth_ros.ros.launch_support import record_command, recorded_topics
    topics = recorded_topics('cam', 'image', '/driver/camera_info')
    assert topics == ['/cam/image', '/driver/camera_info', '/cam/depth/image',
                      '/cam/depth/camera_info', '/cam/depth/points', '/cam/depth/colormap',
                      '/diagnostics']
    cmd = record_command('out', topics)
    assert cmd[:3] == ['ros2', 'bag', 'record'] and cmd[cmd.index('--output') + 1] == 'out'
    assert cmd[cmd.index('--storage') + 1] == 'mcap'
    # Positional topics are deprecated in Jazzy: every topic follows --topics.
    assert cmd[cmd.index('--topics') + 1:] == topics


def test_recording_follows_the_transport(tmp_path):
    from clip_depth_ros.ros.launch_support import (Camera, parameter_file_transport,
                                                   recorded_camera_topics, recorded_topics)
    topics = recorded_topics('cam', 'image', '/driver/camera_info', 'compressed')
    assert topics[:2] == ['/cam/image/compressed', '/driver/camera_info']
    assert '/cam/image' not in topics
    # depth.launch.py: input_transport from the argument, else from the parameter file
    params = tmp_path / 'p.yaml'
    params.write_text('/**:\n  ros__parameters:\n    input_transport: compressed\n')
    assert parameter_file_transport(params) == 'compressed'
    assert parameter_file_transport(params, 'raw') == 'raw'
    assert parameter_file_transport(REPO / 'config' / 'depth.yaml') == 'raw'
    params.write_text('/cam/depth_node:\n  ros__parameters:\n    input_transport: compressed\n')
    assert parameter_file_transport(params) == 'compressed'
    params.write_text('/other_node:\n  ros__parameters:\n    input_transport: compressed\n')
    assert parameter_file_transport(params) == 'raw'
    # multi_camera.launch.py: per camera, its own transport
    cameras = [Camera('front', '/f/image_raw'), Camera('left', transport='compressed')]
    assert recorded_camera_topics('robot', cameras) == [
        '/f/image_raw', '/robot/front/camera_info', '/robot/front/depth/image',
        '/robot/front/depth/camera_info', '/robot/front/depth/points',
        '/robot/front/depth/colormap', '/robot/left/image/compressed',
        '/robot/left/camera_info', '/robot/left/depth/image', '/robot/left/depth/camera_info',
        '/robot/left/depth/points', '/robot/left/depth/colormap', '/diagnostics']


def test_single_camera_recording_is_what_the_node_subscribes(tiny_checkpoint):
    """depth.launch.py's remappings on a real node: the recorded inputs are its inputs."""
    from clip_depth_ros.ros.depth_node import DepthNode
    from clip_depth_ros.ros.launch_support import input_remappings, recorded_topics
    from rclpy.parameter import Parameter
    from ros_harness import Graph, wait_for
    image, info = '/driver/color/image_raw', '/driver/color/camera_info'
    remap = [a for old, new in input_remappings(image, info) for a in ('-r', f'{old}:={new}')]
    graph = Graph()
    try:
        node = DepthNode(context=graph.context, namespace='cam1', cli_args=['--ros-args'] + remap,
                         parameter_overrides=[Parameter('checkpoint', value=str(tiny_checkpoint)),
                                              Parameter('device', value='cpu'),
                                              Parameter('input_transport', value='compressed')])
        graph.add(node)
        node.autostart()
        recorded = set(recorded_topics('cam1', image, info, 'compressed'))

        def subscribed():
            return {n for n, _ in node.get_subscriber_names_and_types_by_node('depth_node',
                                                                              '/cam1')}
        wait_for(lambda: len(subscribed()) >= 2, timeout=30, what='subscriptions')
        assert subscribed() == {image + '/compressed', info}
        assert subscribed() <= recorded
    finally:
        graph.close()


def flattened(params: dict, prefix: str = '') -> dict:
    """Nested parameter dicts as launch_ros passes them to a node: 'front.image' etc."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(flattened(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def test_cameras_file_configures_the_real_node(tiny_checkpoint):
    """What multi_camera.launch.py hands the node: every camera's topics, in and out."""
    from clip_depth_ros.ros.launch_support import (load_cameras, recorded_camera_topics,
                                                   shared_node_parameters)
    from clip_depth_ros.ros.depth_node import DepthNode
    from rclpy.parameter import Parameter
    from ros_harness import Graph, wait_for
    params = flattened(shared_node_parameters(load_cameras(REPO / 'config' / 'cameras.yaml')))
    params.update(checkpoint=str(tiny_checkpoint), device='cpu', publish_points=False)
    graph = Graph()
    try:
        node = DepthNode(context=graph.context, namespace='robot',
                         parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        graph.add(node)
        node.autostart()

        def topics(kind):
            get = getattr(node, f'get_{kind}_names_and_types_by_node')
            return {name for name, _ in get('depth_node', '/robot')}
        expected_in = {'/front/color/image_raw', '/front/color/camera_info',
                       '/left/color/image_raw/compressed', '/left/color/camera_info'}
        expected_out = {f'/robot/{c}/depth/{t}' for c in ('front', 'left')
                        for t in ('image', 'camera_info', 'points', 'colormap')}
        wait_for(lambda: expected_in <= topics('subscriber')
                 and expected_out <= topics('publisher'), timeout=30,
                 what=f'subscriptions {expected_in} and publishers {expected_out}')
        assert not {t for t in topics('subscriber') if t.endswith('image')} - expected_in
        # record:=true records exactly what the node reads, and all it publishes
        recorded = set(recorded_camera_topics('robot', load_cameras(REPO / 'config' /
                                                                    'cameras.yaml')))
        assert topics('subscriber') <= recorded and expected_out <= recorded
        assert '/left/color/image_raw' not in recorded
    finally:
        graph.close()
