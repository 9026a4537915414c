# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The standard ament linters, plus the licence header ament_copyright would check."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PY_PATHS = ['clip_depth_ros', 'test', 'launch', 'benchmarks', 'setup.py']


def python_files():
    for entry in PY_PATHS:
        path = REPO / entry
        yield from ([path] if path.is_file() else sorted(path.rglob('*.py')))


@pytest.mark.linter
def test_flake8():
    from ament_flake8.main import main_with_errors
    rc, errors = main_with_errors(argv=[str(REPO / p) for p in PY_PATHS])
    assert rc == 0, f'{len(errors)} flake8 errors:\n' + '\n'.join(errors)


@pytest.mark.linter
def test_pep257():
    from ament_pep257.main import main
    assert main(argv=[str(REPO / p) for p in PY_PATHS]) == 0, 'pep257 errors, see output'


@pytest.mark.linter
def test_every_file_has_a_licence_header():
    missing = [str(p.relative_to(REPO)) for p in python_files()
               if 'SPDX-License-Identifier: Apache-2.0' not in p.read_text()[:400]]
    assert not missing, missing
