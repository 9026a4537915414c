# Copyright 2026 The clip_depth_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The frozen open_clip CLIP: image taps at any aspect ratio, text tower fed with embeddings.

This is the only module that imports open_clip.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import open_clip
from safetensors import SafetensorError
import torch
from torch import nn
import torch.nn.functional as F

_CONFIG_DIR = Path(__file__).resolve().parent.parent / 'model_configs'
open_clip.add_model_config(_CONFIG_DIR)

# Set on a CLIP built without weights, and stored in safetensors saved from it, so random weights
# stay recognisable after a round trip through a file (clip-depth-init, training smoke tests).
RANDOM_ATTR = 'clip_depth_random_init'
_META_RANDOM = 'clip_depth_ros.random_init'


class BackboneError(RuntimeError):
    """The CLIP backbone cannot be built or does not have the structure we need."""


class ClipWeightsError(BackboneError):
    """A CLIP weights file cannot be read; the message starts with the file's path."""


def create_clip(name: str, pretrained: Optional[str]) -> nn.Module:
    """Build an open_clip model; `pretrained` is a tag ('openai'), a weights file, or None."""
    if name not in open_clip.list_models():
        raise BackboneError(f'backbone: unknown open_clip model {name!r}')
    if pretrained and os.path.sep in pretrained and not os.path.isfile(pretrained):
        raise BackboneError(f'pretrained: CLIP weights file not found: {pretrained}')
    try:
        # open_clip warns on the root logger for random weights; we say it ourselves, plainly.
        model = open_clip.create_model(name, pretrained=pretrained or None, weights_only=True)
    except RuntimeError as e:
        # open_clip raises RuntimeError for unknown tags, failed downloads and bad state dicts.
        raise BackboneError(f'pretrained: cannot load CLIP {name!r} with weights '
                            f'{pretrained!r}: {e}') from e
    except OSError as e:
        raise ClipWeightsError(f'{pretrained}: cannot read CLIP weights for {name!r}: '
                               f'{e}') from e
    except SafetensorError as e:  # its own type, not an OSError: a truncated or damaged file
        raise ClipWeightsError(f'{pretrained}: corrupt or truncated safetensors file: '
                               f'{e}') from e
    setattr(model, RANDOM_ATTR, weights_are_random(pretrained))
    return model


def weights_are_random(pretrained: Optional[str]) -> bool:
    """Tell whether weights are random: none, or a file saved from a randomly built CLIP."""
    if not pretrained:
        return True
    if not (pretrained.endswith('.safetensors') and os.path.isfile(pretrained)):
        return False
    from safetensors import safe_open
    try:
        with safe_open(pretrained, framework='pt') as f:
            return (f.metadata() or {}).get(_META_RANDOM) == 'true'
    except Exception:  # unreadable files fail, with their name, when open_clip loads them
        return False


def clip_weights_bytes(model: nn.Module) -> bytes:
    """Serialise a CLIP state dict as safetensors bytes (random init flagged in the metadata)."""
    from safetensors.torch import save
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    random_init = bool(getattr(model, RANDOM_ATTR, False))
    return save(state, metadata={_META_RANDOM: 'true' if random_init else 'false'})


def save_clip_weights(model: nn.Module, path: Path) -> None:
    """Write a CLIP state dict as safetensors, loadable back through `create_clip(name, path)`."""
    Path(path).write_bytes(clip_weights_bytes(model))


class FrozenClip(nn.Module):
    """A frozen CLIP exposing tapped patch tokens and a text tower that takes embeddings."""

    def __init__(self, clip: nn.Module, taps: Sequence[int], name: str) -> None:
        super().__init__()
        visual = clip.visual
        needed = ('conv1', 'class_embedding', 'positional_embedding', 'ln_pre', 'transformer')
        if not all(hasattr(visual, a) for a in needed):
            raise BackboneError(
                f'backbone: {type(visual).__name__} is not an open_clip VisionTransformer; '
                'only native open_clip ViT backbones are supported')
        self.name = name
        self.clip = clip
        self.clip.eval()
        self.clip.requires_grad_(False)
        text = getattr(clip, 'text', clip)  # CustomTextCLIP keeps its text tower in .text
        self._text = text
        n_blocks = len(visual.transformer.resblocks)
        if max(taps) > n_blocks:
            raise BackboneError(f'taps: tap {max(taps)} exceeds the {n_blocks} blocks of the ViT')
        self.taps = tuple(taps)
        self.patch_size: int = _pair(visual.conv1.kernel_size)[0]
        self.vision_width: int = visual.conv1.out_channels
        self.text_width: int = text.token_embedding.weight.shape[1]
        self.context_length: int = text.positional_embedding.shape[0]
        self.embed_dim: int = _projection_out(text.text_projection, self.text_width)
        mean = getattr(visual, 'image_mean', None) or open_clip.OPENAI_DATASET_MEAN
        std = getattr(visual, 'image_std', None) or open_clip.OPENAI_DATASET_STD
        self.image_mean: Tuple[float, ...] = tuple(float(v) for v in mean)
        self.image_std: Tuple[float, ...] = tuple(float(v) for v in std)
        self.random_weights: bool = bool(getattr(clip, RANDOM_ATTR, False))
        self.special_token_ids: Optional[Tuple[int, int]] = _special_token_ids(name)
        self._pos_cache: Dict[Tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def train(self, mode: bool = True) -> 'FrozenClip':
        # CLIP stays in eval mode whatever the parent does: no dropout, fixed statistics.
        super().train(False)
        return self

    # -- image --------------------------------------------------------------------------------
    def _positional(self, grid: Tuple[int, int], device: torch.device,
                    dtype: torch.dtype) -> torch.Tensor:
        """Positional embeddings resized to `grid` (bicubic); cached per grid, device and dtype."""
        key = (grid[0], grid[1], device, dtype)
        cached = self._pos_cache.get(key)
        if cached is not None:
            return cached
        pos = self.clip.visual.positional_embedding
        cls_pos, patch_pos = pos[:1], pos[1:]
        side = int(math.isqrt(patch_pos.shape[0]))
        src = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
        if (side, side) != grid:
            src = F.interpolate(src, size=grid, mode='bicubic', align_corners=False)
        patch_pos = src.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1)
        out = torch.cat([cls_pos.float(), patch_pos], dim=0).to(device=device, dtype=dtype)
        self._pos_cache[key] = out
        return out

    def image_taps(self, images: torch.Tensor) -> Tuple[List[torch.Tensor], Tuple[int, int]]:
        """(B, 3, H, W) normalised, H, W multiples of the patch -> [(B, h*w, C)] taps, (h, w)."""
        visual = self.clip.visual
        x = visual.conv1(images)
        grid = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self._positional(grid, x.device, x.dtype)
        x = visual.ln_pre(x)
        taps: List[torch.Tensor] = []
        # Blocks after the last tap never run: they cost time and feed nothing.
        tapped = self.taps[-1]
        x = x.transpose(0, 1).contiguous()  # (L, B, C): see _run_block
        for index, block in enumerate(visual.transformer.resblocks[:tapped], start=1):
            x = _run_block(block, x, visual.transformer)
            if index in self.taps:
                taps.append(x.transpose(0, 1)[:, 1:].contiguous())
        return taps, grid

    def patch_embeddings(self, images: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """
        Embed patches: (B, 3, H, W) -> (B, h*w, embed_dim) via all blocks, ln_post and proj.

        What zero-shot methods (DepthCLIP) compare with text embeddings; the depth model itself
        never runs this.
        """
        visual = self.clip.visual
        x = visual.conv1(images)
        grid = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self._positional(grid, x.device, x.dtype)
        x = visual.ln_pre(x)
        x = x.transpose(0, 1).contiguous()  # (L, B, C): see _run_block
        for block in visual.transformer.resblocks:
            x = _run_block(block, x, visual.transformer)
        x = x.transpose(0, 1)[:, 1:]
        x = visual.ln_post(x)
        if visual.proj is not None:
            x = x @ visual.proj
        return x, grid

    # -- text ---------------------------------------------------------------------------------
    def special_token_embeddings(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the frozen (SOS, EOS) token embeddings, each (text_width,), by tokenizer id."""
        if self.special_token_ids is None:
            raise BackboneError(f'the tokenizer of {self.name!r} has no start/end-of-text '
                                'tokens: use mirror_sos_eos: false')
        weight = self._text.token_embedding.weight
        sot, eot = self.special_token_ids
        return weight[sot], weight[eot]

    def encode_embeddings(self, embeddings: torch.Tensor, pool_index: int) -> torch.Tensor:
        """
        Encode (B, n, text_width) token embeddings to (B, embed_dim), as open_clip's encode_text.

        Positional embeddings for the n positions, the causal mask cut to n, ln_final, pooling
        at `pool_index`, then the text projection. Gradients flow back to `embeddings`.
        """
        text = self._text
        n = embeddings.shape[1]
        if n > self.context_length:
            raise BackboneError(f'{n} text positions exceed the context length '
                                f'{self.context_length}')
        x = embeddings + text.positional_embedding[:n].to(embeddings.dtype)
        mask = text.attn_mask[:n, :n] if text.attn_mask is not None else None
        transformer = text.transformer
        if getattr(transformer, 'batch_first', True):
            x = transformer(x, attn_mask=mask)
        else:
            x = transformer(x.transpose(0, 1), attn_mask=mask).transpose(0, 1)
        x = text.ln_final(x)
        pooled = x[:, pool_index]
        projection = text.text_projection
        if projection is None:
            return pooled
        if isinstance(projection, nn.Linear):
            return projection(pooled)
        return pooled @ projection

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Encode natural-language prompts with the frozen text tower -> (len(texts), dim)."""
        tokenizer = open_clip.get_tokenizer(self.name)
        tokens = tokenizer(list(texts)).to(self._text.token_embedding.weight.device)
        return self.clip.encode_text(tokens)


def _run_block(block: nn.Module, x: torch.Tensor, transformer: nn.Module) -> torch.Tensor:
    """
    Run one ViT block on contiguous sequence-first tokens (L, B, C), as open_clip computes it.

    open_clip's blocks are batch-first: nn.MultiheadAttention transposes (B, L, C) to a
    non-contiguous (L, B, C) and its in-projection (F.linear) then cannot fold into one matmul.
    Torch broadcasts the weight to a (L, C, 3C) bmm, which CPU bf16 materialises: 2.2 GB copied
    per ViT-B block, 18.7 s instead of 0.5 s for two 640x480 frames (fp32 and B = 1 escape it;
    bf16 tokens also rule out MHA's fused fast path). A plain ResidualAttentionBlock therefore runs
    here, step by step, on contiguous (L, B, C) tokens: the same operations and weights as its own
    forward (the slow path of nn.MultiheadAttention); any other block runs as it is.
    """
    attn = getattr(block, 'attn', None)
    plain = (type(block) is open_clip.transformer.ResidualAttentionBlock
             and not hasattr(block, 'ln_1_kv') and type(attn) is nn.MultiheadAttention
             and attn._qkv_same_embed_dim and not attn.training)
    if not plain:
        if getattr(transformer, 'batch_first', True):
            return block(x.transpose(0, 1)).transpose(0, 1).contiguous()
        return block(x)
    h = block.ln_1(x)
    a = F.multi_head_attention_forward(
        h, h, h, attn.embed_dim, attn.num_heads, attn.in_proj_weight, attn.in_proj_bias,
        attn.bias_k, attn.bias_v, attn.add_zero_attn, attn.dropout, attn.out_proj.weight,
        attn.out_proj.bias, training=False, need_weights=False)[0]
    x = x + block.ls_1(a)
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _special_token_ids(name: str) -> Optional[Tuple[int, int]]:
    """(start, end) of text ids from the model's own tokenizer; None when it has neither."""
    tokenizer = open_clip.get_tokenizer(name)
    sot = getattr(tokenizer, 'sot_token_id', None)
    eot = getattr(tokenizer, 'eot_token_id', None)
    if isinstance(sot, int) and isinstance(eot, int):
        return sot, eot
    return None


def _pair(value) -> Tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _projection_out(projection, default: int) -> int:
    if projection is None:
        return default
    if isinstance(projection, nn.Linear):
        return projection.out_features
    return projection.shape[1]
