"""Small Wan-family pipelines built from configs in code, with seeded random weights.

Weights cannot be downloaded here, so ``tiny-wan`` and ``small-wan`` are the real diffusers classes
(``WanTransformer3DModel``, ``AutoencoderKLWan``, UMT5 encoder, UniPC flow scheduler) at small sizes.
The compute is real; the output is noise-like video, which is all a serving system needs to be tested.
The tokenizer is a character-level ``tokenizers`` WordLevel model, so it works offline and distinct
prompts give distinct conditioning.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["TINY_CONFIGS", "TinyConfig", "build_components", "build_tokenizer"]


@dataclass(frozen=True, slots=True)
class TinyConfig:
    """Sizes of a random-initialised Wan pipeline."""

    heads: int
    head_dim: int
    layers: int
    ffn_dim: int
    text_dim: int
    text_layers: int
    vae_base_dim: int
    vae_res_blocks: int
    vae_dim_mult: tuple[int, ...] = (1, 1, 1, 1)
    seed: int = 0


TINY_CONFIGS: dict[str, TinyConfig] = {
    # ~0.2 M transformer parameters: the VAE decode dominates, as on real hardware at small sizes.
    "tiny-wan": TinyConfig(
        heads=2,
        head_dim=12,
        layers=2,
        ffn_dim=32,
        text_dim=32,
        text_layers=2,
        vae_base_dim=3,
        vae_res_blocks=1,
    ),
    # A few million transformer parameters and ~10 M in the VAE: denoising steps take tens of ms.
    "small-wan": TinyConfig(
        heads=4,
        head_dim=32,
        layers=8,
        ffn_dim=1024,
        text_dim=64,
        text_layers=2,
        vae_base_dim=32,
        vae_res_blocks=1,
        vae_dim_mult=(1, 2, 4, 4),
    ),
}

_SPECIALS = ["<pad>", "</s>", "<unk>"]


def build_tokenizer() -> Any:
    """A character-level tokenizer (printable ASCII), wrapped for ``transformers``."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - set("\t\n\r\x0b\x0c"))
    vocab = {tok: i for i, tok in enumerate(_SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


def build_components(name: str) -> dict[str, Any]:
    """The components of a ``WanPipeline`` for a tiny config, deterministic for its seed."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = TINY_CONFIGS[name]
    tokenizer = build_tokenizer()
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(cfg.seed)
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=len(tokenizer),
                d_model=cfg.text_dim,
                d_kv=max(8, cfg.text_dim // 4),
                d_ff=cfg.text_dim * 2,
                num_layers=cfg.text_layers,
                num_heads=4,
                relative_attention_num_buckets=8,
                pad_token_id=0,
                eos_token_id=1,
            )
        ).eval()
        torch.manual_seed(cfg.seed + 1)
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=cfg.heads,
            attention_head_dim=cfg.head_dim,
            in_channels=16,
            out_channels=16,
            text_dim=cfg.text_dim,
            freq_dim=256,
            ffn_dim=cfg.ffn_dim,
            num_layers=cfg.layers,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=1024,
        ).eval()
        torch.manual_seed(cfg.seed + 2)
        vae = AutoencoderKLWan(
            base_dim=cfg.vae_base_dim,
            z_dim=16,
            dim_mult=list(cfg.vae_dim_mult),
            num_res_blocks=cfg.vae_res_blocks,
            temperal_downsample=[False, True, True],
        ).eval()
    finally:
        torch.random.set_rng_state(gen_state)
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "transformer": transformer,
        "vae": vae,
        "scheduler": scheduler,
    }
