# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch files, RViz config, parameter file and installed data, checked against the package."""

import ast
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
