# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training and evaluation: metrics, crops, dataset readers, learning, resume, DDP, eval CLI."""

import csv
import json
import os
from pathlib import Path
import re
import subprocess
import sys

from clip_depth_ros.config import ConfigError
from clip_depth_ros.engine.inference import DepthEstimator
from clip_depth_ros.engine.precision import resolve_precision
from clip_depth_ros.train import datasets as ds
from clip_depth_ros.train.config import load_config
from clip_depth_ros.train.engine import fit
from clip_depth_ros.train.metrics import (compute_errors, eigen_crop_mask, garg_crop_mask,
                                          image_errors)
import cv2
import h5py
import numpy as np
import pytest
from safetensors.torch import load_file
import scipy.io
import torch

REPO = Path(__file__).resolve().parent.parent
TINY_YAML = REPO / 'config' / 'train_tiny.yaml'


# -- metrics -----------------------------------------------------------------------------------
def test_metrics_by_hand():
    gt = np.array([1.0, 2.0, 4.0])
    pred = np.array([1.0, 2.5, 2.0])
    m = compute_errors(gt, pred)
    assert m['abs_rel'] == pytest.approx((0 + 0.5 / 2 + 2 / 4) / 3)
    assert m['sq_rel'] == pytest.approx((0 + 0.25 / 2 + 4 / 4) / 3)
    assert m['rmse'] == pytest.approx(np.sqrt((0 + 0.25 + 4) / 3))
    assert m['delta1'] == pytest.approx(1 / 3)      # ratios 1, 1.25 (not < 1.25), 2
    assert m['delta2'] == pytest.approx(2 / 3) and m['delta3'] == pytest.approx(2 / 3)
    e = np.log(pred) - np.log(gt)
    assert m['rmse_log'] == pytest.approx(np.sqrt(np.mean(e ** 2)))
    assert m['silog'] == pytest.approx(100 * np.sqrt(np.mean(e ** 2) - np.mean(e) ** 2))
    assert m['log10'] == pytest.approx(np.mean(np.abs(np.log10(gt) - np.log10(pred))))


def test_invalid_pixels_and_crop_are_left_out():
    gt = np.full((480, 640), 2.0)
    pred = np.full((480, 640), 2.0)
    gt[0, 0] = 0.0          # no measurement
    pred[0, 0] = 100.0      # would be a huge error if counted
    gt[470, 600] = 20.0     # beyond max depth
    pred[44, 100] = 8.0     # outside the Eigen crop (row 44)
    pred[100, 100] = 2.5    # inside: the only error left
    m = image_errors(gt, pred, 1e-3, 10.0, 'nyu_eigen')
    n = (471 - 45) * (601 - 41) - 1  # crop minus the out-of-range pixel at (470, 600)
    assert m['abs_rel'] == pytest.approx(0.25 / n)
    assert image_errors(np.zeros((4, 4)), pred[:4, :4], 1e-3, 10.0) is None


def test_crop_masks_have_published_coordinates():
    eigen = eigen_crop_mask(480, 640)
    rows, cols = np.where(eigen)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (45, 470, 41, 600)
    garg = garg_crop_mask(375, 1242)
    rows, cols = np.where(garg)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (153, 371, 44, 1197)
    assert garg.all(axis=None) is not True and eigen.sum() == 426 * 560


# -- datasets ------------------------------------------------------------------------------------
def write_rgb(path, h=48, w=64, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return rgb


def write_depth_png(path, depth_units):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), depth_units.astype(np.uint16))


def test_bts_nyu_list(tmp_path):
    rgb = write_rgb(tmp_path / 'kitchen' / 'rgb_00001.jpg')
    write_depth_png(tmp_path / 'kitchen' / 'sync_depth_00001.png', np.full((48, 64), 1500))
    lst = tmp_path / 'list.txt'
    lst.write_text('/kitchen/rgb_00001.jpg /kitchen/sync_depth_00001.png 518.8579\n')
    data = ds.ListDataset(ds.parse_bts_list(lst, tmp_path), 1000.0)
    item = data[0]
    assert item['image'].shape == rgb.shape and item['focal'] == pytest.approx(518.8579)
    assert np.allclose(item['depth'], 1.5)


def test_bts_list_names_missing_files_up_front(tmp_path):
    lst = tmp_path / 'list.txt'
    lst.write_text('a.png b.png 500\n')
    with pytest.raises(ds.DatasetError, match=r'list.txt:1: .*a.png'):
        ds.parse_bts_list(lst, tmp_path)


def test_kitti_list_with_kb_crop_and_missing_gt(tmp_path):
    write_rgb(tmp_path / 'raw' / 'd' / 'image_02' / '0001.png', 375, 1242)
    gt = np.zeros((375, 1242))
    gt[-1, 13] = 256 * 20   # 20 m at the bottom-left corner of the KB crop
    write_depth_png(tmp_path / 'gt' / 'd' / '0001.png', gt)
    write_rgb(tmp_path / 'raw' / 'd' / 'image_02' / '0002.png', 375, 1242)
    lst = tmp_path / 'eigen.txt'
    lst.write_text('d/image_02/0001.png d/0001.png 721.5377\n'
                   'd/image_02/0002.png None 721.5377\n')
    data = ds.ListDataset(ds.parse_bts_list(lst, tmp_path / 'raw', tmp_path / 'gt'), 256.0,
                          crop_kb=True)
    assert len(data) == 1  # the frame without ground truth is left out
    item = data[0]
    assert item['image'].shape == (352, 1216, 3)
    assert item['depth'][-1, 0] == pytest.approx(20.0)


def test_depth_of_wrong_size_names_the_file(tmp_path):
    write_rgb(tmp_path / 'rgb' / 'a.png')
    write_depth_png(tmp_path / 'depth' / 'a.png', np.ones((10, 10)))
    data = ds.FolderDataset(tmp_path)
    with pytest.raises(ds.DatasetError, match=r'depth[/\\]a.png: depth is 10x10'):
        data[0]


def test_folder_dataset_png_npy_and_intrinsics(tmp_path):
    write_rgb(tmp_path / 'rgb' / 'a.png')
    write_rgb(tmp_path / 'rgb' / 'b.jpg', seed=1)
    write_depth_png(tmp_path / 'depth' / 'a.png', np.full((48, 64), 2500))
    np.save(tmp_path / 'depth' / 'b.npy', np.full((48, 64), 3.25, np.float32))
    (tmp_path / 'intrinsics.txt').write_text('500 501 32 24\n')
    data = ds.FolderDataset(tmp_path, depth_scale=1000.0)
    assert len(data) == 2 and data[0]['focal'] == 500.0
    assert np.allclose(data[0]['depth'], 2.5) and np.allclose(data[1]['depth'], 3.25)
    (tmp_path / 'rgb' / 'c.png').write_bytes(b'')
    with pytest.raises(ds.DatasetError, match=r'c\.\(png\|npy\)'):
        ds.FolderDataset(tmp_path)


def test_nyu_labelled_mat_and_splits(tmp_path):
    """An HDF5 .mat with the labelled file's variable names and MATLAB (column-major) layout."""
    n, h, w = 3, 480, 640
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    depths = rng.uniform(0.5, 9.0, (n, h, w)).astype(np.float32)
    mat = tmp_path / 'nyu_depth_v2_labeled.mat'
    with h5py.File(mat, 'w') as f:
        f['images'] = images.transpose(0, 3, 2, 1)   # (N, 3, W, H)
        f['depths'] = depths.transpose(0, 2, 1)      # (N, W, H)
    splits = tmp_path / 'splits.mat'
    scipy.io.savemat(splits, {'testNdxs': np.array([[3], [1]]), 'trainNdxs': np.array([[2]])})
    data = ds.NyuMatDataset(mat, splits, 'test')
    assert len(data) == 2
    np.testing.assert_array_equal(data[0]['image'], images[2])
    np.testing.assert_array_equal(data[0]['depth'], depths[2])
    np.testing.assert_array_equal(data[1]['image'], images[0])
    bad = tmp_path / 'bad.mat'
    bad.write_bytes(b'MATLAB 5.0 not hdf5')
    with pytest.raises(ds.DatasetError, match='bad.mat'):
        ds.NyuMatDataset(bad)


# -- config ------------------------------------------------------------------------------------
def test_config_yaml_and_overrides(tmp_path):
    cfg = load_config(TINY_YAML, ['optim.epochs=7', 'data.root=/x/1', 'model.taps=[2,4]',
                                  f'out_dir={tmp_path}'])
    assert cfg.optim.epochs == 7 and cfg.data.root == '/x/1' and cfg.model.taps == (2, 4)
    assert cfg.out_dir == str(tmp_path) and cfg.model.backbone == 'ViT-T-16-test'
    assert Path(load_config(TINY_YAML).data.root).is_dir()  # relative to the YAML file
    with pytest.raises(ConfigError, match='optim.epoch'):
        load_config(TINY_YAML, ['optim.epoch=3'])
    with pytest.raises(ConfigError, match='optim.epochs'):
        load_config(TINY_YAML, ['optim.epochs=many'])
    evil = tmp_path / 'evil.yaml'
    evil.write_text('model: !!python/object/apply:os.system ["echo pwned"]\n')
    with pytest.raises(ConfigError, match='evil.yaml'):
        load_config(evil)


def test_override_values_are_yaml_as_in_the_file(tmp_path, capsys):
    from clip_depth_ros.cli.train import main as train_main
    from clip_depth_ros.train.config import DataConfig

    def value(override, path):
        section, field = path
        return getattr(getattr(load_config(TINY_YAML, [override]), section), field)
    assert value('model.pretrained=null', ('model', 'pretrained')) is None
    assert value('model.pretrained=~', ('model', 'pretrained')) is None
    assert value('model.pretrained=', ('model', 'pretrained')) is None
    assert value('model.pretrained=openai', ('model', 'pretrained')) == 'openai'
    assert value('data.flip=false', ('data', 'flip')) is False
    assert value('data.root=2024', ('data', 'root')) == '2024'  # text fields keep the text
    assert value('data.root=', ('data', 'root')) == ''
    assert value('data.bags=[a, b]', ('data', 'bags')) == ('a', 'b')
    assert isinstance(DataConfig().root, str)
    with pytest.raises(ConfigError, match='data.flip'):
        load_config(TINY_YAML, ['data.flip=null'])  # as `flip: null` in the file
    # The command line reads the same: null is no weights, not an open_clip tag 'null'.
    assert train_main([str(TINY_YAML), 'model.pretrained=null', f'out_dir={tmp_path}',
                       '--print-config']) == 0
    assert '  pretrained: null\n' in capsys.readouterr().out


# -- learning ------------------------------------------------------------------------------------
def tiny_cfg(tmp_path, *extra):
    return load_config(TINY_YAML, [f'out_dir={tmp_path}', *extra])


def test_a_few_steps_lower_the_loss():
    from clip_depth_ros.config import ModelConfig
    from clip_depth_ros.models import build_model
    from clip_depth_ros.train.config import OptimConfig
    from clip_depth_ros.train.engine import build_optimizer
    from clip_depth_ros.train.losses import silog_loss
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone='ViT-T-16-test', pretrained=None), None)
    model.train()
    opt = build_optimizer(model, OptimConfig(lr=1e-3, mirror_lr=1e-2))
    x = torch.randn(2, 3, 64, 96)
    yy = torch.linspace(1.0, 6.0, 64).view(1, 1, 64, 1).expand(2, 1, 64, 96)
    target = yy.contiguous()
    valid = torch.ones_like(target, dtype=torch.bool)
    losses = []
    for _ in range(30):
        loss = silog_loss(model(x), target, valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def params(directory):
    return load_file(str(Path(directory) / 'model.safetensors'))


def epochs_trained(printed: str) -> list:
    """Return the 'epoch N/M' of the lines a run printed: which epochs it trained."""
    return re.findall(r'^epoch (\d+/\d+):', printed, re.M)


def test_resume_retraces_an_uninterrupted_run(tmp_path, capsys):
    full = fit(tiny_cfg(tmp_path / 'full', 'optim.epochs=2'))
    first = fit(tiny_cfg(tmp_path / 'split', 'optim.epochs=1'))
    capsys.readouterr()
    resumed = fit(tiny_cfg(tmp_path / 'split', 'optim.epochs=2',
                           f'resume={first / "last"}'))
    # Resumed, not restarted: a restart with the same seed retraces the same weights, but
    # trains epoch 1 again; a resumed run trains epoch 2 only, from epoch 1's saved weights,
    # optimizer, scheduler and step (any of them fresh would change the weights below).
    assert epochs_trained(capsys.readouterr().out) == ['2/2']
    a, b = params(full / 'last'), params(resumed / 'last')
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    history = [json.loads(line) for line in (resumed / 'history.jsonl').read_text().splitlines()]
    assert [h['epoch'] for h in history] == [1, 2]


def test_checkpoint_from_training_loads_for_inference(tmp_path, sample_rgb, capsys):
    out = fit(tiny_cfg(tmp_path, 'optim.epochs=1'))
    printed = capsys.readouterr().out
    # Printed once at start: the rule's network input, the crop, the target conversion.
    assert printed.count('network input 160x208 (10x13 tokens) for 640x480 frames, training '
                         'crops 144x192 (9x12 tokens); depth targets converted to canonical '
                         'fx 168.629 px') == 1
    assert 'CLIP weights are random' in printed
    # optim.precision auto resolves as inference's auto does, and says so.
    chosen, why = resolve_precision('auto', torch.device('cpu'))
    assert printed.count(f'training precision {chosen} ({why})') == 1
    assert (out / 'tensorboard').is_dir()
    estimator = DepthEstimator.from_checkpoint(out / 'best', device='cpu')
    again = DepthEstimator.from_checkpoint(out / 'best', device='cpu')
    assert np.array_equal(estimator.predict(sample_rgb), again.predict(sample_rgb))


@pytest.mark.parametrize('pretrained', ['model.pretrained=', 'model.pretrained=null'])
def test_random_clip_weights_travel_with_every_checkpoint(tmp_path, monkeypatch, sample_rgb,
                                                          pretrained):
    """Best and last reload to the trained model's predictions, in place and after cp -rL."""
    import shutil
    from clip_depth_ros.config import InferenceConfig
    from clip_depth_ros.train import engine, run_state
    saved = {}

    def keep_model(*args, **kwargs):
        saved['model'] = args[1]
        return run_state.save_epoch(*args, **kwargs)
    monkeypatch.setattr(engine, 'save_epoch', keep_model)
    out = fit(tiny_cfg(tmp_path / 'run', pretrained, 'optim.epochs=2', 'max_steps_per_epoch=1'))
    expected = DepthEstimator(saved['model'], InferenceConfig(device='cpu')).predict(sample_rgb)
    for name in ('best', 'last'):
        copy = tmp_path / f'copy_{name}'
        shutil.copytree(out / name, copy)  # follows links, as cp -rL does
        for where in (out / name, copy):
            estimator = DepthEstimator.from_checkpoint(where, device='cpu')
            assert estimator.random_clip_weights, where
            np.testing.assert_array_equal(estimator.predict(sample_rgb), expected)
    # One copy of the weights on disk, whatever the number of versions.
    files = [p for p in out.rglob('clip_weights.safetensors') if not p.is_symlink()]
    assert len({p.stat().st_ino for p in files}) == 1, files


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_agree(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1')
    r = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         '--master_addr=127.0.0.1', f'--master_port={free_port()}', '-m',
         'clip_depth_ros.train', str(TINY_YAML),
         f'out_dir={tmp_path}', 'optim.epochs=1', 'optim.batch_size=2'],
        capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    check = json.loads((tmp_path / 'ddp_check.json').read_text())
    assert check['world_size'] == 2 and check['max_abs_param_difference'] == 0.0
    assert (tmp_path / 'best' / 'model.safetensors').is_file()


# -- evaluation ----------------------------------------------------------------------------------
def test_eval_cli_gives_the_expected_numbers(tmp_path, tiny_checkpoint, tiny_estimator):
    """Ground truth = the checkpoint's own prediction x 1.1: AbsRel = 0.1/1.1, delta1 = 1."""
    root = tmp_path / 'data'
    for i in range(3):
        rgb = write_rgb(root / 'rgb' / f'f{i}.png', 48, 64, seed=i)
        gt = tiny_estimator.predict(rgb) * 1.1
        gt[0, :] = 0.0  # a row without measurements
        (root / 'depth').mkdir(exist_ok=True)
        np.save(root / 'depth' / f'f{i}.npy', gt.astype(np.float32))
    out = tmp_path / 'eval'
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-eval')
    r = subprocess.run([exe, '--checkpoint', str(tiny_checkpoint), '--dataset', 'folder',
                        '--data-root', str(root), '--out', str(out), '--device', 'cpu'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'AbsRel' in r.stdout and 'd<1.25' in r.stdout
    assert r.stdout.count('network input 352x464 (22x29 tokens) for 64x48 frames') == 1
    metrics = json.loads((out / 'metrics.json').read_text())
    assert set(metrics) == {'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'delta1',
                            'delta2', 'delta3', 'silog', 'count', 'gt_out_of_range_fraction',
                            'gt_median_m', 'time_model_ms', 'time_end_to_end_ms', 'protocol'}
    assert metrics['count'] == 3
    assert metrics['abs_rel'] == pytest.approx(0.1 / 1.1, rel=1e-4)
    assert metrics['delta1'] == 1.0
    assert metrics['rmse_log'] == pytest.approx(np.log(1.1), rel=1e-4)
    assert metrics['silog'] == pytest.approx(0.0, abs=1e-2)
    with open(out / 'per_image.csv') as f:
        rows = list(csv.DictReader(f))
    assert [row['name'] for row in rows] == ['f0', 'f1', 'f2']
    assert float(rows[0]['abs_rel']) == pytest.approx(0.1 / 1.1, rel=1e-4)


def test_eval_names_a_missing_split_file(tmp_path, tiny_checkpoint):
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-eval')
    r = subprocess.run([exe, '--checkpoint', str(tiny_checkpoint), '--dataset', 'nyu',
                        '--data-root', str(tmp_path / 'data'), '--split-file',
                        str(tmp_path / 'x.txt'), '--out', str(tmp_path / 'o')],
                       capture_output=True, text=True)
    assert r.returncode == 1 and 'x.txt' in r.stderr and 'Traceback' not in r.stderr


def test_depthclip_zero_shot_runs_through_the_evaluator(tmp_path):
    from clip_depth_ros.models.backbone import create_clip, save_clip_weights
    torch.manual_seed(0)
    weights = tmp_path / 'clip.safetensors'
    save_clip_weights(create_clip('ViT-T-16-test', None), weights)
    root = tmp_path / 'data'
    write_rgb(root / 'rgb' / 'a.png')
    write_depth_png(root / 'depth' / 'a.png', np.full((48, 64), 2000))
    exe = os.path.join(os.path.dirname(sys.executable), 'clip-depth-eval')
    r = subprocess.run([exe, '--baseline', 'depthclip', '--backbone', 'ViT-T-16-test',
                        '--pretrained', str(weights), '--dataset', 'folder', '--data-root',
                        str(root), '--out', str(tmp_path / 'o'), '--device', 'cpu'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / 'o' / 'metrics.json').read_text())
    # DepthCLIP's depth is a softmax-weighted mix of its bins: always within 1..3 m.
    assert metrics['count'] == 1 and 0 <= metrics['abs_rel'] <= 0.5


def test_prompt_variant_has_no_mirror():
    from clip_depth_ros.config import ModelConfig
    from clip_depth_ros.models import build_model
    m = build_model(ModelConfig(backbone='ViT-T-16-test', pretrained=None,
                                prompt='a photo of how far each pixel is'), None)
    assert m.mirror is None
    assert not any(k.startswith('mirror') for k in m.trainable_state_dict())
    with torch.no_grad():
        assert m(torch.randn(1, 3, 32, 32)).shape == (1, 1, 32, 32)


# -- the same pixel scale in training and at inference -------------------------------------------
def capture_network_input(estimator, rgb, focal_px=None):
    """Return the normalised tensor the estimator's ViT actually receives for `rgb`."""
    seen = []
    conv1 = estimator.model.backbone.clip.visual.conv1
    handle = conv1.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    try:
        estimator.predict(rgb, focal_px)
    finally:
        handle.remove()
    return seen[0]


def test_a_training_sample_reaches_the_model_at_the_inference_scale(
        tiny_checkpoint, sample_rgb):
    """Same network size, same per-pixel scale, same pixels: a crop of what inference sees."""
    from clip_depth_ros.train.augment import Augment, prepare_sample
    from clip_depth_ros.engine.transforms import normalise
    estimator = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='fp32')
    backbone = estimator.model.backbone
    inference = capture_network_input(estimator, sample_rgb)
    h, w = sample_rgb.shape[:2]
    assert tuple(inference.shape[-2:]) == estimator.input_size(h, w) == (352, 464)
    item = {'image': sample_rgb, 'depth': np.full((h, w), 2.0, np.float32), 'focal': 0.0,
            'name': 'tum'}
    plain = {'rotation_deg': 0.0, 'flip': False, 'color_jitter': False}
    for crop in ((352, 464), (304, 400)):
        sample = prepare_sample(item, estimator.input_size, Augment(crop, **plain),
                                np.random.default_rng(0), estimator.canonical_focal_px)
        assert sample['network_size'] == estimator.input_size(h, w)
        assert sample['scale'] == pytest.approx(inference.shape[-1] / w)  # network px per px
        assert sample['image'].shape[:2] == crop
        x = normalise(torch.from_numpy(sample['image']).permute(2, 0, 1)[None], crop,
                      backbone.image_mean, backbone.image_std)
        # The training input is exactly a window of the inference input: same pixels per object.
        found = [(t, c) for t in range(352 - crop[0] + 1) for c in range(464 - crop[1] + 1)
                 if torch.equal(inference[0, :, t:t + crop[0], c:c + crop[1]], x[0])]
        assert len(found) >= 1, crop


def test_training_crops_of_the_dataset_configs_fit_their_network_input():
    """NYU 480x640 -> 352x464; KITTI KB crops 352x1216 -> 272x944; crops fit inside."""
    from clip_depth_ros.engine.transforms import config_network_size
    for name, frame in (('train_nyu.yaml', (480, 640)), ('train_kitti.yaml', (352, 1216)),
                        ('train_tiny.yaml', (480, 640))):
        cfg = load_config(REPO / 'config' / name)
        size = config_network_size(cfg.model, 16, *frame)
        assert cfg.data.crop_height <= size[0] and cfg.data.crop_width <= size[1], name
    nyu = load_config(REPO / 'config' / 'train_nyu.yaml')
    assert config_network_size(nyu.model, 16, 480, 640) == (352, 464)
    kitti = load_config(REPO / 'config' / 'train_kitti.yaml')
    assert config_network_size(kitti.model, 16, 352, 1216) == (272, 944)


def test_canonical_depth_round_trip_gives_the_same_metres():
    """Target -> canonical for training; canonical -> metres at inference: the same metres."""
    from clip_depth_ros.train.augment import Augment, prepare_sample
    from clip_depth_ros.engine.transforms import depth_scale, network_size
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, (480, 640)).astype(np.float32)
    item = {'image': np.zeros((480, 640, 3), np.uint8), 'depth': depth, 'focal': 600.0,
            'name': 'a'}
    full = Augment((352, 464), rotation_deg=0.0, flip=False, color_jitter=False)
    canonical = 376.172
    rule = network_size
    sample = prepare_sample(item, rule, full, rng, canonical)
    expected_target = cv2.resize(depth, (464, 352), interpolation=cv2.INTER_NEAREST_EXACT)
    scale = depth_scale(canonical, 600.0, 640, 464)
    assert scale == pytest.approx(600.0 * 464 / 640 / canonical)
    np.testing.assert_allclose(sample['depth'], expected_target / scale, rtol=1e-6)
    np.testing.assert_allclose(sample['depth'] * scale, expected_target, rtol=1e-6)
    # Legacy checkpoints and unknown focal lengths: targets as given.
    legacy = prepare_sample(item, rule, full, rng, None)
    np.testing.assert_array_equal(legacy['depth'], expected_target)
    unknown = prepare_sample(dict(item, focal=0.0), rule, full, rng, canonical)
    np.testing.assert_array_equal(unknown['depth'], expected_target)


def test_round_trip_through_the_model(tiny_checkpoint, sample_rgb):
    """A model predicting exactly the canonical target gives back the frame's metres."""
    from clip_depth_ros.train.augment import Augment, prepare_sample
    estimator = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='fp32')
    focal = 517.3
    canonical_pred = estimator.predict(sample_rgb)  # what the model says, canonical camera
    metres = estimator.predict(sample_rgb, focal_px=focal)
    item = {'image': sample_rgb, 'depth': metres, 'focal': focal, 'name': 'x'}
    full = Augment((352, 464), rotation_deg=0.0, flip=False, color_jitter=False)
    target = prepare_sample(item, estimator.input_size, full, np.random.default_rng(0),
                            estimator.canonical_focal_px)['depth']
    expected = cv2.resize(canonical_pred, (464, 352), interpolation=cv2.INTER_NEAREST_EXACT)
    np.testing.assert_allclose(target, expected, rtol=1e-5)


@pytest.mark.parametrize('override,key', [
    ('optim.lr=.inf', 'optim.lr'), ('optim.lr=-1', 'optim.lr'),
    ('model.mirror_sos_eos="false"', 'model.mirror_sos_eos'),
    ('model.taps="3,6,9"', 'model.taps'), ('model.taps=[3.5,6]', 'model.taps'),
    ('model.max_depth_m=.nan', 'model.max_depth_m'), ('seed=-1', 'seed'),
    ('val_every=0', 'val_every'), ('optim.warmup_steps=1.5', 'optim.warmup_steps'),
    ('model.canonical_focal_px=0', 'model.canonical_focal_px'),
    ('optim.min_lr_ratio=2', 'optim.min_lr_ratio'), ('data.flip="no"', 'data.flip'),
    ('data.crop_height=1.5', 'data.crop_height'), ('data.bags=a', 'data.bags')])
def test_training_config_types_are_strict(override, key):
    with pytest.raises(ConfigError, match=key.replace('.', r'\.')):
        load_config(TINY_YAML, [override])
