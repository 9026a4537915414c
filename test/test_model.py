# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The CLIP2Depth model on a real (tiny, random-weight) open_clip ViT."""

from clip_depth_ros.config import ConfigError, ModelConfig
from clip_depth_ros.engine.transforms import network_size
from clip_depth_ros.models import build_model
import numpy as np
import pytest
import torch

TINY = 'ViT-T-16-test'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(backbone=TINY, pretrained=None), clip_weights=None)


def test_only_mirror_and_decoder_get_gradients(model):
    model.train()
    images = torch.randn(2, 3, 64, 96)
    model(images).log().mean().backward()
    clip_params = list(model.backbone.parameters())
    assert clip_params and all(not p.requires_grad and p.grad is None for p in clip_params)
    assert model.mirror.embedding.grad is not None
    assert model.mirror.embedding.grad.abs().sum() > 0
    for name, p in model.decoder.named_parameters():
        assert p.grad is not None, name
    assert not model.backbone.clip.training  # CLIP stays in eval mode under model.train()
    model.zero_grad(set_to_none=True)
    model.eval()


def test_mirror_changes_text_embedding(model):
    with torch.no_grad():
        before = model.query().clone()
        model.mirror.embedding.add_(0.5)
        after = model.query().clone()
        model.mirror.embedding.sub_(0.5)
    assert before.shape == (1, model.backbone.embed_dim)
    assert not torch.allclose(before, after)


def test_query_matches_open_clip_encode_text_for_real_tokens(model):
    """Feeding token embeddings of real text reproduces open_clip's own encode_text."""
    import open_clip
    clip = model.backbone.clip
    tokens = open_clip.get_tokenizer(TINY)(['a photo of a desk'])
    n = int(tokens.argmax(dim=-1)) + 1  # EOS position + 1
    with torch.no_grad():
        ours = model.backbone.encode_embeddings(clip.token_embedding(tokens[:, :n]), n - 1)
        theirs = clip.encode_text(tokens)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_variant_without_sos_eos_pools_last_mirror_token():
    torch.manual_seed(0)
    m = build_model(ModelConfig(backbone=TINY, pretrained=None, mirror_sos_eos=False,
                                mirror_tokens=8), clip_weights=None)
    with torch.no_grad():
        q = m.query()
        x = m.backbone.encode_embeddings(m.mirror().unsqueeze(0), pool_index=7)
    torch.testing.assert_close(q, x)


def test_blocks_after_last_tap_do_not_run():
    m = build_model(ModelConfig(backbone=TINY, pretrained=None, taps=(2, 4)), clip_weights=None)
    ran = []
    for i, block in enumerate(m.backbone.clip.visual.transformer.resblocks):
        # Hooked on the MLP, which every block runs whatever path calls it.
        block.mlp.register_forward_hook(lambda *_, i=i: ran.append(i))
    with torch.no_grad():
        m(torch.randn(1, 3, 32, 48))
    assert ran == [0, 1, 2, 3]


@pytest.mark.parametrize('height,width', [(480, 640), (375, 1242)])
def test_output_has_input_size_and_range(tiny_estimator, height, width):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth = tiny_estimator.predict(rgb)
    assert depth.shape == (height, width) and depth.dtype == np.float32
    assert np.isfinite(depth).all()
    assert depth.min() > 1e-3 - 1e-9 and depth.max() <= tiny_estimator.max_depth_m


def test_network_size_keeps_aspect_ratio():
    assert network_size(480, 640, 352, 16) == (352, 464)
    assert network_size(375, 1242, 352, 16, max_tokens=4096) == (352, 1168)
    with pytest.raises(ValueError):
        network_size(0, 640, 352, 16)


def test_positional_embeddings_interpolated_not_squashed(model):
    taps, grid = model.backbone.image_taps(torch.randn(1, 3, 352, 464))
    assert grid == (22, 29)
    assert taps[0].shape == (1, 22 * 29, model.backbone.vision_width)


def test_tiny_config_fits_issue_limits(model):
    visual = model.backbone.clip.visual
    assert len(visual.transformer.resblocks) >= 9
    assert sum(p.numel() for p in model.backbone.parameters()) < 5_000_000
    assert model.backbone.text_width == 64


def test_vit_b16_default_trainable_count():
    """ViT-B-16 with the default config: about 1.2 M trainable parameters."""
    m = build_model(ModelConfig(), clip_weights=None)
    assert 1_000_000 < m.trainable_parameters() < 1_300_000
    assert m.mirror.embedding.shape == (64, 512)


@pytest.mark.parametrize('kwargs,field', [
    ({'taps': (6, 3)}, 'taps'), ({'taps': ()}, 'taps'), ({'mirror_tokens': 0}, 'mirror_tokens'),
    ({'decoder_heads': 3}, 'decoder_heads'), ({'max_depth_m': 0.0}, 'max_depth_m'),
    ({'taps': (3.0, 6)}, 'taps'), ({'taps': '3,6,9'}, 'taps'),
    ({'mirror_sos_eos': 'false'}, 'mirror_sos_eos'),
    ({'max_depth_m': float('inf')}, 'max_depth_m'),
    ({'canonical_focal_px': 0.0}, 'canonical_focal_px'),
    ({'input_max_tokens': 0}, 'input_max_tokens'),
    ({'input_max_aspect': float('nan')}, 'input_max_aspect')])
def test_config_validation_names_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**kwargs)


def test_inference_config_validation():
    from clip_depth_ros.config import InferenceConfig
    with pytest.raises(ConfigError, match='compile_mode'):
        InferenceConfig(compile_mode='fast')
    with pytest.raises(ConfigError, match='precision'):
        InferenceConfig(precision='int8')


# -- the input rule ------------------------------------------------------------------------------
def test_input_rule_sizes_for_the_datasets_and_hd():
    """NYU keeps CLIPSeg's 352x464; 16:9 HD is not capped; KITTI is scaled to fit the cap."""
    assert network_size(480, 640) == (352, 464)
    assert network_size(720, 1280) == (352, 624)
    assert network_size(1080, 1920) == (352, 624)
    assert network_size(352, 1216) == (272, 944)       # KITTI KB crop: 17x59 tokens
    assert network_size(375, 1242) == (272, 928)       # KITTI full frame
    assert network_size(4000, 3000) == (464, 352)


def test_input_rule_never_exceeds_the_cap_and_keeps_aspect():
    for h in range(8, 3000, 97):
        for w in range(8, 3000, 89):
            if max(h, w) / min(h, w) > 8:
                continue
            nh, nw = network_size(h, w)
            assert nh % 16 == 0 and nw % 16 == 0 and (nh // 16) * (nw // 16) <= 1024
            assert abs(np.log((nw / nh) / (w / h))) < 0.25, (h, w, nh, nw)


@pytest.mark.parametrize('shape,message', [((1, 32), 'too small'), ((10, 640), 'aspect ratio'),
                                           ((640, 10), 'aspect ratio'), ((7, 7), 'too small')])
def test_absurd_frames_get_one_clear_error(tiny_estimator, shape, message):
    from clip_depth_ros.engine.transforms import FrameSizeError
    with pytest.raises(FrameSizeError, match=message) as e:
        tiny_estimator.predict(np.zeros((*shape, 3), np.uint8))
    assert isinstance(e.value, ValueError) and '\n' not in str(e.value)


@pytest.mark.parametrize('shape', [(4000, 3000), (720, 5760), (8, 8)])
def test_large_wide_and_tiny_frames_have_a_bounded_network_input(tiny_estimator, shape):
    size = tiny_estimator.input_size(*shape)
    assert (size[0] // 16) * (size[1] // 16) <= tiny_estimator.model.config.input_max_tokens
    depth = tiny_estimator.predict(np.full((*shape, 3), 128, np.uint8))
    assert depth.shape == shape and np.isfinite(depth).all()


def test_cap_is_configurable():
    assert network_size(480, 640, max_tokens=100) == (128, 176)  # 8x11 tokens
    m = ModelConfig(input_max_tokens=100)
    from clip_depth_ros.engine.transforms import config_network_size
    assert config_network_size(m, 16, 480, 640) == (128, 176)


# -- canonical focal length ----------------------------------------------------------------------
def test_default_canonical_focal_is_nyu_at_network_scale():
    from clip_depth_ros.config import NYU_FOCAL_PX
    assert ModelConfig().canonical_focal_px == pytest.approx(
        NYU_FOCAL_PX * network_size(480, 640)[1] / 640, abs=1e-3)


def test_twice_the_focal_length_is_twice_the_depth(tiny_estimator, sample_rgb):
    f = 525.0
    d1 = tiny_estimator.predict(sample_rgb, focal_px=f)
    d2 = tiny_estimator.predict(sample_rgb, focal_px=2 * f)
    np.testing.assert_allclose(d2, 2 * d1, rtol=1e-6)
    # The canonical camera itself (fx at network scale = canonical) converts nothing.
    canonical_at_frame = tiny_estimator.canonical_focal_px * 640 / 464
    np.testing.assert_array_equal(tiny_estimator.predict(sample_rgb, canonical_at_frame),
                                  tiny_estimator.predict(sample_rgb))
    batch = tiny_estimator.predict_batch([sample_rgb, sample_rgb], focal_px=[f, 2 * f])
    np.testing.assert_allclose(batch[1], 2 * batch[0], rtol=1e-6)


# -- special tokens, mirror length, random weights, precision -----------------------------------
def test_sos_eos_come_from_the_tokenizer(model):
    import open_clip
    tokenizer = open_clip.get_tokenizer(TINY)
    ids = model.backbone.special_token_ids
    assert ids == (tokenizer.sot_token_id, tokenizer.eot_token_id)
    tokens = tokenizer(['x'])[0]
    assert int(tokens[0]) == ids[0] and int(tokens[2]) == ids[1]  # [SOT] x [EOT]
    sos, eos = model.backbone.special_token_embeddings()
    weight = model.backbone.clip.token_embedding.weight
    assert torch.equal(sos, weight[ids[0]]) and torch.equal(eos, weight[ids[1]])


def test_text_tower_without_special_tokens_is_refused_at_build():
    from clip_depth_ros.models.backbone import BackboneError, create_clip, FrozenClip
    from clip_depth_ros.models.clip_depth import ClipDepth
    backbone = FrozenClip(create_clip(TINY, None), (3, 6, 9), TINY)
    backbone.special_token_ids = None  # what a tokenizer without SOT/EOT ids yields
    with pytest.raises(BackboneError, match='mirror_sos_eos: the tokenizer'):
        ClipDepth(ModelConfig(backbone=TINY, pretrained=None), backbone)
    plain = ClipDepth(ModelConfig(backbone=TINY, pretrained=None, mirror_sos_eos=False),
                      backbone)
    assert plain.query().shape == (1, backbone.embed_dim)


def test_mirror_longer_than_the_text_context_is_refused_at_build():
    from clip_depth_ros.models.backbone import BackboneError
    build_model(ModelConfig(backbone=TINY, pretrained=None, mirror_tokens=75), None)  # 75 + 2
    with pytest.raises(BackboneError, match=r'mirror_tokens: 76 \+ SOS/EOS exceed .*77'):
        build_model(ModelConfig(backbone=TINY, pretrained=None, mirror_tokens=76), None)


def test_random_weights_are_flagged_and_survive_a_file(tmp_path):
    from clip_depth_ros.models.backbone import create_clip, RANDOM_ATTR, save_clip_weights
    clip = create_clip(TINY, None)
    assert getattr(clip, RANDOM_ATTR)
    path = tmp_path / 'random.safetensors'
    save_clip_weights(clip, path)
    assert build_model(ModelConfig(backbone=TINY, pretrained=None), str(path)) \
        .random_clip_weights
    setattr(clip, RANDOM_ATTR, False)  # as for weights that came from a pretrained tag
    save_clip_weights(clip, tmp_path / 'real.safetensors')
    assert not build_model(ModelConfig(backbone=TINY, pretrained=None),
                           str(tmp_path / 'real.safetensors')).random_clip_weights


def test_estimator_exposes_random_weights_and_precision(tiny_estimator):
    from clip_depth_ros.config import RANDOM_CLIP_WEIGHTS_MESSAGE
    assert tiny_estimator.random_clip_weights
    assert tiny_estimator.random_clip_weights_message == RANDOM_CLIP_WEIGHTS_MESSAGE
    assert tiny_estimator.precision in ('fp32', 'bf16')
    assert tiny_estimator.precision_reason.startswith('auto: ')


def test_precision_auto_follows_the_cpu_flags_and_forced_precisions_stay():
    from clip_depth_ros.engine.precision import cpu_flags, cpu_native_bf16, resolve_precision
    cpu = torch.device('cpu')
    assert cpu_native_bf16(frozenset({'avx2', 'fma'}))[0] is False
    native = bool({'avx512_bf16', 'amx_bf16'} & cpu_flags()) \
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    chosen, reason = resolve_precision('auto', cpu)
    assert chosen == ('bf16' if native else 'fp32') and reason.startswith('auto: ')
    for forced in ('fp32', 'bf16', 'fp16'):
        assert resolve_precision(forced, cpu) == (forced, f'{forced} as configured')


def test_forced_fp32_and_auto_agree_closely(tiny_checkpoint, sample_rgb):
    from clip_depth_ros.engine.inference import DepthEstimator
    fp32 = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='fp32')
    auto = DepthEstimator.from_checkpoint(tiny_checkpoint, device='cpu', precision='auto')
    assert fp32.precision == 'fp32'
    a, b = fp32.predict(sample_rgb), auto.predict(sample_rgb)
    assert np.max(np.abs(a - b) / a) < 2e-2


# -- DepthCLIP -----------------------------------------------------------------------------------
def test_depthclip_has_the_published_bins_words_template_and_temperature():
    """Values of the original code (Adonis-galaxy/DepthCLIP, monoclip.py)."""
    from clip_depth_ros.models import depthclip as dc
    assert dc.NYU_BINS_M == (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
    assert dc.DISTANCE_WORDS == ('giant', 'extremely close', 'close', 'not in distance',
                                 'a little remote', 'far', 'unseen')
    assert dc.TEMPLATE.format('giant') == 'This object is giant'
    assert dc.LOGIT_SCALE / dc.TEMPERATURE == pytest.approx(1000.0)


def test_depthclip_computes_softmax_of_1000_cosines_and_averages_the_flip():
    import torch.nn.functional as F
    from clip_depth_ros.engine.inference import DepthClipEstimator
    torch.manual_seed(0)
    est = DepthClipEstimator(TINY, None, 'cpu')
    m = est.model
    assert m.prompts[0] == 'This object is giant' and len(m.prompts) == 7
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        feats, (h, w) = m.backbone.patch_embeddings(x)
        text = F.normalize(m.backbone.encode_text(list(m.prompts)).float(), dim=-1)
        cos = F.normalize(feats.float(), dim=-1) @ text.t()
        expected = ((1000 * cos).softmax(-1) @ m.bins).reshape(1, 1, h, w)
        torch.testing.assert_close(m(x), expected)
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    depth = est.predict(rgb)
    assert depth.shape == (48, 64) and 1.0 <= depth.min() and depth.max() <= 3.0
    np.testing.assert_allclose(est.predict(np.ascontiguousarray(rgb[:, ::-1])), depth[:, ::-1],
                               rtol=1e-5)


def test_post_processing_is_sigmoid_at_network_scale_then_resize():
    """The one post-processing both engines call: sigmoid and scale first, then the resize."""
    import torch.nn.functional as F
    from clip_depth_ros.engine.transforms import logits_to_depth
    logits = torch.randn(2, 1, 4, 6) * 3
    out = logits_to_depth(logits, (8, 12), 10.0, 0.5, [1.0, 2.0])
    expected = F.interpolate((10.0 * torch.sigmoid(logits)).clamp_min(0.5)
                             * torch.tensor([1.0, 2.0]).view(2, 1, 1, 1), size=(8, 12),
                             mode='bilinear', align_corners=False)
    torch.testing.assert_close(out, expected)
    assert out.dtype == torch.float32 and float(out[0].min()) >= 0.5


def _reference_taps(backbone, images):
    """Image taps through open_clip's own blocks, batch-first, as open_clip runs them."""
    visual = backbone.clip.visual
    x = visual.conv1(images)
    grid = (x.shape[2], x.shape[3])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1)
    x = visual.ln_pre(x + backbone._positional(grid, x.device, x.dtype))
    taps = []
    for index, block in enumerate(visual.transformer.resblocks[:backbone.taps[-1]], start=1):
        x = block(x)
        if index in backbone.taps:
            taps.append(x[:, 1:])
    return taps


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_image_taps_match_open_clip_blocks_for_a_batch(model, precision):
    """The contiguous sequence-first block runner computes what open_clip's blocks compute."""
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 96)
    with torch.inference_mode(), torch.autocast('cpu', torch.bfloat16,
                                                enabled=precision == 'bf16'):
        ours, _ = model.backbone.image_taps(images)
        theirs = _reference_taps(model.backbone, images)
    assert len(ours) == len(theirs) == len(model.backbone.taps)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.is_contiguous()
        if precision == 'bf16':  # the same bf16 operations: bit for bit
            assert torch.equal(a, b)
        else:  # open_clip's fp32 inference takes MHA's fused kernel: rounding only
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_batch_of_two_frames_gives_each_frames_own_depth(model, precision):
    """Batching is an execution detail: two different frames in one batch, each as alone."""
    from clip_depth_ros.config import InferenceConfig
    from clip_depth_ros.engine.inference import DepthEstimator
    est = DepthEstimator(model, InferenceConfig(device='cpu', precision=precision))
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    batch = est.predict_tensor(frames).cpu().numpy()
    alone = [est.predict(f) for f in frames]
    assert batch.shape == (2, 48, 64)
    assert np.abs(alone[0] - alone[1]).max() > 0.05  # would show frames swapped or mixed
    for b, a in zip(batch, alone):
        # fp32: matmul blocking depends on the batch, a few ulp (2e-7 measured); bf16: a few
        # bf16 roundings at most (identical when measured).
        np.testing.assert_allclose(b, a, rtol=1e-6 if precision == 'fp32' else 1e-2, atol=0)
