# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Model latency: ours (PyTorch and onnxruntime) next to Depth Anything V2 Small, same frames.

python benchmarks/bench_model.py [--backbone ViT-B-16] [--device cpu|cuda] [--repeat 10]
Random weights for both models (no downloads). Depth Anything V2 Small is built from its
published configuration with Hugging Face transformers and fed by its own 518-pixel
preprocessing (DPTImageProcessor: keep aspect ratio, multiple of 14, bicubic).
"""

import argparse
import os
from pathlib import Path
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, time_ms, write_json  # noqa: E402, I100

SIZES = [(480, 640), (375, 1242)]


def our_estimator(backbone: str, device: str, precision: str, tmp: Path):
    from clip_depth_ros.checkpoint import save_checkpoint
    from clip_depth_ros.config import InferenceConfig, ModelConfig
    from clip_depth_ros.inference import DepthEstimator
    from clip_depth_ros.models import build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=backbone, pretrained=None), None)
    save_checkpoint(tmp / 'ckpt', model.config, model.trainable_state_dict())
    return model, DepthEstimator(model, InferenceConfig(device=device, precision=precision))


def depth_anything_v2_small(device: str):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers import DPTImageProcessor
    backbone = Dinov2Config(hidden_size=384, num_attention_heads=6, num_hidden_layers=12,
                            patch_size=14, image_size=518, out_indices=[3, 6, 9, 12],
                            reshape_hidden_states=False, layerscale_value=1.0)
    config = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[48, 96, 192, 384],
                                 fusion_hidden_size=64, reassemble_hidden_size=384,
                                 head_hidden_size=32, patch_size=14)
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config).to(device).eval()
    processor = DPTImageProcessor(do_resize=True, size={'height': 518, 'width': 518},
                                  keep_aspect_ratio=True, ensure_multiple_of=14,
                                  resample=3, do_rescale=True, do_normalize=True,
                                  image_mean=[0.485, 0.456, 0.406],
                                  image_std=[0.229, 0.224, 0.225], do_pad=False)

    def predict(rgb: np.ndarray) -> np.ndarray:
        inputs = processor(images=rgb, return_tensors='pt').to(device)
        with torch.inference_mode():
            depth = model(**inputs).predicted_depth
            depth = torch.nn.functional.interpolate(depth[:, None], size=rgb.shape[:2],
                                                    mode='bicubic', align_corners=False)
        return depth[0, 0].cpu().numpy()
    return model, predict


def count_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', default='ViT-B-16')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--precision', default='auto')
    p.add_argument('--repeat', type=int, default=10)
    p.add_argument('--no-peer', action='store_true', help='skip Depth Anything V2')
    p.add_argument('--no-onnx', action='store_true')
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    tmp = Path(tempfile.mkdtemp())
    model, ours = our_estimator(args.backbone, args.device, args.precision, tmp)
    sync = torch.cuda.synchronize if args.device.startswith('cuda') else (lambda: None)
    results, rows = {'backbone': args.backbone, 'device': args.device}, []
    peer = None if args.no_peer else depth_anything_v2_small(args.device)
    for h, w in SIZES:
        rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        key = f'{h}x{w}'
        entry = {'ours_pytorch': time_ms(lambda: ours.predict(rgb), repeat=args.repeat,
                                         sync=sync)}
        net = ours.input_size(h, w)
        x = torch.zeros(1, 3, *net, device=ours.device)
        with torch.inference_mode():
            entry['ours_flops'] = count_flops(lambda: model.logits(x, ours._query))
        if ours.device.type == 'cuda':
            for batch in (1, 8):
                frames = [rgb] * batch
                torch.cuda.reset_peak_memory_stats()
                t = time_ms(lambda: ours.predict_tensor(frames), repeat=args.repeat, sync=sync)
                entry[f'ours_batch{batch}'] = {
                    **t, 'frames_per_s': batch / (t['median_ms'] / 1e3),
                    'peak_memory_gib': torch.cuda.max_memory_allocated() / 2**30}
        if not args.no_onnx and args.device == 'cpu':
            from clip_depth_ros.export import export_onnx, OnnxDepthEstimator
            path = tmp / f'{key}.onnx'
            export_onnx(model, h, w, path)
            model.to(ours.device)
            ort = OnnxDepthEstimator(path)
            entry['ours_onnxruntime'] = time_ms(lambda: ort.predict(rgb), repeat=args.repeat)
            ref = ours.predict(rgb)
            entry['onnx_max_rel_diff'] = float(np.max(np.abs(ort.predict(rgb) - ref) / ref))
        if peer is not None:
            peer_model, peer_predict = peer
            entry['depth_anything_v2_small'] = time_ms(lambda: peer_predict(rgb),
                                                       repeat=args.repeat, sync=sync)
            entry['ratio_ours_over_dav2'] = (entry['ours_pytorch']['median_ms'] /
                                             entry['depth_anything_v2_small']['median_ms'])
        results[key] = entry

        def median(name):
            return f"{entry.get(name, {}).get('median_ms', float('nan')):.1f}"
        rows.append([key, net, median('ours_pytorch'), f"{entry['ours_pytorch']['p90_ms']:.1f}",
                     median('ours_onnxruntime'), median('depth_anything_v2_small'),
                     f"{entry.get('ratio_ours_over_dav2', float('nan')):.2f}"])
    results['ours_parameters_total'] = sum(t.numel() for t in model.parameters())
    results['ours_parameters_trainable'] = model.trainable_parameters()
    if peer is not None:
        results['dav2_small_parameters'] = sum(t.numel() for t in peer[0].parameters())
        rgb = np.zeros((480, 640, 3), np.uint8)
        results['dav2_small_flops_480x640'] = count_flops(lambda: peer[1](rgb))
    print(f'{args.backbone} (random weights) on {args.device}, median of {args.repeat} runs')
    print(table(rows, ['frame', 'network input', 'ours ms', 'ours p90', 'onnxrt ms',
                       'DAv2-S ms', 'ours/DAv2']))
    print(f"parameters: ours {results['ours_parameters_total'] / 1e6:.1f} M "
          f"({results['ours_parameters_trainable'] / 1e6:.2f} M trained)"
          + (f", DAv2-S {results['dav2_small_parameters'] / 1e6:.1f} M" if peer else ''))
    print(f"GFLOPs at 480x640: ours {results['480x640']['ours_flops'] / 1e9:.1f}"
          + (f", DAv2-S {results['dav2_small_flops_480x640'] / 1e9:.1f}" if peer else ''))
    for key in (f'{h}x{w}' for h, w in SIZES):
        for batch in (1, 8):
            if f'ours_batch{batch}' in results[key]:
                e = results[key][f'ours_batch{batch}']
                print(f"{key} batch {batch}: {e['frames_per_s']:.0f} frames/s, peak "
                      f"{e['peak_memory_gib']:.2f} GiB")
    print(f'wrote {write_json(f"model_{args.backbone}_{args.device}", results)}')


if __name__ == '__main__':
    main()
