#!/usr/bin/env python3
# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Mutation testing on chosen modules: which small breakages does the test suite not notice.

Each mutant changes one place of one module (a comparison flipped, a constant off by one,
and/or swapped, arithmetic swapped, a `not` dropped, a statement dropped) in a copy of the
repository; the module's test files run against the copy. A mutant the tests fail on is
killed; one they pass on survives and is reported with its line: a promise without a test,
or a change that makes no difference (then say so, or simplify the code).

The repository is copied once and the copy put first on PYTHONPATH: the working tree is never
touched, and tests that import the package see the mutant (tests that start an installed
console script in another process run the unmutated package: they cannot kill a mutant).

    python scripts/mutation.py                      # every target, 8 sampled mutants each
    python scripts/mutation.py --target limits --sample 0 --budget-s 1800   # all of one
"""

from __future__ import annotations

import argparse
import ast
import json
import os
from pathlib import Path
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent

# name: (module, the classes/functions to mutate (empty: all), pytest arguments that test it)
TARGETS: Dict[str, Tuple[str, Tuple[str, ...], Tuple[str, ...]]] = {
    'limits': ('clip_depth_ros/frames/limits.py', (),
               ('test/test_faults.py', '-k', 'not kill_at_every_file_operation')),
    'camera_scale': ('clip_depth_ros/frames/geometry.py', ('Intrinsics',),
                     ('test/test_core_units.py', 'test/test_camera_stream.py')),
    'checkpoint': ('clip_depth_ros/engine/checkpoint.py', (), ('test/test_checkpoint.py',)),
    'run_state': ('clip_depth_ros/train/run_state.py', (),
                  ('test/test_faults.py', '-k', 'kill_at_every_file_operation or state')),
    'frame_slot': ('clip_depth_ros/serving/frame_slot.py', (), ('test/test_camera_stream.py',)),
}

COMPARE_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
                ast.In: ast.NotIn, ast.NotIn: ast.In}
BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.Mult,
              ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}


class Site:
    """One place to mutate: the index of a node in ast.walk order, and how to change it."""

    def __init__(self, index: int, kind: str, line: int) -> None:
        self.index, self.kind, self.line = index, kind, line


def _docstring_nodes(tree: ast.AST) -> set:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0]))
                out.add(id(body[0].value))
    return out


def _scoped(tree: ast.AST, scope: Sequence[str]) -> set:
    """Return the ids of the nodes inside the named top-level classes/functions (or all)."""
    roots = [n for n in tree.body if not scope or (
        isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name in scope)]
    return {id(n) for root in roots for n in ast.walk(root)}


def sites(source: str, scope: Sequence[str] = ()) -> List[Site]:
    """Every mutation site of a module's source, in a fixed order."""
    tree = ast.parse(source)
    skip, inside = _docstring_nodes(tree), _scoped(tree, scope)
    # Statements are dropped only inside functions: a module-level name dropped is a NameError.
    in_functions = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                    for n in ast.walk(f) if n is not f}
    out = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or id(node) not in inside:
            continue
        line = getattr(node, 'lineno', 0)
        if isinstance(node, ast.Compare) and type(node.ops[0]) in COMPARE_SWAP:
            out.append(Site(index, 'compare', line))
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAP:
            out.append(Site(index, 'binop', line))
        elif isinstance(node, ast.BoolOp):
            out.append(Site(index, 'boolop', line))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            out.append(Site(index, 'not', line))
        elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)
              and not isinstance(node.value, bool)):
            out.append(Site(index, 'constant', line))
        elif isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.Raise,
                               ast.Delete)) and id(node) in in_functions:
            out.append(Site(index, 'drop', line))
    return out


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, kind: str) -> None:
        self.target, self.kind = target, kind
        self.before = self.after = ''

    def visit(self, node: ast.AST):  # noqa: D102 (NodeTransformer's own)
        if node is not self.target:
            return self.generic_visit(node)
        self.before = ast.unparse(node)
        if self.kind == 'compare':
            node.ops = [COMPARE_SWAP[type(node.ops[0])]()] + node.ops[1:]
        elif self.kind == 'binop':
            node.op = BINOP_SWAP[type(node.op)]()
        elif self.kind == 'boolop':
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif self.kind == 'not':
            node = node.operand
        elif self.kind == 'constant':
            node.value = node.value + 1 if isinstance(node.value, int) else node.value * 2
        elif self.kind == 'drop':
            node = ast.Pass()
        self.after = ast.unparse(node) if not isinstance(node, ast.Pass) else 'pass'
        return node


def mutate(source: str, site: Site) -> Tuple[str, str, str]:
    """(mutated source, code before, code after) of one site."""
    tree = ast.parse(source)
    target = list(ast.walk(tree))[site.index]
    apply = _Apply(target, site.kind)
    tree = ast.fix_missing_locations(apply.visit(tree))
    return ast.unparse(tree), apply.before, apply.after


def run_tests(copy: Path, args: Sequence[str], timeout_s: float) -> Tuple[str, float]:
    """'killed', 'survived' or 'timeout' (counted as killed: the mutant hangs the tests)."""
    env = dict(os.environ, PYTHONPATH=str(copy) + os.pathsep + os.environ.get('PYTHONPATH', ''),
               HF_HUB_OFFLINE='1', PYTHONDONTWRITEBYTECODE='1')
    start = time.monotonic()
    try:
        r = subprocess.run([sys.executable, '-m', 'pytest', '-x', '-q', '-p', 'no:cacheprovider',
                            *args], cwd=copy, env=env, capture_output=True, text=True,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 'timeout', time.monotonic() - start
    # 0: all passed; 5: nothing collected (a mutant that breaks collection fails with 2).
    return ('survived' if r.returncode == 0 else 'killed'), time.monotonic() - start


def copy_repository(dest: Path) -> None:
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split('\n')
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--target', action='append', choices=sorted(TARGETS),
                   help='a module to mutate (repeatable; default: all of them)')
    p.add_argument('--sample', type=int, default=8,
                   help='mutants per target, drawn at random (0: every site)')
    p.add_argument('--seed', type=int, default=0, help='seed of the draw')
    p.add_argument('--budget-s', type=float, default=900.0,
                   help='stop starting mutants of a target after this many seconds')
    p.add_argument('--json', type=Path, help='also write the results to this JSON file')
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix='mutation_') as tmp:
        copy = Path(tmp)
        copy_repository(copy)
        for name in args.target or sorted(TARGETS):
            module, scope, tests = TARGETS[name]
            source = (REPO / module).read_text()
            found = sites(source, scope)
            chosen = found if args.sample <= 0 else sorted(
                random.Random(f'{args.seed}:{name}').sample(found, min(args.sample, len(found))),
                key=lambda s: s.index)
            outcome, base_s = run_tests(copy, tests, 1800)
            if outcome != 'survived':
                print(f'{name}: the tests fail without any mutant; fix them first', flush=True)
                return 1
            print(f'{name}: {module}, {len(found)} sites, {len(chosen)} mutants, tests pass '
                  f'unmutated in {base_s:.0f} s', flush=True)
            start = time.monotonic()
            for site in chosen:
                if time.monotonic() - start > args.budget_s:
                    print(f'  budget spent: {len(chosen) - chosen.index(site)} mutants not run')
                    break
                mutated, before, after = mutate(source, site)
                (copy / module).write_text(mutated)
                try:
                    outcome, took = run_tests(copy, tests, max(60.0, 4 * base_s))
                finally:
                    (copy / module).write_text(source)
                row = {'target': name, 'module': module, 'line': site.line, 'kind': site.kind,
                       'before': before, 'after': after, 'outcome': outcome,
                       'seconds': round(took, 1)}
                results.append(row)
                print(f'  {outcome:8s} {module}:{site.line} {site.kind}: '
                      f'{before[:60]!r} -> {after[:60]!r}', flush=True)
    survivors = [r for r in results if r['outcome'] == 'survived']
    print(f'{len(results)} mutants, {len(results) - len(survivors)} killed, '
          f'{len(survivors)} survived')
    for r in survivors:
        print(f'SURVIVED {r["module"]}:{r["line"]} {r["kind"]}: {r["before"]!r} -> '
              f'{r["after"]!r}')
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
