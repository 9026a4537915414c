# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Model latency: ours (PyTorch and onnxruntime) next to Depth Anything V2 Small, same frames.

python benchmarks/bench_model.py [--backbone ViT-B-16] [--device cpu|cuda] [--repeat 5]
Random weights for both models (no downloads). Depth Anything V2 Small is built from its
published configuration with Hugging Face transformers and fed by its own 518-pixel
preprocessing (DPTImageProcessor: keep aspect ratio, multiple of 14, bicubic).
Both models run in the same precision, fp32 and bf16 (autocast), timed in turns so that a
load change on a shared machine hits both alike; ours also with `precision: auto`, recording
what it chose. The largest relative depth difference of bf16 and auto against fp32 is taken
on the shipped TUM frames (640x480).
"""

import argparse
import os
from pathlib import Path
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, time_interleaved, time_ms, write_json  # noqa: E402, I100

SIZES = [(480, 640), (375, 1242)]


PRECISIONS = ('fp32', 'bf16')
SAMPLES = Path(__file__).resolve().parent.parent / 'clip_depth_ros' / 'data' / 'tum_fr1_rpy'


def our_estimators(backbone: str, device: str, precisions):
    """One model (seed 0), one DepthEstimator per precision; they share the weights."""
    from clip_depth_ros.config import InferenceConfig, ModelConfig
    from clip_depth_ros.engine.inference import DepthEstimator
    from clip_depth_ros.models import build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=backbone, pretrained=None), None)
    return model, {p: DepthEstimator(model, InferenceConfig(device=device, precision=p))
                   for p in precisions}


def sample_frames():
    import cv2
    paths = sorted((SAMPLES / 'rgb').glob('*.png'))
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def largest_relative_difference(estimator, reference, frames) -> float:
    """Return max |d - d_ref| / d_ref over every pixel of every frame."""
    worst = 0.0
    for rgb in frames:
        ref = reference.predict(rgb)
        worst = max(worst, float(np.max(np.abs(estimator.predict(rgb) - ref) / ref)))
    return worst


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

    def predict(rgb: np.ndarray, precision: str = 'fp32') -> np.ndarray:
        inputs = processor(images=rgb, return_tensors='pt').to(device)
        autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                                  enabled=precision == 'bf16')
        with torch.inference_mode(), autocast:
            depth = model(**inputs).predicted_depth.float()
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
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--no-peer', action='store_true', help='skip Depth Anything V2')
    p.add_argument('--no-onnx', action='store_true')
    p.add_argument('--sizes', nargs='+', default=[f'{h}x{w}' for h, w in SIZES])
    args = p.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    tmp = Path(tempfile.mkdtemp())
    model, ours = our_estimators(args.backbone, args.device, PRECISIONS + ('auto',))
    auto = ours['auto']
    sync = torch.cuda.synchronize if args.device.startswith('cuda') else (lambda: None)
    results = {'backbone': args.backbone, 'device': args.device,
               'auto_chose': auto.precision,
               'auto_reason': getattr(auto, 'precision_reason', None)}
    rows = []
    peer = None if args.no_peer else depth_anything_v2_small(args.device)
    frames = sample_frames()
    h0, w0 = frames[0].shape[:2]
    results['sample_frames'] = f'{len(frames)} TUM frames {w0}x{h0}'
    for name in ('bf16', 'auto'):
        results[f'max_rel_diff_{name}_vs_fp32'] = largest_relative_difference(
            ours[name], ours['fp32'], frames)
    for key in args.sizes:
        h, w = map(int, key.split('x'))
        rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        candidates = {f'ours_{prec}': (lambda e=e: e.predict(rgb)) for prec, e in ours.items()}
        if peer is not None:
            for prec in PRECISIONS:
                candidates[f'dav2_small_{prec}'] = (lambda prec=prec: peer[1](rgb, prec))
        entry = time_interleaved(candidates, warmup=1, repeat=args.repeat, sync=sync)
        net = ours['fp32'].input_size(h, w)
        entry['network_input'] = list(net)
        x = torch.zeros(1, 3, *net, device=ours['fp32'].device)
        with torch.inference_mode():
            query = model.query()  # as the estimator caches it: not part of a frame's cost
            entry['ours_flops'] = count_flops(lambda: model.logits(x, query))
        median = {k: v['median_ms'] for k, v in entry.items() if isinstance(v, dict)}
        for prec in PRECISIONS:
            if peer is not None:
                entry[f'ratio_ours_over_dav2_{prec}'] = (median[f'ours_{prec}']
                                                         / median[f'dav2_small_{prec}'])
            entry[f'speedup_{prec}_over_fp32'] = median['ours_fp32'] / median[f'ours_{prec}']
        entry['speedup_auto_over_fp32'] = median['ours_fp32'] / median['ours_auto']
        if ours['fp32'].device.type == 'cuda':
            for prec, estimator in ours.items():
                for batch in (1, 8):
                    batch_frames = [rgb] * batch
                    torch.cuda.reset_peak_memory_stats()
                    t = time_ms(lambda: estimator.predict_tensor(batch_frames),
                                repeat=args.repeat, sync=sync)
                    entry[f'ours_{prec}_batch{batch}'] = {
                        **t, 'frames_per_s': batch / (t['median_ms'] / 1e3),
                        'peak_memory_gib': torch.cuda.max_memory_allocated() / 2**30}
        if not args.no_onnx and args.device == 'cpu':
            from clip_depth_ros.engine.onnx import export_onnx, OnnxDepthEstimator
            path = tmp / f'{key}.onnx'
            export_onnx(model, h, w, path)
            model.to(ours['fp32'].device)
            ort = OnnxDepthEstimator(path)
            entry['ours_onnxruntime_fp32'] = time_ms(lambda: ort.predict(rgb), repeat=args.repeat)
            ref = ours['fp32'].predict(rgb)
            entry['onnx_max_rel_diff'] = float(np.max(np.abs(ort.predict(rgb) - ref) / ref))
        results[key] = entry

        def ms(name):
            return f"{entry.get(name, {}).get('median_ms', float('nan')):.0f}"

        def ratio(name):
            return f"{entry.get(name, float('nan')):.2f}"
        rows.append([key, 'x'.join(map(str, net)), ms('ours_fp32'), ms('dav2_small_fp32'),
                     ratio('ratio_ours_over_dav2_fp32'), ms('ours_bf16'), ms('dav2_small_bf16'),
                     ratio('ratio_ours_over_dav2_bf16'), ms('ours_auto'),
                     ratio('speedup_auto_over_fp32'), ms('ours_onnxruntime_fp32')])
    results['ours_parameters_total'] = sum(t.numel() for t in model.parameters())
    results['ours_parameters_trainable'] = model.trainable_parameters()
    if peer is not None:
        results['dav2_small_parameters'] = sum(t.numel() for t in peer[0].parameters())
        rgb = np.zeros((480, 640, 3), np.uint8)
        results['dav2_small_flops_480x640'] = count_flops(lambda: peer[1](rgb))
    print(f'{args.backbone} (random weights) on {args.device}, median of {args.repeat} runs '
          f'in turns; auto chose {auto.precision} ({results["auto_reason"]})')
    print(table(rows, ['frame', 'net input', 'ours fp32', 'DAv2-S fp32', 'ratio',
                       'ours bf16', 'DAv2-S bf16', 'ratio', 'ours auto', 'auto speedup',
                       'onnxrt fp32']))
    for name in ('bf16', 'auto'):
        print(f'largest relative depth difference {name} vs fp32 on '
              f'{results["sample_frames"]}: {results[f"max_rel_diff_{name}_vs_fp32"]:.2e}')
    print(f"parameters: ours {results['ours_parameters_total'] / 1e6:.1f} M "
          f"({results['ours_parameters_trainable'] / 1e6:.2f} M trained)"
          + (f", DAv2-S {results['dav2_small_parameters'] / 1e6:.1f} M" if peer else ''))
    if '480x640' in results:
        print(f"GFLOPs at 480x640: ours {results['480x640']['ours_flops'] / 1e9:.1f}"
              + (f", DAv2-S {results['dav2_small_flops_480x640'] / 1e9:.1f}" if peer else ''))
    for key in args.sizes:
        for name, e in results[key].items():
            if '_batch' in name:
                print(f"{key} {name}: {e['frames_per_s']:.0f} frames/s, peak "
                      f"{e['peak_memory_gib']:.2f} GiB")
    print(f'wrote {write_json(f"model_{args.backbone}_{args.device}", results)}')


if __name__ == '__main__':
    main()
