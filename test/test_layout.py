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


# Each subpackage may import only from the layers below it (and itself). The core (config,
# models, engine, frames, serving, bags) knows nothing of ROS, training or the tools.
LAYERS = {
    'config': set(),
    'models': {'config', 'engine.transforms'},
    'frames': {'config'},
    'engine': {'config', 'models', 'frames'},
    'serving': {'config', 'frames', 'engine'},
    'bags': {'config', 'frames', 'engine', 'serving'},
    'train': {'config', 'models', 'engine', 'frames', 'bags'},
    'ros': {'config', 'frames', 'engine', 'serving', 'models', 'cli'},
    'cli': {'config', 'models', 'engine', 'frames', 'serving', 'bags', 'train'},
}


def package_modules():
    """Map dotted module name -> path for every module of the package."""
    modules = {}
    for path in PKG.rglob('*.py'):
        parts = path.relative_to(REPO).with_suffix('').parts
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join(parts)] = path
    return modules


def layer_of(module: str) -> str:
    parts = module.split('.')[1:]
    if not parts:
        return ''
    if parts[-1] == '__main__':  # `python -m clip_depth_ros.X` is a front end, like cli/
        return 'cli'
    if parts[0] in LAYERS:
        return parts[0]
    return '.'.join(parts)


def internal_imports(path: Path, modules):
    """Yield every clip_depth_ros module `path` imports, function-level imports included."""
    for module, _ in imported_roots(path):
        if module.split('.')[0] == 'clip_depth_ros':
            yield module
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == 'clip_depth_ros':
            for alias in node.names:
                if f'clip_depth_ros.{alias.name}' in modules:
                    yield f'clip_depth_ros.{alias.name}'


def test_dependencies_point_one_way():
    modules = package_modules()
    offenders = []
    for name, path in modules.items():
        layer = layer_of(name)
        if layer not in LAYERS:
            continue
        for target in internal_imports(path, modules):
            other = layer_of(target)
            allowed = LAYERS[layer] | {layer, ''}
            if other not in allowed and not any(target.startswith(f'clip_depth_ros.{a}')
                                                for a in allowed if '.' in a):
                offenders.append(f'{name} -> {target}')
    assert not offenders, offenders


def test_every_module_sits_in_a_subpackage():
    loose = sorted(p.name for p in PKG.glob('*.py'))
    assert loose == ['__init__.py', 'config.py'], loose


def test_every_subpackage_says_what_it_holds():
    for init in PKG.rglob('__init__.py'):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.splitlines()) >= 1, f'{init.relative_to(REPO)} has no docstring'


def test_no_import_cycles_even_through_function_level_imports():
    modules = package_modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in internal_imports(path, modules):
            # `import a.b.c` also imports a and a.b; an edge to the deepest known module suffices
            while target not in modules and '.' in target:
                target = target.rsplit('.', 1)[0]
            if target in modules and target != name and not name.startswith(target + '.') \
                    and target != 'clip_depth_ros':
                targets.add(target)
        graph[name] = targets
    cycles = []
    state = {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(' -> '.join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, cycles


def private_names_defined(path: Path):
    """Private names a module defines: functions, classes, globals and `self._x` attributes."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if n.startswith('_') and not n.startswith('__')}


def test_no_private_name_is_used_from_another_module():
    sources = list(PKG.rglob('*.py')) + list((REPO / 'benchmarks').glob('*.py')) \
        + list((REPO / 'launch').glob('*.py'))
    ours = {path: private_names_defined(path) for path in PKG.rglob('*.py')}
    offenders = []
    for path in sources:
        own = ours.get(path, set())
        elsewhere = set().union(*(names for p, names in ours.items() if p != path)) - own
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.startswith('clip_depth_ros'):
                offenders += [f'{path.relative_to(REPO)}: {node.module}.{a.name}'
                              for a in node.names if a.name.startswith('_')
                              and not a.name.startswith('__')]
            elif isinstance(node, ast.Attribute) and node.attr in elsewhere \
                    and not (isinstance(node.value, ast.Name)
                             and node.value.id in ('self', 'cls')):
                offenders.append(f'{path.relative_to(REPO)}:{node.lineno}: .{node.attr}')
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
