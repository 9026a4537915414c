# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The docs say what the code does: options, parameters and launch arguments, and no machine paths.

The reference tables are generated (`make docs`, scripts/gen_docs.py); these tests fail when a
`--help` option, a node parameter or a launch argument is missing from them or a documented one
no longer exists, when a command shown in the prose uses one that does not exist, and when a
tracked document names a path of some particular machine.
"""

import importlib.util
from pathlib import Path
import re
import subprocess

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = ('node.md', 'tools.md', 'training.md', 'onnx.md', 'design.md')


def load_generator():
    spec = importlib.util.spec_from_file_location('gen_docs', REPO / 'scripts' / 'gen_docs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def docs_blocks():
    blocks = {}
    for page in sorted((REPO / 'docs').glob('*.md')):
        for key, body in gen.page_blocks(page.read_text()).items():
            assert key not in blocks, f'{key!r} generated twice (docs/{page.name})'
            blocks[key] = body
    return blocks


def tracked_docs():
    """Every tracked Markdown and reStructuredText file (all of them outside a git checkout)."""
    r = subprocess.run(['git', 'ls-files', '*.md', '*.rst', '*.txt'], cwd=REPO,
                       capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        names = [REPO / n for n in r.stdout.split()]
    else:
        names = [p for ext in ('md', 'rst') for p in REPO.rglob(f'*.{ext}')
                 if '.venv' not in p.parts]
    docs = sorted({p for p in names if p.is_file()} | set((REPO / 'docs').glob('*.md')))
    return [p for p in docs if p.suffix != '.txt' or 'data' not in p.parts]


def test_the_reference_pages_exist_and_say_who_they_are_for():
    for name in PAGES:
        text = (REPO / 'docs' / name).read_text()
        prose = [ln for ln in text.splitlines()
                 if ln.strip() and not ln.startswith(('#', '<!--', '     SPDX'))]
        assert prose and prose[0].startswith('For '), f'docs/{name}: start with who it is for'


@pytest.mark.parametrize('tool', [t for t in gen.all_tools() if t.command not in gen.NO_PARSER],
                         ids=lambda t: t.command)
def test_every_help_option_is_in_the_docs_and_every_documented_one_exists(tool):
    blocks = docs_blocks()
    key = f'options {tool.command}'
    assert key in blocks, f'no option table for {tool.command} in docs/: run make docs'
    expected = gen.expected_row_names(tool)
    documented = gen.table_row_names(blocks[key])
    missing = [n for n in expected if n not in documented]
    stale = [n for n in documented if n not in expected]
    assert not missing and not stale, \
        f'{tool.command}: in --help but not the docs {missing}, in the docs but not --help ' \
        f'{stale}: run make docs'


def test_every_console_script_has_a_parser_or_a_reference():
    blocks = docs_blocks()
    for tool in gen.all_tools():
        key = gen.NO_PARSER.get(tool.command, f'options {tool.command}')
        assert key in blocks, f'{tool.command}: no {key!r} block in docs/'


def test_every_node_parameter_is_in_the_docs_and_every_documented_one_exists():
    block = docs_blocks().get('parameters depth_node')
    assert block, 'no parameter table in docs/: run make docs'
    documented = gen.table_row_names(block)
    expected = [name for name, _, _ in gen.parameter_rows()]
    assert sorted(documented) == sorted(expected), \
        f'missing {sorted(set(expected) - set(documented))}, ' \
        f'stale {sorted(set(documented) - set(expected))}: run make docs'


@pytest.mark.parametrize('path', gen.launch_files(), ids=lambda p: p.name)
def test_every_launch_argument_is_in_the_docs_and_every_documented_one_exists(path):
    block = docs_blocks().get(f'launch {path.name}')
    assert block, f'no argument table for {path.name} in docs/: run make docs'
    documented = gen.table_row_names(block)
    expected = [name for name, _, _ in gen.launch_arguments(path)]
    assert sorted(documented) == sorted(expected), \
        f'missing {sorted(set(expected) - set(documented))}, ' \
        f'stale {sorted(set(documented) - set(expected))}: run make docs'


def test_launch_arguments_are_read_from_both_declaration_styles():
    depth = {n: (d, text) for n, d, text in
             gen.launch_arguments(REPO / 'launch' / 'depth.launch.py')}
    assert depth['params_file'][0] == '$(find-pkg-share clip_depth_ros)/config/depth.yaml'
    assert depth['rviz'] == ('false', 'Start RViz2 with the shipped config.')
    multi = {n: d for n, d, _ in gen.launch_arguments(REPO / 'launch' / 'multi_camera.launch.py')}
    assert multi['cameras_file'] == '$(find-pkg-share clip_depth_ros)/config/cameras.yaml'
    assert multi['isolate'] == 'false'


def test_generated_sections_and_parameter_file_are_up_to_date():
    texts, notes = gen.render_pages(gen.expected_blocks())
    texts[gen.DEPTH_YAML] = gen.depth_yaml()
    stale = sorted(str(p.relative_to(REPO)) for p, text in texts.items()
                   if not p.exists() or p.read_text() != text)
    assert not stale and not notes, f'out of date: {stale} {notes}: run make docs'


# --- commands shown in the prose ---------------------------------------------------------------

def code_snippets(text: str):
    """Fenced code lines (continuations joined) and inline code spans of a Markdown text."""
    fenced = False
    pending = ''
    for line in text.splitlines():
        if line.lstrip().startswith('```'):
            fenced = not fenced
            continue
        if fenced:
            if line.rstrip().endswith('\\'):
                pending += line.rstrip()[:-1] + ' '
                continue
            yield pending + line
            pending = ''
        else:
            yield from re.findall(r'`([^`]+)`', line)


def commands(snippet: str):
    """Split a snippet into shell commands; drop comments."""
    snippet = re.sub(r'(^|\s)#.*$', '', snippet.replace('\\|', '|'))
    for part in re.split(r';|&&|\|\||\s\|\s', snippet):
        tokens = part.split()
        if tokens:
            yield tokens


def prose_problems(path: Path, tools, aliases, params, launch):
    problems = []
    for snippet in code_snippets(path.read_text()):
        for tokens in commands(snippet):
            tool, start = None, 0
            for i, token in enumerate(tokens):
                if token in tools:
                    tool, start = tools[token], i + 1
                    break
                if token == '-m' and i + 1 < len(tokens) and tokens[i + 1] in aliases:
                    tool, start = aliases[tokens[i + 1]], i + 2
                    break
            if tool is not None and tool.command in gen.NO_PARSER:
                names = [t.split(':=')[0] for t in tokens[start:] if ':=' in t]
                bad = [n for n in names if n not in params and '.' not in n]
                problems += [f'{path.name}: `{snippet}`: no parameter {n}' for n in bad]
            elif tool is not None:
                known = gen.option_names(gen.parser_of(tool)) | {'--debug'}
                used = [m.group(1) for t in tokens[start:]
                        for m in [re.match(r'^\[?(--?[A-Za-z][\w-]*)', t)] if m]
                problems += [f'{path.name}: `{snippet}`: {tool.command} has no {u}'
                             for u in used if u not in known]
            if tokens[:3] == ['ros2', 'launch', gen.PACKAGE] and len(tokens) > 3:
                declared = launch.get(tokens[3])
                if declared is None:
                    problems.append(f'{path.name}: `{snippet}`: no launch file {tokens[3]}')
                    continue
                bad = [t.split(':=')[0] for t in tokens[4:]
                       if ':=' in t and t.split(':=')[0] not in declared]
                problems += [f'{path.name}: `{snippet}`: {tokens[3]} has no argument {b}'
                             for b in bad]
            if tokens[:2] == ['ros2', 'param'] and len(tokens) > 4 \
                    and tokens[3].endswith('depth_node') and tokens[2] in ('get', 'set'):
                name = tokens[4]
                if name not in params and name != 'use_sim_time' and '.' not in name:
                    problems.append(f'{path.name}: `{snippet}`: no parameter {name}')
    return problems


def test_commands_in_the_docs_use_options_parameters_and_arguments_that_exist():
    all_tools = gen.all_tools()
    tools = {t.command: t for t in all_tools if ' ' not in t.command}
    aliases = gen.module_aliases(all_tools)
    params = gen.parameter_names()
    launch = {p.name: gen.launch_names(p) for p in gen.launch_files()}
    problems = []
    for path in tracked_docs():
        if path.suffix == '.md':
            problems += prose_problems(path, tools, aliases, params, launch)
    assert not problems, '\n'.join(problems)


def test_prose_check_catches_a_stale_option(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('Run `clip-depth-bag in out --checkpoint ck --no-such-option`.\n'
                    '```bash\nros2 launch clip_depth_ros depth.launch.py \\\n'
                    '    image:=/cam/image no_such_argument:=1\n```\n'
                    'and `ros2 run clip_depth_ros depth_node --ros-args -p no_such_param:=1`.\n')
    all_tools = gen.all_tools()
    problems = prose_problems(page, {t.command: t for t in all_tools},
                              gen.module_aliases(all_tools), gen.parameter_names(),
                              {p.name: gen.launch_names(p) for p in gen.launch_files()})
    assert len(problems) == 3, problems
    assert all(word in ' '.join(problems) for word in
               ('--no-such-option', 'no_such_argument', 'no_such_param'))


# --- paths and places ----------------------------------------------------------------------------

# Absolute paths that belong to one machine or one person: documents use paths relative to the
# repository or the user's workspace (~/ros2_ws), or standard install locations (/opt/ros/...).
MACHINE_PATH = re.compile(
    r'(?<![\w.~$/-])(/(?:work|home|root|tmp|Users|mnt|media|scratch|data|datasets|srv|nfs|net)/'
    r'|/opt/(?!ros/)|[A-Za-z]:\\\\?Users)')
# Words about where the package was built rather than where it runs.
BUILD_SITE = re.compile(r'this machine|this session|shared/samples|\bissue #?\d+|not drawn',
                        re.I)


def test_no_document_names_a_machine_path_or_the_build_site():
    problems = []
    for path in tracked_docs():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for pattern in (MACHINE_PATH, BUILD_SITE):
                m = pattern.search(line)
                if m:
                    problems.append(f'{path.relative_to(REPO)}:{number}: {m.group(0)!r}: {line}')
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('line', [
    'python -m clip_depth_ros.cli.rgbd_bag /work/shared/samples/x out',
    'data.root=/home/alice/nyu', 'see /tmp/ck', '--out /root/out', 'C:\\Users\\bob',
    'data.root=/data/nyu/sync', '/opt/models/ck',
])
def test_machine_paths_are_caught(line):
    assert MACHINE_PATH.search(line)


@pytest.mark.parametrize('line', [
    'source /opt/ros/jazzy/setup.bash', 'image:=/camera/color/image_raw', 'cd ~/ros2_ws',
    'https://cvg.cit.tum.de/data/datasets/rgbd-dataset', 'runs/robot/best', '/diagnostics',
    '`/robot/left/depth/points`', 'checkpoint:=/path/to/checkpoint',
])
def test_ordinary_paths_and_topics_pass(line):
    assert not MACHINE_PATH.search(line)


def test_relative_links_in_the_docs_resolve():
    broken = []
    for path in tracked_docs():
        if path.suffix != '.md':
            continue
        for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', path.read_text()):
            if '://' in target or target.startswith('mailto:'):
                continue
            if not (path.parent / target).exists():
                broken.append(f'{path.relative_to(REPO)}: {target}')
    assert not broken, broken


def test_failure_lines_name_the_documented_command():
    """`<tool>: error: ...` uses the console script's name, as docs/tools.md says."""
    from clip_depth_ros.cli.common import TOOL_NAMES
    for tool in gen.console_scripts():
        if tool.command not in gen.NO_PARSER:
            assert TOOL_NAMES.get(tool.module.rsplit('.', 1)[-1]) == tool.command, tool
