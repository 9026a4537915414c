# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write the generated reference tables of docs/*.md from the code (`make docs`).

- Command-line options: every console script of setup.py and every module of the package with
  a `build_parser()` (run as `python -m MODULE`), read from its argparse parser.
- Node parameters: the parameter table in `clip_depth_ros/ros/parameters.py`; also rewrites
  `config/depth.yaml` from it.
- Launch arguments: the `DeclareLaunchArgument` calls (and the `ARGUMENTS` table of
  (name, default, description) tuples) of `launch/*.launch.py`, read with `ast`, so that
  `launch` need not be installed.

Each table sits between marker comments in a page:

    <!-- BEGIN GENERATED: options clip-depth-bag -->
    ...
    <!-- END GENERATED: options clip-depth-bag -->

with the keys `options TOOL`, `parameters depth_node` and `launch FILE`. Only what lies
between markers is rewritten. A key with no block yet gets one appended to its default page;
a block whose key no longer exists is removed. `--check` writes nothing and exits 1 when a
page would change.
"""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path
import re
import sys
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
PACKAGE = 'clip_depth_ros'
DOCS = REPO / 'docs'
DEPTH_YAML = REPO / 'config' / 'depth.yaml'
# Console scripts that take no argparse options (ROS arguments and parameters instead).
NO_PARSER = {'depth_node': 'parameters depth_node'}
# Where a new block goes when no page has its marker yet.
DEFAULT_PAGE = {'options': 'tools.md', 'parameters': 'node.md', 'launch': 'node.md'}
BLOCK = re.compile(r'<!-- BEGIN GENERATED: (?P<key>[^>]+?) -->\n(?P<body>.*?)'
                   r'<!-- END GENERATED: (?P=key) -->\n', re.S)
YAML_HEADER = """\
# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
# Parameters of clip_depth_ros/depth_node, generated from clip_depth_ros/ros/parameters.py by
# `make docs`; test/test_packaging.py keeps the two in step. Descriptions: `ros2 param describe`.
"""


# --- command-line tools ----------------------------------------------------------------------

class Tool(NamedTuple):
    """A command users type, and the module whose `build_parser()` describes it."""

    command: str
    module: str
    function: str = 'main'


def console_scripts() -> List[Tool]:
    """Console scripts of setup.py, in the order they are declared."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    tools = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = re.fullmatch(r'([\w-]+) = ([\w.]+):(\w+)', node.value)
            if m:
                tools.append(Tool(*m.groups()))
    return tools


def defines_build_parser(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.FunctionDef) and n.name == 'build_parser' for n in tree.body)


def module_tools(scripts: Iterable[Tool]) -> List[Tool]:
    """Package modules with a build_parser() that no console script runs: `python -m`."""
    covered = {t.module for t in scripts}
    tools = []
    for path in sorted((REPO / PACKAGE).rglob('*.py')):
        module = '.'.join(path.relative_to(REPO).with_suffix('').parts)
        if path.name == '__main__.py':
            module = module.rsplit('.', 1)[0]
        if module not in covered and defines_build_parser(path):
            tools.append(Tool(f'python -m {module}', module))
    return tools


def all_tools() -> List[Tool]:
    scripts = console_scripts()
    return scripts + module_tools(scripts)


def parser_of(tool: Tool) -> Optional[argparse.ArgumentParser]:
    """Return the tool's parser; None for the commands in NO_PARSER."""
    if tool.command in NO_PARSER:
        return None
    module = importlib.import_module(tool.module)
    build = getattr(module, 'build_parser', None)
    if build is None:
        raise SystemExit(f'{tool.module}: no build_parser() for {tool.command}; add one '
                         f'(or list {tool.command} in NO_PARSER with the block it has instead)')
    return build()


def documented_actions(parser: argparse.ArgumentParser) -> List[argparse.Action]:
    """List the arguments `--help` shows: every action but help and suppressed ones."""
    return [a for a in parser._actions
            if not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS]


def option_names(parser: argparse.ArgumentParser) -> set:
    """Return every option string (`-o`, `--out`) and positional name, plus --help."""
    names = {'-h', '--help'}
    for action in documented_actions(parser):
        names |= set(action.option_strings) or {action.dest}
    return names


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """Return the help string as --help prints it (%(default)s expanded), on one line."""
    text = action.help or ''
    if '%' in text:
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        params['prog'] = parser.prog
        for key, value in list(params.items()):
            if hasattr(value, '__name__'):
                params[key] = value.__name__
        if params.get('choices') is not None:
            params['choices'] = ', '.join(str(c) for c in params['choices'])
        text = text % params
    return ' '.join(text.split())


def default_text(action: argparse.Action) -> str:
    if action.required or isinstance(action, (argparse._StoreTrueAction,
                                              argparse._StoreFalseAction)):
        return ''
    value = action.default
    if value is None or value is argparse.SUPPRESS or value in ([], ''):
        return ''
    if isinstance(value, (list, tuple)):
        value = ' '.join(str(v) for v in value)
    return f'`{value}`'


def cell(text: str) -> str:
    return ' '.join(str(text).split()).replace('|', '\\|')


def invocation(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """Return `-o OUT, --out OUT`, as the left column of --help."""
    return parser._get_formatter()._format_action_invocation(action)


def row_name(first_cell: str) -> str:
    """Return the name a row stands for: `--out` of `-o OUT, --out OUT`, `images` of `images`."""
    text = first_cell.strip().strip('`').replace('\\|', '|')
    items = [item.split(' ', 1)[0] for item in text.split(', ')]
    longs = [item for item in items if item.startswith('--')]
    return (longs or items)[0]


def expected_row_names(tool: Tool) -> List[str]:
    parser = parser_of(tool)
    return [row_name(invocation(parser, a)) for a in documented_actions(parser)]


def table_row_names(body: str) -> List[str]:
    """Return the first-column names of a generated block's rows (header excluded)."""
    rows = [line for line in body.splitlines() if line.startswith('| `')]
    return [row_name(line.split(' | ')[0][2:]) for line in rows]


def page_blocks(text: str) -> Dict[str, str]:
    return {m.group('key'): m.group('body') for m in BLOCK.finditer(text)}


def module_aliases(tools: Iterable[Tool]) -> Dict[str, Tool]:
    """`python -m PACKAGE` names of the tools, from the __main__.py that runs a tool's main."""
    by_module = {t.module: t for t in tools}
    aliases = dict(by_module)
    for path in (REPO / PACKAGE).rglob('__main__.py'):
        package = '.'.join(path.parent.relative_to(REPO).parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in by_module:
                aliases[package] = by_module[node.module]
    return aliases


def options_block(tool: Tool) -> str:
    parser = parser_of(tool)
    lines = [f'`{tool.command} --help`:', '',
             '| argument | default | description |', '|---|---|---|']
    for action in documented_actions(parser):
        text = help_text(parser, action)
        if action.required and action.option_strings:
            text = '**required**' + (f'; {text}' if text else '')
        lines.append(f'| `{cell(invocation(parser, action))}` | {cell(default_text(action))} '
                     f'| {cell(text)} |')
    return '\n'.join(lines) + '\n\n'


# --- node parameters -------------------------------------------------------------------------

def parameter_rows() -> List[Tuple[str, object, object]]:
    """(name, default, Spec) for every parameter of the table, in its order."""
    from clip_depth_ros.ros import parameters
    defaults = parameters.defaults()
    return [(name, defaults[name], spec) for name, spec in parameters.SPECS.items()]


def parameter_names() -> set:
    return {name for name, _, _ in parameter_rows()}


def yaml_value(value) -> str:
    if isinstance(value, bool):
        return '`true`' if value else '`false`'
    if isinstance(value, str):
        return f"`'{value}'`" if value == '' else f'`{value}`'
    if isinstance(value, list):
        return '`[' + ', '.join(str(v) for v in value) + ']`'
    return f'`{value}`'


def parameters_block() -> str:
    lines = ['| parameter | type | default | range | set at run time | description |',
             '|---|---|---|---|---|---|']
    for name, default, spec in parameter_rows():
        kind = {bool: 'bool', int: 'int', float: 'double', str: 'string',
                list: 'string[]'}[type(default)]
        if spec.int_range:
            span = f'{spec.int_range[0]} to {spec.int_range[1]}'
        elif spec.float_range:
            span = f'{spec.float_range[0]:g} to {spec.float_range[1]:g}'
        else:
            span = ''
        lines.append(f'| `{name}` | {kind} | {cell(yaml_value(default))} | {span} | '
                     f'{"no" if spec.read_only else "yes"} | {cell(spec.description)} |')
    return '\n'.join(lines) + '\n\n'


def depth_yaml() -> str:
    from clip_depth_ros.ros.parameters import to_yaml
    return YAML_HEADER + to_yaml()


# --- launch arguments ------------------------------------------------------------------------

def launch_files() -> List[Path]:
    return sorted((REPO / 'launch').glob('*.launch.py'))


def _names(tree: ast.Module) -> Dict[str, ast.expr]:
    """Collect the `NAME = value` assignments of the file, to resolve defaults."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def _render(node: Optional[ast.expr], names: Dict[str, ast.expr], depth: int = 0) -> str:
    """Render a default as a user reads it: text, or $(find-pkg-share PKG)/dir/file."""
    if node is None:
        return ''
    if isinstance(node, ast.Name) and node.id in names and depth < 5:
        return _render(names[node.id], names, depth + 1)
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == 'FindPackageShare' and node.args:
            return f'$(find-pkg-share {_render(node.args[0], names, depth + 1)})'
        if node.func.id == 'PathJoinSubstitution' and node.args \
                and isinstance(node.args[0], (ast.List, ast.Tuple)):
            return '/'.join(_render(e, names, depth + 1) for e in node.args[0].elts)
    return ast.unparse(node)


def _text(node: Optional[ast.expr]) -> str:
    """Read a description: string constants, implicitly concatenated or joined with +."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return ''


def launch_arguments(path: Path) -> List[Tuple[str, str, str]]:
    """(name, default, description) of every argument the launch file declares, in order."""
    tree = ast.parse(path.read_text())
    names = _names(tree)
    found: List[Tuple[Tuple[int, int], str, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and getattr(node.targets[0], 'id', '') == 'ARGUMENTS' \
                and isinstance(node.value, (ast.List, ast.Tuple)):
            for entry in node.value.elts:
                if isinstance(entry, (ast.Tuple, ast.List)) and entry.elts \
                        and isinstance(entry.elts[0], ast.Constant):
                    parts = list(entry.elts) + [None, None]
                    found.append(((entry.lineno, entry.col_offset), entry.elts[0].value,
                                  _render(parts[1], names), _text(parts[2])))
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == \
                'DeclareLaunchArgument' and node.args and isinstance(node.args[0], ast.Constant):
            keywords = {k.arg: k.value for k in node.keywords}
            default = keywords.get('default_value', node.args[1] if len(node.args) > 1
                                   else None)
            found.append(((node.lineno, node.col_offset), node.args[0].value,
                          _render(default, names), _text(keywords.get('description'))))
    seen, unique = set(), []
    for _, name, default, description in sorted(found):
        if name not in seen:
            seen.add(name)
            unique.append((name, default, description))
    return unique


def launch_names(path: Path) -> set:
    return {name for name, _, _ in launch_arguments(path)}


def launch_block(path: Path) -> str:
    lines = [f'Arguments of `ros2 launch {PACKAGE} {path.name}`, given as name:=value:', '',
             '| argument | default | description |', '|---|---|---|']
    for name, default, description in launch_arguments(path):
        shown = f'`{default}`' if default else "`''`"
        lines.append(f'| `{name}` | {cell(shown)} | {cell(description)} |')
    return '\n'.join(lines) + '\n\n'


# --- pages -----------------------------------------------------------------------------------

def expected_blocks() -> Dict[str, str]:
    """Return every generated block, by key, in a stable order."""
    blocks = {}
    for tool in all_tools():
        if tool.command in NO_PARSER:
            continue
        blocks[f'options {tool.command}'] = options_block(tool)
    blocks['parameters depth_node'] = parameters_block()
    for path in launch_files():
        blocks[f'launch {path.name}'] = launch_block(path)
    return blocks


def pages() -> List[Path]:
    return sorted(DOCS.glob('*.md'))


def render_pages(blocks: Dict[str, str]) -> Tuple[Dict[Path, str], List[str]]:
    """Return the new text of every page, and notes on blocks added or removed."""
    notes: List[str] = []
    texts = {p: p.read_text() for p in pages()}
    placed = set()
    for path, text in texts.items():
        def fill(m: re.Match) -> str:
            key = m.group('key')
            if key not in blocks:
                notes.append(f'{path.name}: removed the block of {key!r} (no longer exists)')
                return ''
            placed.add(key)
            return f'<!-- BEGIN GENERATED: {key} -->\n{blocks[key]}<!-- END GENERATED: {key} -->\n'
        texts[path] = BLOCK.sub(fill, text)
    for key in blocks:
        if key in placed:
            continue
        page = DOCS / DEFAULT_PAGE[key.split(' ', 1)[0]]
        heading = key.split(' ', 1)[1]
        texts.setdefault(page, '')
        texts[page] = texts[page].rstrip('\n') + (
            f'\n\n### `{heading}`\n\n<!-- BEGIN GENERATED: {key} -->\n{blocks[key]}'
            f'<!-- END GENERATED: {key} -->\n')
        notes.append(f'{page.name}: added a block for {key!r}; move it and describe it')
    return texts, notes


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--check', action='store_true',
                   help='write nothing; exit 1 when a page or config/depth.yaml is out of date')
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    texts, notes = render_pages(expected_blocks())
    texts[DEPTH_YAML] = depth_yaml()
    stale = [path for path, text in texts.items()
             if not path.exists() or path.read_text() != text]
    for note in notes:
        print(note, file=sys.stderr)
    if args.check:
        for path in stale:
            print(f'{path.relative_to(REPO)} is out of date: run make docs', file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(texts[path])
        print(f'wrote {path.relative_to(REPO)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
