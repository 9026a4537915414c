# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The CLIP2Depth model on a real (tiny, random-weight) open_clip ViT."""

from clip_depth_ros.config import ConfigError, ModelConfig
from clip_depth_ros.models import build_model
from clip_depth_ros.transforms import network_size
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
        block.register_forward_hook(lambda *_, i=i: ran.append(i))
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
    ({'decoder_heads': 3}, 'decoder_heads'), ({'max_depth_m': 0.0}, 'max_depth_m')])
def test_config_validation_names_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**kwargs)


def test_inference_config_validation():
    from clip_depth_ros.config import InferenceConfig
    with pytest.raises(ConfigError, match='compile_mode'):
        InferenceConfig(compile_mode='fast')
    with pytest.raises(ConfigError, match='precision'):
        InferenceConfig(precision='int8')
