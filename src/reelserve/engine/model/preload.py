"""Imported once by the model workers' fork server (``client._context``), never by the API process.

diffusers and transformers import their model classes lazily, on first attribute access: for tiny-wan
that first access (the VAE, the transformer, UMT5) is ~7 s of imports here, on top of ~8 s for torch
and diffusers themselves. Touching them in the fork server makes every forked model worker start with
all of it loaded. Nothing here runs a torch op (no thread pool, no CUDA context before the fork).
"""

from __future__ import annotations

import contextlib

import torch  # noqa: F401

import reelserve.engine.model.worker
import reelserve.models.registry
import reelserve.models.wan  # noqa: F401

with contextlib.suppress(ImportError):  # the classes tiny-wan and the Wan adapters build
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel  # noqa: F401
    from tokenizers import Tokenizer  # noqa: F401
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel  # noqa: F401
