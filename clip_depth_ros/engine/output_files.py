# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Output files that surprise no one: the one rule every tool and every checkpoint writes by.

- Never inside an input: an output whose real location is an input file, or lies inside an
  input directory, is refused before any work is done.
- Never over a file the tool did not create: an existing output is refused unless the caller
  was told it may replace outputs of an earlier run (`--overwrite`); an input never is.
- Never through a link: an entry a tool writes into inside its output directory must not be
  a symbolic link (the write would land wherever the link points). A file is replaced by a
  rename, which replaces a link at its name and never writes through it.
- Never half a file, never a temporary left behind: each file is written to a fresh
  temporary name beside it, synced, and renamed into place; on any failure the temporary
  is removed and the error names the output.
- The user's umask: files are created 0666 and directories 0777 less the umask, as `open`
  and `mkdir` create them (0644 and 0755 under umask 022), never 0600 whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import secrets
import shutil
from typing import Callable, Iterable, Iterator, List, Optional, Union

PathLike = Union[str, os.PathLike]
OVERWRITE_HELP = 'replace output files of an earlier run (never an input)'
_TEMP_SUFFIX = '.tmp'


class OutputRefused(ValueError):
    """An output would break the rules above: the command line must change (exit status 2)."""


def real_location(path: PathLike) -> Path:
    """Where an entry named `path` lives: its parent with every link resolved, then its name."""
    path = Path(path)
    if path.name in ('', '.', '..'):
        return path.resolve()
    return path.parent.resolve() / path.name


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def check_not_inside_inputs(path: PathLike, inputs: Iterable[Optional[PathLike]]) -> None:
    """Refuse an output that is one of the input files or lies inside an input directory."""
    target = real_location(path)
    for given in inputs:
        if given is None:
            continue
        given = Path(given)
        if not (given.exists() or given.is_symlink()):
            continue
        for place in {real_location(given), given.resolve()}:
            if target == place:
                raise OutputRefused(f'{path}: would replace the input {given}; choose another '
                                    'output')
            if place.is_dir() and _within(target, place):
                raise OutputRefused(f'{path}: inside the input {given}; choose an output '
                                    'outside it')


def check_not_link(path: PathLike) -> None:
    """Refuse to write into `path` when it is a symbolic link: it would lead out of the output."""
    if Path(path).is_symlink():
        raise OutputRefused(f'{path}: is a symbolic link (to {os.readlink(path)}); refusing to '
                            'write through it')


def check_output(path: PathLike, inputs: Iterable[Optional[PathLike]] = (),
                 overwrite: Optional[bool] = False) -> Path:
    """
    Refuse an output `path` a tool is about to create, before the tool does any work.

    `overwrite`: True replaces an existing output (the tool's --overwrite); False refuses
    it and names the option; None refuses it for a tool that has no such option.
    """
    path = Path(path)
    check_not_inside_inputs(path, inputs)
    if path.exists() or path.is_symlink():
        if overwrite:
            if path.is_dir() and not path.is_symlink():
                raise OutputRefused(f'{path}: is a directory; refusing to replace it')
            return path
        hint = ' (--overwrite replaces outputs of an earlier run)' if overwrite is False else ''
        raise OutputRefused(f'{path}: already exists; refusing to overwrite it{hint}')
    return path


def check_outputs(directory: PathLike, names: Iterable[str],
                  inputs: Iterable[Optional[PathLike]] = (),
                  overwrite: Optional[bool] = False) -> List[Path]:
    """`check_output` for each file a tool writes into `directory`; returns their paths."""
    inputs = list(inputs)
    return [check_output(Path(directory) / name, inputs, overwrite) for name in names]


def _temp_name(path: Path) -> Path:
    # The output's suffix last: writers that choose the format by it (cv2) or add one (numpy)
    # write the temporary as they would the output.
    return path.with_name(f'.{path.stem}.{secrets.token_hex(6)}{_TEMP_SUFFIX}{path.suffix}')


def new_temp_file(path: PathLike) -> Path:
    """Create an empty, new temporary file beside `path` (mode 0666 less the umask)."""
    path = Path(path)
    while True:
        tmp = _temp_name(path)
        try:  # O_EXCL: never an existing file, never through a link
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def new_temp_dir(parent: PathLike, prefix: str, suffix: str = _TEMP_SUFFIX) -> Path:
    """Create a new, uniquely named directory in `parent` (mode 0777 less the umask)."""
    while True:
        tmp = Path(parent) / f'{prefix}{secrets.token_hex(6)}{suffix}'
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue


def fsync_path(path: PathLike) -> None:
    """Flush a file's (or a directory's entries') data to the disk before it is relied on."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: PathLike, content: Union[bytes, str, Callable[[Path], None]]) -> Path:
    """
    Write `path` through a new temporary file beside it, then rename it into place.

    `content` is the bytes or text to write, or a function that writes the file it is given
    (a library's own writer). Readers never see half a file; on any failure the temporary
    is removed and an OSError names `path`, not the temporary.
    """
    path = Path(path)
    tmp = new_temp_file(path)
    try:
        if callable(content):
            content(tmp)
        else:
            data = content.encode('utf-8') if isinstance(content, str) else content
            with open(tmp, 'wb') as f:
                f.write(data)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp.exists() or tmp.is_symlink():  # ours: made by new_temp_file above
            tmp.unlink()
        if isinstance(e, OSError) and (e.filename is None or str(tmp) in str(e.filename)):
            raise OSError(e.errno, e.strerror or f'cannot write it: {e}', str(path)) from e
        raise
    return path


@contextlib.contextmanager
def building(path: PathLike) -> Iterator[Path]:
    """
    Yield where to build a new output directory `path`, renamed into place once complete.

    The yielded path (named as `path`, for writers that record their own name) lies in a
    fresh hidden directory beside `path`; on any failure that directory is removed with all
    it holds, so a failed or interrupted run leaves neither half an output nor a temporary.
    """
    path = Path(path)
    try:
        work = new_temp_dir(path.parent, f'.{path.name}.', '.partial')
    except OSError as e:  # a full or read-only disk: name the output, not our temporary
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    try:
        yield work / path.name
        if path.exists() or path.is_symlink():  # rename() would replace an empty directory
            raise OutputRefused(f'{path}: appeared while it was being written; refusing to '
                                'overwrite it')
        os.rename(work / path.name, path)
        os.rmdir(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # ours: made by new_temp_dir above
        raise
