# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Point cloud packing speed: unprojection + PointCloud2 data, points per second.

python benchmarks/bench_cloud.py [--size 480x640] [--repeat 50]
CPU: the numpy path the node uses. GPU (when present): the same unprojection in torch on the
device, then one copy of the packed buffer to the host.
"""

import argparse
from pathlib import Path
import sys

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, time_ms, write_json  # noqa: E402, I100


def main() -> None:
    from clip_depth_ros.frames import geometry
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--size', default='480x640')
    p.add_argument('--repeat', type=int, default=50)
    args = p.parse_args()
    h, w = map(int, args.size.split('x'))
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, (h, w)).astype(np.float32)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    intr = geometry.Intrinsics(525.0, 525.0, w / 2, h / 2, w, h)
    points = h * w
    results, rows = {'size': args.size, 'points': points}, []
    for name, colour in (('xyz', None), ('xyzrgb', rgb)):
        # What the node does: unproject, then pack into a fresh buffer a message can own.
        def cpu_cloud():
            buf = bytearray(geometry.cloud_nbytes(h, w, colour is not None))
            geometry.pack_cloud_into(buf, geometry.unproject(depth, intr), colour)
            return buf
        t = time_ms(cpu_cloud, repeat=args.repeat)
        results[f'cpu_{name}'] = {**t, 'points_per_s': points / (t['median_ms'] / 1e3)}
        rows.append([f'cpu numpy {name}', f"{t['median_ms']:.2f}",
                     f"{points / (t['median_ms'] / 1e3) / 1e6:.1f}"])
    if torch.cuda.is_available():
        d = torch.from_numpy(depth).cuda()
        c = torch.from_numpy(rgb).cuda()
        for name, colour in (('xyz', None), ('xyzrgb', c)):
            t = time_ms(lambda: geometry.pack_cloud_torch(d, intr, colour).cpu(),
                        repeat=args.repeat, sync=torch.cuda.synchronize)
            results[f'cuda_{name}'] = {**t, 'points_per_s': points / (t['median_ms'] / 1e3)}
            rows.append([f'cuda torch {name} (+ copy to host)', f"{t['median_ms']:.2f}",
                         f"{points / (t['median_ms'] / 1e3) / 1e6:.1f}"])
    print(table(rows, ['path', 'ms per cloud', 'M points/s']))
    print(f'wrote {write_json(f"cloud_{args.size}", results)}')


if __name__ == '__main__':
    main()
