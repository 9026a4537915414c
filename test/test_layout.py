# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Package layout and the one-way dependency rule, read from the source with ast."""

import ast
from pathlib import Path
import xml.etree.ElementTree as ET

REPO = Path(__file__).resolve().parent.parent
PKG = REPO / 'clip_depth_ros'
ROS_MODULES = {'rclpy', 'sensor_msgs', 'std_msgs', 'diagnostic_msgs', 'lifecycle_msgs',
               'rcl_interfaces', 'builtin_interfaces', 'launch', 'launch_ros',
               'ament_index_python'}


def imported_roots(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, alias.name.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.module.split('.')[0]


def test_only_ros_package_imports_ros():
    offenders = []
    for path in PKG.rglob('*.py'):
        rel = path.relative_to(PKG)
        if rel.parts[0] == 'ros':
            continue
        for module, root in imported_roots(path):
            if root in ROS_MODULES:
                offenders.append(f'{rel}: {module}')
    assert not offenders, offenders


def test_only_backbone_imports_open_clip():
    users = {str(p.relative_to(PKG)) for p in PKG.rglob('*.py')
             if any(root == 'open_clip' for _, root in imported_roots(p))}
    assert users == {'models/backbone.py'}


def test_core_does_not_import_ros_or_train_layers():
    offenders = []
    for path in PKG.rglob('*.py'):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ('ros', 'train', 'tools'):
            continue
        for module, _ in imported_roots(path):
            if module.startswith(('clip_depth_ros.ros', 'clip_depth_ros.train',
                                  'clip_depth_ros.tools')):
                offenders.append(f'{rel}: {module}')
    assert not offenders, offenders


def test_package_xml_is_format3_ament_python():
    root = ET.parse(REPO / 'package.xml').getroot()
    assert root.tag == 'package' and root.get('format') == '3'
    assert root.findtext('name') == 'clip_depth_ros'
    assert root.find('export/build_type').text == 'ament_python'


def test_package_xml_names_every_ros_dependency_the_code_imports():
    root = ET.parse(REPO / 'package.xml').getroot()
    declared = {e.text for e in root if e.tag in ('exec_depend', 'depend')}
    used = set()
    for path in list(PKG.rglob('*.py')) + list((REPO / 'launch').glob('*.py')):
        used |= {root for _, root in imported_roots(path) if root in ROS_MODULES}
    assert used <= declared, sorted(used - declared)


def test_layout_top_level():
    for name in ('package.xml', 'setup.py', 'setup.cfg', 'README.md', 'LICENSE', 'Makefile',
                 'clip_depth_ros', 'launch', 'config', 'test', 'benchmarks', '.ci/run'):
        assert (REPO / name).exists(), name
    assert (REPO / 'resource' / 'clip_depth_ros').is_file()
