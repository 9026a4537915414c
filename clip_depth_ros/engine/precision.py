# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
`precision: auto`: the fastest precision the device computes natively, with the reason.

bf16 on CUDA (fp16 on GPUs without bf16) and on CPUs whose instruction set computes bf16
(AVX512-BF16 or AMX-BF16, which oneDNN uses for matmuls); fp32 elsewhere. Detected from the CPU's
flags and oneDNN, never assumed; any precision can still be forced.
"""

from __future__ import annotations

from pathlib import Path
from typing import FrozenSet, Optional, Tuple

import torch

_BF16_FLAGS = ('amx_bf16', 'avx512_bf16')
# torch.autocast's dtype for each resolved precision (None: fp32, autocast off), for
# inference and training alike.
AUTOCAST_DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def autocast(device_type: str, dtype: Optional[torch.dtype]) -> torch.autocast:
    """Return the autocast region for a resolved precision's dtype (None: fp32, autocast off)."""
    if dtype is None:
        return torch.autocast(device_type, enabled=False)
    return torch.autocast(device_type, dtype=dtype)


def cpu_flags(cpuinfo: Path = Path('/proc/cpuinfo')) -> FrozenSet[str]:
    """Return the CPU's feature flags (Linux x86); empty where /proc/cpuinfo has none."""
    try:
        text = cpuinfo.read_text(encoding='utf-8', errors='replace')
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'flags':
            return frozenset(value.split())
    return frozenset()


def cpu_native_bf16(flags: FrozenSet[str] = None) -> Tuple[bool, str]:
    """Return (True, why) when this CPU computes bf16 natively and oneDNN can use it."""
    flags = cpu_flags() if flags is None else flags
    found = [f for f in _BF16_FLAGS if f in flags]
    capability = torch.backends.cpu.get_cpu_capability()
    if not found:
        return False, f'CPU ({capability}) has no native bf16 (no {"/".join(_BF16_FLAGS)} flag)'
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    if not onednn:
        return False, f'CPU has {"+".join(found)} but this torch build cannot use it (oneDNN)'
    return True, f'CPU computes bf16 natively ({"+".join(found)}, {capability})'


def resolve_precision(requested: str, device: torch.device) -> Tuple[str, str]:
    """('fp32' | 'fp16' | 'bf16', reason) for `requested` ('auto' or one of them) on `device`."""
    if requested != 'auto':
        return requested, f'{requested} as configured'
    if device.type == 'cuda':
        if torch.cuda.is_bf16_supported():
            return 'bf16', f'auto: CUDA {torch.cuda.get_device_name(device)} computes bf16'
        return 'fp16', f'auto: CUDA {torch.cuda.get_device_name(device)} has no bf16'
    if device.type == 'cpu':
        native, why = cpu_native_bf16()
        return ('bf16' if native else 'fp32'), f'auto: {why}'
    return 'fp32', f'auto: fp32 on {device.type}'
