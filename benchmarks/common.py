# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the benchmark scripts: timing, machine description, JSON and tables."""

import datetime
import json
import os
from pathlib import Path
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch

OUT_DIR = Path(__file__).resolve().parent / 'results'


def time_ms(fn: Callable[[], object], warmup: int = 2, repeat: int = 10,
            sync: Callable[[], None] = lambda: None) -> Dict[str, float]:
    """Median and p90 wall time of `fn` in milliseconds."""
    for _ in range(warmup):
        fn()
    sync()
    samples: List[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - start) * 1e3)
    samples.sort()
    return {'median_ms': statistics.median(samples),
            'p90_ms': samples[min(len(samples) - 1, int(round(0.9 * (len(samples) - 1))))],
            'runs': repeat}


def _summary(samples: List[float]) -> Dict[str, float]:
    samples = sorted(samples)
    return {'median_ms': statistics.median(samples),
            'p90_ms': samples[min(len(samples) - 1, int(round(0.9 * (len(samples) - 1))))],
            'runs': len(samples)}


def time_interleaved(fns: Dict[str, Callable[[], object]], warmup: int = 1, repeat: int = 5,
                     sync: Callable[[], None] = lambda: None) -> Dict[str, Dict[str, float]]:
    """
    Median and p90 ms of each function, timed in turns (a, b, c, a, b, c, ...).

    On a shared, noisy machine a load change then hits every candidate alike, so the
    ratios between them hold better than with one block of runs after another.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    samples: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: _summary(s) for name, s in samples.items()}


def machine() -> Dict[str, object]:
    info = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'python': sys.version.split()[0], 'torch': torch.__version__,
            'cpu': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
            'torch_threads': torch.get_num_threads(),
            'cuda': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:  # the CPU model and whether it computes bf16 natively (Linux)
        text = Path('/proc/cpuinfo').read_text()
        names = [ln.split(':', 1)[1].strip() for ln in text.splitlines()
                 if ln.startswith('model name')]
        flags = set(next((ln for ln in text.splitlines() if ln.startswith('flags')),
                         ':').split(':', 1)[1].split())
        info['cpu_model'] = names[0] if names else None
        info['cpu_bf16_flags'] = sorted(flags & {'avx512_bf16', 'amx_bf16', 'amx_tile'})
    except OSError:
        pass
    return info


def write_json(name: str, payload: Dict[str, object]) -> Path:
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f'{name}.json'
    payload = {'machine': machine(), 'command': ' '.join(sys.argv), **payload}
    path.write_text(json.dumps(payload, indent=2) + '\n')
    return path


def table(rows: List[List[object]], header: List[str]) -> str:
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)
