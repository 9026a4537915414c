# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The standard ament linters, plus the licence header ament_copyright would check."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parent.parent
PY_PATHS = ['clip_depth_ros', 'test', 'launch', 'benchmarks', 'scripts', 'setup.py']


def python_files():
    for entry in PY_PATHS:
        path = REPO / entry
        yield from ([path] if path.is_file() else sorted(path.rglob('*.py')))


def run_linter(name: str, *options: str) -> subprocess.CompletedProcess:
    # A fresh process: forking a pytest process that has run DDS threads can crash the child.
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return subprocess.run([exe, *options, *[str(REPO / p) for p in PY_PATHS]],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.linter
def test_flake8():
    r = run_linter('ament_flake8', '--config', str(REPO / 'test' / 'flake8.ini'))
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


@pytest.mark.linter
def test_pep257():
    r = run_linter('ament_pep257')
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


@pytest.mark.linter
def test_every_file_has_a_licence_header():
    missing = [str(p.relative_to(REPO)) for p in python_files()
               if 'SPDX-License-Identifier: Apache-2.0' not in p.read_text()[:400]]
    assert not missing, missing


# Formats without comments (JSON, PNG), the ament resource marker (empty by convention), the
# licence itself, and the CC BY 4.0 sample data, whose README states that licence.
NO_HEADER = ('LICENSE', 'resource/clip_depth_ros', '.json', '.png',
             'clip_depth_ros/data/tum_fr1_rpy/associations.txt',
             'clip_depth_ros/data/tum_fr1_rpy/intrinsics.txt',
             'test/data/tum_fr1_rpy_groundtruth.txt')


@pytest.mark.linter
def test_every_tracked_file_has_a_licence_line_where_its_format_allows():
    if not (REPO / '.git').exists():
        pytest.skip('not a git checkout')
    r = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    missing = [name for name in r.stdout.splitlines()
               if not name.endswith(NO_HEADER) and (REPO / name).is_file()
               and 'SPDX-License-Identifier: Apache-2.0' not in (REPO / name).read_text()[:600]]
    assert not missing, missing
