"""The Wan text-to-video adapter: real diffusers components, our own step-wise denoising loop.

We drive ``WanPipeline``'s components ourselves rather than calling the pipeline, because serving
needs what ``__call__`` cannot give: one denoising step at a time (preemption and cancellation at step
boundaries, batching across requests), a checkpoint of the complete solver state (latents and the
multistep scheduler's history) that resumes bit-identically in another process, and continuation of a
clip from the last latent frames of the previous segment (long clips, streaming chunks).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reelserve.core.errors import InvalidInput, ModelError, OutOfMemory, WeightsError
from reelserve.models.catalog import ModelCard
from reelserve.models.registry import register
from reelserve.models.tiny import TINY_CONFIGS, build_components
from reelserve.models.weights import check_weights_dir, hash_state_dicts, hash_weights_dir

__all__ = ["DenoiseState", "TextCond", "WanT2V", "pick_device"]

#: Scheduler attributes that are configuration, not solver state, and are never checkpointed.
_SCHED_SKIP = {"_internal_dict", "config"}


def pick_device(name: str | None = None) -> torch.device:
    """``cuda`` when present (or the device asked for), else the CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(slots=True)
class TextCond:
    """Text conditioning for a batch: prompt embeddings and, with guidance, negative ones."""

    embeds: torch.Tensor
    negative: torch.Tensor | None
    guidance_scale: float


@dataclass(slots=True)
class DenoiseState:
    """Everything needed to continue denoising a batch from ``step``; checkpointable as bytes."""

    latents: torch.Tensor  #: (B, C, T_lat, H/8, W/8), float32
    step: int  #: steps done so far
    total: int  #: steps in all
    scheduler: Any  #: a private copy of the solver, whose history is part of the state
    cond_latents: torch.Tensor | None = None  #: clean latent frames the clip continues from
    cond_noise: torch.Tensor | None = None  #: fixed noise used to re-noise ``cond_latents`` per step
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.step >= self.total


class WanT2V:
    """A loaded Wan text-to-video model on one device; kept loaded between jobs by its worker."""

    def __init__(self, card: ModelCard, components: dict[str, Any], device: torch.device, weights_hash: str):
        self.card = card
        self.device = device
        self.weights_hash = weights_hash
        self.tokenizer = components["tokenizer"]
        self.text_encoder = components["text_encoder"].to(device)
        # The dtype is chosen at load time (bf16 on accelerators, fp32 on the CPU), never cast here:
        # diffusers keeps some Wan modules in fp32 and a blanket cast would break that.
        self.transformer = components["transformer"].to(device)
        self.dtype = self.transformer.dtype
        self.vae = components["vae"].to(device)
        self.scheduler = components["scheduler"]
        self.max_sequence_length = 512 if card.weights_required else 64
        self._pipe: Any = None

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, card: ModelCard, weights: Path | None = None, device: str | None = None) -> WanT2V:
        """Build a built-in tiny model, or load real weights from a local diffusers directory."""
        dev = pick_device(device)
        if weights is None:
            if card.name not in TINY_CONFIGS:
                raise WeightsError(
                    f"{card.name} needs its weights: pass --weights DIR (a local diffusers directory); "
                    f"built-in models are {', '.join(sorted(TINY_CONFIGS))}"
                )
            comps = build_components(card.name)
            digest = hash_state_dicts({k: comps[k] for k in ("text_encoder", "transformer", "vae")})
            return cls(card, comps, dev, digest)
        check_weights_dir(weights)
        from diffusers import WanPipeline

        # bf16 for the transformer on accelerators; fp32 on the CPU (bf16 matmuls are slow there).
        dtypes = {
            "transformer": torch.bfloat16 if dev.type == "cuda" else torch.float32,
            "default": torch.float32,
        }
        try:
            pipe = WanPipeline.from_pretrained(str(weights), dtype=dtypes)
        except Exception as exc:  # diffusers raises many types for a broken directory
            raise WeightsError(f"could not load weights from {weights}: {type(exc).__name__}: {exc}") from exc
        comps = {
            k: getattr(pipe, k) for k in ("tokenizer", "text_encoder", "transformer", "vae", "scheduler")
        }
        return cls(card, comps, dev, hash_weights_dir(weights))

    def save_pretrained(self, out: Path) -> None:
        """Write the model as a diffusers directory (how the tiny models exercise real loading)."""
        from diffusers import WanPipeline

        pipe = WanPipeline(
            tokenizer=self.tokenizer,
            text_encoder=self.text_encoder,
            transformer=self.transformer,
            vae=self.vae,
            scheduler=self.scheduler,
        )
        pipe.save_pretrained(str(out))

    def _pipeline(self) -> Any:
        if self._pipe is None:
            from diffusers import WanPipeline

            self._pipe = WanPipeline(
                tokenizer=self.tokenizer,
                text_encoder=self.text_encoder,
                transformer=self.transformer,
                vae=self.vae,
                scheduler=self.scheduler,
            )
        return self._pipe

    # -- the three model phases ---------------------------------------------------------------

    @torch.inference_mode()
    def encode_text(self, prompts: list[str], negative: list[str], guidance_scale: float) -> TextCond:
        use_cfg = guidance_scale > 1.0
        embeds, neg = self._pipeline().encode_prompt(
            prompt=prompts,
            negative_prompt=negative if use_cfg else None,
            do_classifier_free_guidance=use_cfg,
            max_sequence_length=self.max_sequence_length,
            device=self.device,
        )
        neg = neg.to(self.dtype) if use_cfg and neg is not None else None
        return TextCond(embeds.to(self.dtype), neg, guidance_scale)

    def latent_shape(self, batch: int, width: int, height: int, frames: int) -> tuple[int, ...]:
        s, t = self.card.vae_spatial, self.card.vae_temporal
        return (batch, self.transformer.config.in_channels, (frames - 1) // t + 1, height // s, width // s)

    def start(
        self,
        *,
        seeds: list[int],
        width: int,
        height: int,
        frames: int,
        steps: int,
        cond_latents: torch.Tensor | None = None,
    ) -> DenoiseState:
        """Initial noise (one seeded generator per batch item) and a fresh solver."""
        shape = self.latent_shape(1, width, height, frames)
        noises = []
        cond_noise = []
        for seed in seeds:
            gen = torch.Generator(device="cpu").manual_seed(seed)
            noises.append(torch.randn(shape, generator=gen, dtype=torch.float32))
            if cond_latents is not None:
                cond_noise.append(torch.randn(cond_latents.shape[1:], generator=gen, dtype=torch.float32))
        sched = copy.deepcopy(self.scheduler)
        sched.set_timesteps(steps, device=self.device)
        sched.set_begin_index(0)
        state = DenoiseState(
            latents=torch.cat(noises).to(self.device),
            step=0,
            total=steps,
            scheduler=sched,
        )
        if cond_latents is not None:
            if cond_latents.shape[0] != len(seeds):
                raise InvalidInput("continuation latents must have one entry per batch item")
            state.cond_latents = cond_latents.to(self.device, torch.float32)
            state.cond_noise = torch.stack(cond_noise).to(self.device)
        return state

    def _apply_condition(self, state: DenoiseState, sigma: float | None) -> None:
        """Pin the first latent frames to the clip we continue from, noised to the current level."""
        if state.cond_latents is None or state.cond_noise is None:
            return
        m = state.cond_latents.shape[2]
        if sigma is None:
            state.latents[:, :, :m] = state.cond_latents
        else:
            state.latents[:, :, :m] = sigma * state.cond_noise + (1.0 - sigma) * state.cond_latents

    @torch.inference_mode()
    def step(self, state: DenoiseState, cond: TextCond) -> DenoiseState:
        """One denoising step, in place; raise ``OutOfMemory``/``ModelError`` on device failure."""
        sched = state.scheduler
        t = sched.timesteps[state.step]
        self._apply_condition(state, float(sched.sigmas[state.step]))
        x = state.latents.to(self.dtype)
        timestep = t.expand(x.shape[0])
        try:
            pred = self.transformer(
                hidden_states=x, timestep=timestep, encoder_hidden_states=cond.embeds, return_dict=False
            )[0]
            if cond.negative is not None:
                uncond = self.transformer(
                    hidden_states=x, timestep=timestep, encoder_hidden_states=cond.negative, return_dict=False
                )[0]
                pred = uncond + cond.guidance_scale * (pred - uncond)
        except torch.OutOfMemoryError as exc:
            raise OutOfMemory(f"device {self.device} ran out of memory at batch {x.shape[0]}") from exc
        except RuntimeError as exc:
            raise ModelError(f"the transformer failed at step {state.step}: {exc}") from exc
        state.latents = sched.step(pred.float(), t, state.latents, return_dict=False)[0]
        state.step += 1
        if state.done:
            self._apply_condition(state, None)
        return state

    @torch.inference_mode()
    def step_many(self, states: list[DenoiseState], conds: list[TextCond]) -> None:
        """One denoising step for several states in ONE batched forward, each with its own text
        conditioning, solver and step index (continuous batching: members may be at different steps).

        States must share their latent shape after the batch dimension. Each state advances in place
        exactly as ``step`` would advance it alone, up to floating-point reassociation in the batched
        matmuls (outputs of co-batched items agree to ~1e-6, not bit for bit).
        """
        if len(states) != len(conds) or not states:
            raise InvalidInput("step_many needs one text conditioning per state, and at least one state")
        if len({tuple(s.latents.shape[1:]) for s in states}) != 1:
            raise InvalidInput("states batched together must have the same size and frame count")
        for s in states:
            self._apply_condition(s, float(s.scheduler.sigmas[s.step]))
        sizes = [s.latents.shape[0] for s in states]
        ts = [s.scheduler.timesteps[s.step] for s in states]
        x = torch.cat([s.latents for s in states]).to(self.dtype)
        timestep = torch.cat([t.reshape(1).expand(n) for t, n in zip(ts, sizes, strict=True)])
        embeds = torch.cat([c.embeds for c in conds])
        guided = [i for i, c in enumerate(conds) if c.negative is not None]
        try:
            pred = self.transformer(
                hidden_states=x, timestep=timestep, encoder_hidden_states=embeds, return_dict=False
            )[0]
            preds = list(pred.split(sizes))
            if guided:
                rows = torch.cat([states[i].latents for i in guided]).to(self.dtype)
                neg = torch.cat([conds[i].negative for i in guided])  # type: ignore[misc]
                t_rows = torch.cat([ts[i].reshape(1).expand(sizes[i]) for i in guided])
                uncond = self.transformer(
                    hidden_states=rows, timestep=t_rows, encoder_hidden_states=neg, return_dict=False
                )[0].split([sizes[i] for i in guided])
                for i, u in zip(guided, uncond, strict=True):
                    preds[i] = u + conds[i].guidance_scale * (preds[i] - u)
        except torch.OutOfMemoryError as exc:
            raise OutOfMemory(f"device {self.device} ran out of memory at batch {x.shape[0]}") from exc
        except RuntimeError as exc:
            raise ModelError(f"the transformer failed in a batch of {len(states)}: {exc}") from exc
        for s, p, t in zip(states, preds, ts, strict=True):
            s.latents = s.scheduler.step(p.float(), t, s.latents, return_dict=False)[0]
            s.step += 1
            if s.done:
                self._apply_condition(s, None)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents → uint8 RGB frames, shape (B, T, H, W, 3)."""
        cfg = self.vae.config
        mean = torch.tensor(cfg.latents_mean).view(1, cfg.z_dim, 1, 1, 1).to(latents.device)
        std = torch.tensor(cfg.latents_std).view(1, cfg.z_dim, 1, 1, 1).to(latents.device)
        try:
            video = self.vae.decode(latents.float() * std + mean, return_dict=False)[0]
        except torch.OutOfMemoryError as exc:
            raise OutOfMemory(f"device {self.device} ran out of memory in the VAE decode") from exc
        video = ((video.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        return video.permute(0, 2, 3, 4, 1).contiguous().cpu().numpy()

    # -- checkpoints --------------------------------------------------------------------------

    @staticmethod
    def dump_state(state: DenoiseState) -> bytes:
        sched = {k: v for k, v in vars(state.scheduler).items() if k not in _SCHED_SKIP}
        buf = io.BytesIO()
        torch.save(
            {
                "latents": state.latents.cpu(),
                "step": state.step,
                "total": state.total,
                "scheduler": sched,
                "cond_latents": None if state.cond_latents is None else state.cond_latents.cpu(),
                "cond_noise": None if state.cond_noise is None else state.cond_noise.cpu(),
                "meta": state.meta,
            },
            buf,
        )
        return buf.getvalue()

    def load_state(self, data: bytes) -> DenoiseState:
        """Restore a checkpoint written by ``dump_state`` (our own blob, verified by hash first)."""
        raw = torch.load(io.BytesIO(data), map_location=self.device, weights_only=False)
        sched = copy.deepcopy(self.scheduler)
        sched.set_timesteps(raw["total"], device=self.device)
        vars(sched).update(raw["scheduler"])
        dev = self.device
        return DenoiseState(
            latents=raw["latents"].to(dev),
            step=raw["step"],
            total=raw["total"],
            scheduler=sched,
            cond_latents=None if raw["cond_latents"] is None else raw["cond_latents"].to(dev),
            cond_noise=None if raw["cond_noise"] is None else raw["cond_noise"].to(dev),
            meta=raw["meta"],
        )


register("wan-t2v")(WanT2V)
