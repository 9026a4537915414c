# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Nothing surprising on disk: every tool, run as installed, on real files, links and umasks.

No tool writes inside its input, replaces a file it did not create without --overwrite,
follows a link out of its output, or leaves a temporary behind; files get the user's umask.
"""

import contextlib
import hashlib
import json
import os
from pathlib import Path
import shutil
import stat
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import pytest

TINY = 'ViT-T-16-test'
PACKAGE_FRAMES = Path(__file__).resolve().parent.parent / 'clip_depth_ros' / 'data' / \
    'tum_fr1_rpy'


def run(*args, umask=0o022, **kw):
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env,
                          timeout=300, umask=umask, **kw)


def script(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def error_line(r):
    assert 'Traceback' not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if ': error: ' in line]
    assert len(lines) == 1, r.stderr
    return lines[0]


def digest(path: Path) -> str:
    """Hash of a file, or of every file under a directory (names included)."""
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob('*') if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def temporaries(directory: Path):
    return sorted(p.name for p in directory.rglob('*') if '.tmp' in p.name
                  or p.name.endswith('.partial'))


@contextlib.contextmanager
def umask(value):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def shared_dir():
    """Make a directory another user can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp())
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


@contextlib.contextmanager
def as_another_user(path: Path):
    """Read as a service account would: as root, a real other uid; else the owner loses read."""
    if os.geteuid() == 0:
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)
    else:  # not root: the owner gets the rights any other user has, and reads with them
        modes = {p: mode(p) for p in path.iterdir()}
        for p, m in modes.items():
            os.chmod(p, (m & ~0o700) | ((m & 0o007) << 6))
        try:
            yield
        finally:
            for p, m in modes.items():
                os.chmod(p, m)


# -- the helper itself ----------------------------------------------------------------------------
def test_checkpoints_follow_the_umask_and_another_user_reads_them(shared_dir):
    from clip_depth_ros.cli.init import main as init_main
    from clip_depth_ros.engine.checkpoint import CheckpointError, read_config, read_tensors
    with umask(0o022):
        assert init_main(['--backbone', TINY, '--out', str(shared_dir / 'open')]) == 0
    with umask(0o077):
        assert init_main(['--backbone', TINY, '--out', str(shared_dir / 'private')]) == 0
    assert mode(shared_dir / 'open') == 0o755
    for name in ('config.json', 'model.safetensors', 'clip_weights.safetensors'):
        assert mode(shared_dir / 'open' / name) == 0o644, name
        assert mode(shared_dir / 'private' / name) == 0o600, name
    assert temporaries(shared_dir) == []
    with as_another_user(shared_dir / 'open'):
        assert read_config(shared_dir / 'open').backbone == TINY
        assert read_tensors(shared_dir / 'open')
    # The directory private (0700), or only its files (0600, as every checkpoint was made).
    for dir_mode in (0o700, 0o755):
        os.chmod(shared_dir / 'private', dir_mode)
        with as_another_user(shared_dir / 'private'):
            with pytest.raises(CheckpointError) as e:
                read_config(shared_dir / 'private')
        assert str(e.value) == f'{shared_dir / "private" / "config.json"}: cannot read it: ' \
            'Permission denied', str(e.value)


def test_training_versions_follow_the_umask(tmp_path):
    from clip_depth_ros.config import ModelConfig
    from clip_depth_ros.models import build_model
    from clip_depth_ros.train.run_state import save_epoch
    model = build_model(ModelConfig(backbone=TINY, pretrained=None), None)
    with umask(0o027):
        save_epoch(tmp_path, model, None, None, None, 1, 1, 1.0, True, history=[{'epoch': 1}])
    best = (tmp_path / 'best').resolve()
    assert best.parent == tmp_path and mode(best) == 0o750
    assert {p.name: mode(p) for p in best.iterdir()} == {
        'config.json': 0o640, 'model.safetensors': 0o640}


def test_write_atomic_replaces_a_link_never_its_target_and_cleans_up(tmp_path):
    from clip_depth_ros.engine.output_files import write_atomic
    precious = tmp_path / 'precious'
    precious.write_text('mine')
    link = tmp_path / 'out.json'
    link.symlink_to(precious)
    with umask(0o022):
        write_atomic(link, '{}\n')
    assert precious.read_text() == 'mine' and not link.is_symlink()
    assert link.read_text() == '{}\n' and mode(link) == 0o644

    def fails(tmp):
        tmp.write_text('half')
        raise OSError(28, 'No space left on device')
    with pytest.raises(OSError) as e:
        write_atomic(link, fails)
    assert e.value.filename == str(link)  # names the output, not the temporary
    assert link.read_text() == '{}\n' and sorted(os.listdir(tmp_path)) == ['out.json',
                                                                           'precious']


# -- one test per tool ------------------------------------------------------------------------
def test_init_refuses_an_existing_checkpoint_unless_overwrite(tmp_path):
    ckpt = tmp_path / 'ckpt'
    r = run(script('clip-depth-init'), '--backbone', TINY, '--out', ckpt)
    assert r.returncode == 0, r.stderr
    before = digest(ckpt)
    r = run(script('clip-depth-init'), '--backbone', TINY, '--out', ckpt, '--seed', '3')
    assert r.returncode == 2 and 'refusing to overwrite' in error_line(r)
    assert digest(ckpt) == before
    for flag in ('--overwrite', '--force'):  # --force: the name it had before
        r = run(script('clip-depth-init'), '--backbone', TINY, '--out', ckpt, '--seed', '3',
                flag)
        assert r.returncode == 0, r.stderr
    assert digest(ckpt) != before and temporaries(tmp_path) == []
    # A user's own file where the weights go, in a directory that is no checkpoint yet.
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'model.safetensors').write_bytes(b'not ours')
    r = run(script('clip-depth-init'), '--backbone', TINY, '--out', mine)
    assert r.returncode == 2 and str(mine / 'model.safetensors') in error_line(r)
    assert (mine / 'model.safetensors').read_bytes() == b'not ours'


def test_infer_outputs_follow_the_umask_and_never_write_through_a_link(tmp_path, tiny_checkpoint):
    frame, out = tmp_path / 'frame.png', tmp_path / 'out'
    cv2.imwrite(str(frame), np.full((48, 64, 3), 90, np.uint8))
    out.mkdir()
    precious = tmp_path / 'precious.npy'
    precious.write_bytes(b'mine')
    (out / 'frame.npy').symlink_to(precious)
    args = [script('clip-depth-infer'), frame, '--checkpoint', tiny_checkpoint, '--out', out,
            '--device', 'cpu']
    r = run(*args)
    assert r.returncode == 2 and 'refusing to overwrite' in error_line(r)
    r = run(*args, '--overwrite', umask=0o022)
    assert r.returncode == 0, r.stderr
    assert precious.read_bytes() == b'mine' and not (out / 'frame.npy').is_symlink()
    assert {p.name: mode(p) for p in out.iterdir()} == {'frame.npy': 0o644,
                                                        'frame.png': 0o644}


def small_rgbd_bag(path: Path) -> Path:
    from clip_depth_ros.cli.rgbd_bag import RgbdFrame, write_rgbd_bag
    rng = np.random.default_rng(0)
    frames = [RgbdFrame(10**9 * (1 + i), rng.integers(0, 255, (48, 64, 3), np.uint8),
                        10**9 * (1 + i), np.full((48, 64), 2.0, np.float32)) for i in range(2)]
    return write_rgbd_bag(path, frames, (60.0, 60.0, 32.0, 24.0))


def test_bag_tool_refuses_an_output_inside_its_input(tmp_path, tiny_checkpoint):
    bag = small_rgbd_bag(tmp_path / 'bag')
    before = digest(bag)
    r = run(script('clip-depth-bag'), bag, bag / 'out', '--checkpoint', tiny_checkpoint,
            '--device', 'cpu')
    assert r.returncode == 2, r.stderr
    assert f'{bag / "out"}: inside the input {bag}' in error_line(r)
    assert digest(bag) == before and not (bag / 'out').exists()
    # Through a link to the input: the same directory.
    (tmp_path / 'alias').symlink_to(bag)
    r = run(script('clip-depth-bag'), bag, tmp_path / 'alias' / 'out', '--checkpoint',
            tiny_checkpoint, '--device', 'cpu')
    assert r.returncode == 2 and 'inside the input' in error_line(r)
    assert digest(bag) == before
    # A good run: the user's umask, no temporary.
    r = run(script('clip-depth-bag'), bag, tmp_path / 'depth', '--checkpoint',
            tiny_checkpoint, '--device', 'cpu', '--no-points', umask=0o022)
    assert r.returncode == 0, r.stderr
    assert mode(tmp_path / 'depth') == 0o755
    assert {mode(p) for p in (tmp_path / 'depth').iterdir()} == {0o644}
    assert temporaries(tmp_path) == []


def test_rgbd_bag_refuses_an_output_inside_its_source(tmp_path):
    source = tmp_path / 'tum'
    shutil.copytree(PACKAGE_FRAMES, source)
    before = digest(source)
    r = run(sys.executable, '-m', 'clip_depth_ros.cli.rgbd_bag', source, source / 'bag',
            '--frames', '2')
    assert r.returncode == 2 and 'inside the input' in error_line(r)
    assert digest(source) == before
    r = run(sys.executable, '-m', 'clip_depth_ros.cli.rgbd_bag', source, tmp_path / 'bag',
            '--frames', '2', umask=0o027)
    assert r.returncode == 0, r.stderr
    assert mode(tmp_path / 'bag') == 0o750
    assert {mode(p) for p in (tmp_path / 'bag').iterdir()} == {0o640}
    assert temporaries(tmp_path) == []


def test_export_never_replaces_the_checkpoint_nor_an_existing_file(tmp_path, tiny_checkpoint):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(tiny_checkpoint, ckpt)
    before = digest(ckpt)
    base = [script('clip-depth-export'), '--checkpoint', ckpt, '--height', 48, '--width', 64]
    r = run(*base, '--out', ckpt / 'model.safetensors', '--overwrite')
    assert r.returncode == 2 and 'inside the input' in error_line(r)
    assert digest(ckpt) == before
    onnx_file = tmp_path / 'depth.onnx'
    onnx_file.write_bytes(b'someone else')
    r = run(*base, '--out', onnx_file)
    assert r.returncode == 2 and 'refusing to overwrite' in error_line(r)
    assert onnx_file.read_bytes() == b'someone else'
    # A failed export (an opset no exporter has) leaves the old file and no temporary.
    r = run(*base, '--out', onnx_file, '--overwrite', '--opset', '3')
    assert r.returncode == 1 and onnx_file.read_bytes() == b'someone else'
    assert sorted(os.listdir(tmp_path)) == ['ckpt', 'depth.onnx']
    r = run(*base, '--out', onnx_file, '--overwrite', umask=0o022)
    assert r.returncode == 0, r.stderr
    assert onnx_file.stat().st_size > 1000 and mode(onnx_file) == 0o644
    assert sorted(os.listdir(tmp_path)) == ['ckpt', 'depth.onnx']


def folder_dataset(root: Path) -> Path:
    (root / 'rgb').mkdir(parents=True)
    (root / 'depth').mkdir()
    for i in range(2):
        cv2.imwrite(str(root / 'rgb' / f'f{i}.png'), np.full((48, 64, 3), 40 * i, np.uint8))
        np.save(root / 'depth' / f'f{i}.npy', np.full((48, 64), 2.0 + i, np.float32))
    return root


def test_eval_keeps_existing_metrics_unless_overwrite(tmp_path):
    root = folder_dataset(tmp_path / 'data')
    out = tmp_path / 'eval'
    out.mkdir()
    (out / 'metrics.json').write_text('{"mine": 1}\n')
    args = [script('clip-depth-eval'), '--baseline', 'median', '--constant-depth-m', '2.5',
            '--dataset', 'folder', '--data-root', root]
    r = run(*args, '--out', out)
    assert r.returncode == 2 and str(out / 'metrics.json') in error_line(r)
    assert json.loads((out / 'metrics.json').read_text()) == {'mine': 1}
    assert sorted(os.listdir(out)) == ['metrics.json']
    r = run(*args, '--out', root / 'eval')  # inside the data it evaluates
    assert r.returncode == 2 and 'inside the input' in error_line(r)
    assert not (root / 'eval').exists()
    r = run(*args, '--out', out, '--overwrite', umask=0o022)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / 'metrics.json').read_text())['constant_depth_m'] == 2.5
    assert {p.name: mode(p) for p in out.iterdir()} == {'metrics.json': 0o644,
                                                        'per_image.csv': 0o644}


def test_train_refuses_an_earlier_run_and_its_own_data(tmp_path):
    from clip_depth_ros.cli.train import main as train_main
    from clip_depth_ros.engine.output_files import OutputRefused
    from clip_depth_ros.train.config import load_config
    from clip_depth_ros.train.engine import check_out_dir
    config = Path(__file__).resolve().parent.parent / 'config' / 'train_tiny.yaml'
    root = folder_dataset(tmp_path / 'data')
    run_dir = tmp_path / 'run'
    (run_dir / '.last.e0001.abc.ckpt').mkdir(parents=True)
    (run_dir / 'last').symlink_to('.last.e0001.abc.ckpt')
    before = sorted(os.listdir(run_dir))
    overrides = ['data.dataset=folder', f'data.root={root}', 'optim.epochs=1']
    r = run(script('clip-depth-train'), config, *overrides, f'out_dir={run_dir}')
    assert r.returncode == 2 and 'holds an earlier run (last)' in error_line(r)
    assert sorted(os.listdir(run_dir)) == before
    assert train_main([str(config), *overrides, f'out_dir={root / "run"}']) == 2
    assert not (root / 'run').exists()
    # Resuming the run's own checkpoint continues it; --overwrite starts it again.
    check_out_dir(load_config(config, [*overrides, f'out_dir={run_dir}',
                                       f'resume={run_dir / "last"}']))
    check_out_dir(load_config(config, [*overrides, f'out_dir={run_dir}']), overwrite=True)
    with pytest.raises(OutputRefused):
        check_out_dir(load_config(config, [*overrides, f'out_dir={run_dir}',
                                           f'resume={tmp_path / "elsewhere" / "last"}']))


def test_demo_never_follows_a_link_out_of_its_output(tmp_path, tiny_checkpoint):
    from clip_depth_ros.ros.demo import MARKER
    trained = tmp_path / 'trained'
    shutil.copytree(tiny_checkpoint, trained)
    before = digest(trained)
    out = tmp_path / 'demo'
    out.mkdir()
    (out / MARKER).write_text('an earlier run\n')
    (out / 'checkpoint').symlink_to(trained)
    r = run(script('clip-depth-demo'), '--tiny', '--frames', '1', '--out', out, '--device',
            'cpu')
    assert r.returncode == 2, r.stderr
    assert f'{out / "checkpoint"}: is a symbolic link' in error_line(r)
    assert digest(trained) == before
    assert sorted(os.listdir(out)) == [MARKER, 'checkpoint']
