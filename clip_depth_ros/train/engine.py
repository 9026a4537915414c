# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training as plain functions: `train_one_epoch`, `evaluate`, `fit`.

Reproducible by construction: every sample's augmentation draws from its own generator seeded by
(seed, epoch, index), the shuffle from (seed, epoch), and the global torch RNG (decoder dropout)
is saved with every checkpoint, so a resumed run retraces an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
import random
import time
from typing import Callable, Dict, List, Optional, Tuple

from clip_depth_ros.config import ConfigError, InferenceConfig, RANDOM_CLIP_WEIGHTS_MESSAGE
from clip_depth_ros.engine.checkpoint import (CLIP_WEIGHTS_FILE, is_weights_path,
                                              save_random_clip_weights)
from clip_depth_ros.engine.inference import DepthEstimator
from clip_depth_ros.engine.output_files import (check_not_inside_inputs, check_not_link,
                                                OutputRefused, real_location, write_atomic)
from clip_depth_ros.engine.precision import autocast, AUTOCAST_DTYPES, resolve_precision
from clip_depth_ros.engine.transforms import config_network_size, describe_input, normalise, PATCH
from clip_depth_ros.models import build_model, ClipDepth
from clip_depth_ros.train.augment import Augment, InputRule, prepare_sample
from clip_depth_ros.train.config import TrainConfig
from clip_depth_ros.train.losses import silog_loss
from clip_depth_ros.train.metrics import average, image_errors
from clip_depth_ros.train.run_state import HISTORY_FILE, load_run, read_history, save_epoch
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class TrainSamples(Dataset):
    """
    A depth dataset at network scale with augmentation: uint8 image and canonical depth tensors.

    `rule` is the model's input rule (the estimator's `input_size`), so a sample reaches the
    model at the pixel scale of the same frame at inference (see `augment.prepare_sample`).
    """

    def __init__(self, dataset, augment: Augment, seed: int, rule: InputRule,
                 canonical_focal_px: Optional[float]) -> None:
        self.dataset, self.augment, self.seed = dataset, augment, seed
        self.rule, self.canonical_focal_px = rule, canonical_focal_px
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        item = self.dataset[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = prepare_sample(item, self.rule, self.augment, rng, self.canonical_focal_px)
        return (torch.from_numpy(sample['image']).permute(2, 0, 1).contiguous(),
                torch.from_numpy(sample['depth'])[None])


@dataclasses.dataclass
class Run:
    """What the loop functions share: device, autocast, distributed rank."""

    device: torch.device
    autocast_dtype: Optional[torch.dtype]
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> torch.autocast:
        return autocast(self.device.type, self.autocast_dtype)


def build_optimizer(model: ClipDepth, optim) -> torch.optim.Optimizer:
    """AdamW: the mirror with its own lr and no weight decay; no decay on biases and norms."""
    mirror = list(model.mirror.parameters()) if model.mirror is not None else []
    decay, no_decay = [], []
    for p in model.decoder.parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{'params': decay, 'lr': optim.lr, 'weight_decay': optim.weight_decay},
              {'params': no_decay, 'lr': optim.lr, 'weight_decay': 0.0}]
    if mirror:
        groups.append({'params': mirror, 'lr': optim.mirror_lr, 'weight_decay': 0.0})
    return torch.optim.AdamW(groups)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to `min_ratio` at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def train_one_epoch(model, loader: DataLoader, optimizer, scheduler, scaler, run: Run,
                    cfg: TrainConfig, epoch: int,
                    log: Optional[Callable[[str, float, int], None]] = None,
                    step: int = 0) -> Dict[str, float]:
    """One pass over `loader`; returns mean loss, images/s and the global step reached."""
    from tqdm import tqdm
    core = model.module if hasattr(model, 'module') else model
    core.train()
    mean, std = core.backbone.image_mean, core.backbone.image_std
    limit = cfg.max_steps_per_epoch or len(loader)
    total_loss, images, start = 0.0, 0, time.perf_counter()
    bar = tqdm(total=min(limit, len(loader)), desc=f'epoch {epoch + 1}',
               disable=not run.is_main, leave=False)
    for i, (image, depth) in enumerate(loader):
        if i >= limit:
            break
        image = image.to(run.device, non_blocking=True)
        depth = depth.to(run.device, non_blocking=True)
        # Already at network scale (TrainSamples): normalise only, no second resize.
        x = normalise(image, tuple(image.shape[-2:]), mean, std)
        with run.autocast():
            pred = model(x)
        valid = (depth > core.config.min_depth_m) & (depth <= core.config.max_depth_m)
        loss = silog_loss(pred.float(), depth, valid, cfg.optim.silog_lambda,
                          cfg.optim.silog_alpha)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                           cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step += 1
        loss_value = float(loss.detach())
        total_loss += loss_value
        images += image.shape[0]
        rate = images / (time.perf_counter() - start)
        bar.set_postfix(loss=f'{loss_value:.3f}', img_s=f'{rate:.1f}')
        bar.update(1)
        if log:
            log('train/loss', loss_value, step)
            log('train/lr', optimizer.param_groups[0]['lr'], step)
    bar.close()
    seconds = time.perf_counter() - start
    batches = max(1, min(limit, len(loader)))
    return {'loss': total_loss / batches, 'images_per_s': images / max(seconds, 1e-9),
            'step': step}


def evaluate(predict: Callable[[np.ndarray, Optional[float]], np.ndarray], dataset,
             min_depth: float,
             max_depth: float, crop: Optional[str] = None, flip: bool = False,
             progress: bool = False,
             input_size: Optional[Callable[[int, int], Tuple[int, int]]] = None,
             announce_input: bool = True,
             on_prediction: Optional[Callable[[Dict, np.ndarray], None]] = None
             ) -> Tuple[Dict[str, float], List[Dict]]:
    """
    Metrics averaged image by image; images without valid ground truth are left out.

    `predict(image, focal_px)` is the engine the node runs (DepthEstimator.predict); focal_px
    is the item's `focal` (None when unknown). With `input_size` (or a bound estimator method
    as `predict`), the network input is printed once per frame size, at the first such frame.

    `on_prediction(item, depth)` sees every item and its final prediction, in order (the
    evaluator's temporal-consistency scores use it without predicting twice).
    """
    from tqdm import tqdm
    owner = getattr(predict, '__self__', None)
    describe = (input_size or getattr(owner, 'input_size', None)) if announce_input else None
    patch = getattr(owner, 'patch_size', PATCH)
    printed = set()
    rows: List[Dict] = []
    for i in tqdm(range(len(dataset)), desc='evaluate', disable=not progress, leave=False):
        item = dataset[i]
        focal = float(item.get('focal') or 0.0) or None
        shape = item['image'].shape[:2]
        if describe is not None and shape not in printed:
            printed.add(shape)
            print(f'{describe_input(describe(*shape), patch)} for {shape[1]}x{shape[0]} '
                  'frames', flush=True)
        pred = predict(item['image'], focal)
        if flip:
            pred = 0.5 * (pred + predict(np.ascontiguousarray(item['image'][:, ::-1]),
                                         focal)[:, ::-1])
        if on_prediction is not None:
            on_prediction(item, pred)
        errors = image_errors(item['depth'], pred, min_depth, max_depth, crop)
        if errors is not None:
            rows.append({'name': item['name'], **errors})
    return average(rows), rows


# -- the whole run ------------------------------------------------------------------------------
def init_distributed() -> Tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1, 0
    import torch.distributed as dist
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return dist.get_rank(), world, int(os.environ.get('LOCAL_RANK', '0'))


def check_crop_multiple(height: int, width: int, patch: int) -> None:
    """Refuse a random crop that is not whole patches of the backbone (16 px for ViT-B-16)."""
    if height % patch or width % patch:
        raise ConfigError('data.crop_height/crop_width: must be multiples of the backbone '
                          f'patch size {patch}, got {height}x{width}')


CONFIG_COPY = 'train_config.yaml'
# What a run writes into out_dir; any of them there means an earlier run's outputs.
RUN_ENTRIES = ('best', 'last', HISTORY_FILE, CLIP_WEIGHTS_FILE, CONFIG_COPY, 'pairs.csv',
               'tensorboard', 'ddp_check.json')


def check_out_dir(cfg: TrainConfig, overwrite: bool = False) -> None:
    """
    Refuse an out_dir inside the run's inputs, or holding an earlier run's outputs.

    A run that resumes a checkpoint inside its own out_dir continues that run, and
    `overwrite` (--overwrite) lets a new run replace it; otherwise `best` and `last` of the
    earlier run would be replaced without a word.
    """
    out_dir = Path(cfg.out_dir)
    data = cfg.data
    weights = cfg.model.pretrained if is_weights_path(cfg.model.pretrained) else None
    check_not_inside_inputs(out_dir, [p or None for p in (data.root, data.gt_root,
                                                          data.train_list, data.val_list,
                                                          weights)])
    check_not_link(out_dir / 'tensorboard')  # written into, not replaced
    resuming = bool(cfg.resume) and out_dir.resolve() in real_location(cfg.resume).parents
    found = [name for name in RUN_ENTRIES
             if (out_dir / name).exists() or (out_dir / name).is_symlink()]
    if found and not (resuming or overwrite):
        raise OutputRefused(f'{out_dir}: holds an earlier run ({", ".join(found)}); refusing to '
                            'overwrite it (--overwrite replaces outputs of an earlier run; '
                            f'resume={out_dir / "last"} continues it)')


def fit(cfg: TrainConfig, datasets: Optional[Tuple] = None) -> Path:
    """Train per `cfg`; returns the output directory (best/ and last/ checkpoints inside)."""
    from clip_depth_ros.engine.inference import select_device
    from clip_depth_ros.train.datasets import build_datasets, write_pairs

    rank, world, local_rank = init_distributed()
    if cfg.device:
        device = torch.device(cfg.device)
    elif torch.cuda.is_available():
        device = torch.device('cuda', local_rank)
    else:
        device = select_device('cpu')
    precision, why = resolve_precision(cfg.optim.precision, device)
    run = Run(device, AUTOCAST_DTYPES[precision], rank, world)
    if run.is_main:
        print(f'training precision {precision} ({why})', flush=True)
    out_dir = Path(cfg.out_dir)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    train_set, val_set = datasets if datasets is not None else build_datasets(cfg.data, cfg.seed)

    model = build_model(cfg.model, cfg.model.pretrained).to(device)
    if not cfg.model.pretrained:
        # Random CLIP weights (smoke tests): saved once here, each checkpoint version links
        # them (run_state.save_run), or no checkpoint could reload to the same predictions.
        if run.is_main:
            save_random_clip_weights(out_dir, model)
        model.config = dataclasses.replace(model.config, pretrained=CLIP_WEIGHTS_FILE)
    if model.random_clip_weights and run.is_main:
        print(f'warning: {RANDOM_CLIP_WEIGHTS_MESSAGE}', flush=True)
    check_crop_multiple(cfg.data.crop_height, cfg.data.crop_width, model.patch_size)
    augment = Augment((cfg.data.crop_height, cfg.data.crop_width), cfg.data.rotation_deg,
                      cfg.data.flip, cfg.data.color_jitter)

    def rule(height: int, width: int) -> Tuple[int, int]:
        return config_network_size(model.config, model.patch_size, height, width)

    samples = TrainSamples(train_set, augment, cfg.seed, rule, model.config.canonical_focal_px)
    if run.is_main:
        print(training_input_summary(train_set, rule, augment.crop, model.patch_size,
                                     model.config.canonical_focal_px), flush=True)
    batches_per_epoch = math.ceil(len(samples) / (cfg.optim.batch_size * world))
    if cfg.max_steps_per_epoch:
        batches_per_epoch = min(batches_per_epoch, cfg.max_steps_per_epoch)
    total_steps = batches_per_epoch * cfg.optim.epochs
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(
        s, cfg.optim.warmup_steps, total_steps, cfg.optim.min_lr_ratio))
    scaler = torch.amp.GradScaler(device.type, enabled=run.autocast_dtype == torch.float16)
    start_epoch, step, best = 0, 0, float('inf')
    history: List[Dict] = []
    if cfg.resume:
        resumed = load_run(Path(cfg.resume), model, optimizer, scheduler, scaler)
        start_epoch, step, best = resumed['epoch'], resumed['step'], resumed['best']
        history = read_history(Path(cfg.resume), start_epoch)
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == 'cuda' else None)

    writer = None
    if run.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_yaml(out_dir / CONFIG_COPY, cfg.to_dict())
        write_pairs(out_dir, train_set, val_set)  # pairs.csv: every frame pair of the run's data
        writer = _summary_writer(out_dir / 'tensorboard')

    def log(tag: str, value: float, at: int) -> None:
        if writer is not None:
            writer.add_scalar(tag, value, at)

    for epoch in range(start_epoch, cfg.optim.epochs):
        samples.epoch = epoch
        loader = _loader(samples, cfg, epoch, rank, world, device)
        stats = train_one_epoch(train_model, loader, optimizer, scheduler, scaler, run, cfg,
                                epoch, log if run.is_main else None, step)
        step = stats['step']
        record = {'epoch': epoch + 1, 'step': step, 'loss': stats['loss'],
                  'images_per_s_per_device': stats['images_per_s']}
        if run.is_main:
            improved = False
            if val_set is not None and ((epoch + 1) % cfg.val_every == 0
                                        or epoch + 1 == cfg.optim.epochs):
                metrics = validate(model, val_set, device, cfg, writer, step)
                record['val'] = metrics
                if metrics['abs_rel'] < best:
                    best, improved = metrics['abs_rel'], True
            elif val_set is None:
                improved = True
            history.append(record)
            # best before last, each an atomic link swap (run_state): loadable at any kill;
            # the history travels inside last, so it always ends at last's epoch
            save_epoch(out_dir, model, optimizer, scheduler, scaler, epoch + 1, step, best,
                       improved, best_extra={'val_abs_rel': best if math.isfinite(best)
                                             else None, 'epoch': epoch + 1}, history=history)
            print(f'epoch {epoch + 1}/{cfg.optim.epochs}: loss {stats["loss"]:.4f}, '
                  f'{stats["images_per_s"]:.2f} images/s per device'
                  + (f', val AbsRel {record["val"]["abs_rel"]:.4f}' if 'val' in record else ''),
                  flush=True)
    if world > 1:
        _check_ranks_agree(model, out_dir, run)
    if writer is not None:
        writer.close()
    return out_dir


def training_input_summary(train_set, rule: InputRule, crop: Tuple[int, int], patch: int,
                           canonical_focal_px: Optional[float]) -> str:
    """'network input 352x464 (22x29 tokens) for 640x480 frames, training crops ...'."""
    if len(train_set) == 0:
        return 'no training frames'
    item = train_set[0]
    height, width = item['depth'].shape
    size = rule(height, width)
    focal = float(item.get('focal') or 0.0)
    if canonical_focal_px is None:
        target = 'depth targets as given (legacy: no canonical focal length)'
    elif focal > 0:
        target = (f'depth targets converted to canonical fx {canonical_focal_px:g} px '
                  f'(this frame: fx {focal * size[1] / width:.1f} px at network scale)')
    else:
        target = 'focal length unknown: targets taken as from the canonical camera'
    return (f'{describe_input(size, patch)} for {width}x{height} frames, training crops '
            f'{crop[0]}x{crop[1]} ({crop[0] // patch}x{crop[1] // patch} tokens); {target}')


def validate(model: ClipDepth, val_set, device: torch.device, cfg: TrainConfig, writer,
             step: int) -> Dict[str, float]:
    """Compute validation metrics (and log a few colour-mapped predictions)."""
    crop = {'nyu': 'eigen', 'kitti': 'garg'}.get(cfg.data.dataset)
    estimator = DepthEstimator(model, InferenceConfig(device=str(device), precision='fp32'))
    # fit() printed the network input at start; validation uses the same rule, silently.
    metrics, _ = evaluate(estimator.predict, val_set, cfg.model.min_depth_m,
                          cfg.model.max_depth_m, crop, announce_input=False)
    if writer is not None:
        from clip_depth_ros.frames.colormap import colorize_depth
        for key in ('abs_rel', 'rmse', 'delta1', 'silog'):
            writer.add_scalar(f'val/{key}', metrics[key], step)
        for i in range(min(cfg.log_images, len(val_set))):
            item = val_set[i]
            focal = float(item.get('focal') or 0.0) or None
            view = colorize_depth(estimator.predict(item['image'], focal), 0.0,
                                  cfg.model.max_depth_m)
            writer.add_image(f'val/depth_{i}', np.hstack([item['image'], view]), step,
                             dataformats='HWC')
    model.train()
    return metrics


def _loader(samples: TrainSamples, cfg: TrainConfig, epoch: int, rank: int, world: int,
            device: torch.device) -> DataLoader:
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    if world > 1:
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(samples, num_replicas=world, rank=rank, shuffle=True,
                                     seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        sampler = torch.utils.data.RandomSampler(samples, generator=generator)
    return DataLoader(samples, batch_size=cfg.optim.batch_size, sampler=sampler,
                      num_workers=cfg.data.num_workers, drop_last=len(samples) >= 2 *
                      cfg.optim.batch_size, pin_memory=device.type == 'cuda',
                      generator=generator, persistent_workers=False)


def _check_ranks_agree(model: ClipDepth, out_dir: Path, run: Run) -> None:
    """All ranks must hold the same trainable weights after DDP training; record the check."""
    import torch.distributed as dist
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in model.parameters()
                      if p.requires_grad])
    gathered = [torch.empty_like(flat) for _ in range(run.world_size)]
    dist.all_gather(gathered, flat)
    spread = max(float((g - gathered[0]).abs().max()) for g in gathered)
    if run.is_main:
        write_atomic(out_dir / 'ddp_check.json', json.dumps(
            {'world_size': run.world_size, 'max_abs_param_difference': spread}) + '\n')
    dist.barrier()
    dist.destroy_process_group()


def _write_yaml(path: Path, data: dict) -> None:
    import yaml
    write_atomic(path, yaml.safe_dump(data, sort_keys=False))


def _summary_writer(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(path))
