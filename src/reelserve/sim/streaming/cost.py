"""Per-chunk cost from a measured model profile, instead of TurboServe's per-chunk formula.

With a ``ChunkCost`` a forward of ``b`` coalesced chunks keeps its GPU (or CPU worker) busy for
``forward_ms(b)`` — the profile's batch-size-dependent figure: denoising steps plus the VAE decode of
every chunk — and each chunk is delivered ``encode_ms`` later: encoding runs off the model worker, so
it adds to the chunk's latency but not to the worker's busy time. ``scale`` multiplies both, for a
worker that runs slower than the profile was measured (e.g. sharing its cores). This is how the
simulator models the live engine's model workers (``benchmarks/sim_fidelity.py``).

For the ``continuous`` policy (step-level continuous batching, ``sim.streaming.steps``) it also holds
the parts: one denoising step of a running set of ``b`` chunks, ``step_ms(b)``, and the batched VAE
decode of the ``k`` chunks that finish at the same step, ``decode_ms(k)``; a chunk takes ``steps`` steps.

Built ``from_chunk_path`` (what ``reelserve profile --chunk-path`` measures on the engine's own code, the
worker's parts in a model worker process while the driver's encodes overlap them, as in the engine) it
also carries a ``ChunkPath``: *samples* of every part of a chunk's way through the engine — each step,
each batched decode, admitting a chunk, its state export and reply on the worker, the reply to the
driver, the fMP4 encode, the next request to the worker. Given a seeded generator, ``step_ms``,
``decode_ms`` and the rest then draw one sample each call (with replacement), so the simulated worker
has the measured service-time variance; without one they return the medians. The deliveries of the
chunks handed back together are drawn as one measured hand-back (``deliver_group_ms``), not one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np

from reelserve.core.errors import InvalidInput
from reelserve.sched.latency import Profile

__all__ = ["ChunkCost", "ChunkPath"]

Samples = tuple[float, ...]

#: ``chunk_path`` versions read: 1 (parts timed one after another in one process), 2 (``engine.model.
#: chunk_profile``: the worker's parts in a model worker process, overlapping the driver's)
CHUNK_PATH_VERSIONS = (1, 2)


@dataclass(frozen=True, slots=True)
class ChunkPath:
    """Measured samples (ms) of a chunk's path through the engine (``engine.model.chunk_profile``)."""

    step: tuple[Samples, ...]  #: one batched denoising step of a running set of b = 1, 2, ...
    decode: tuple[Samples, ...]  #: the batched VAE decode of k = 1, 2, ... chunks finishing together
    admit: Samples  #: admitting one chunk to the running set (fresh noise + its continuation latent)
    finish: Samples  #: one finished chunk on the worker: tail kept, state exported, reply pickled
    reply: Samples  #: that reply to the driver's coroutine (pipe, reader thread, event loop)
    encode: Samples  #: its fMP4 segment, off the worker
    request: Samples  #: the next chunk's request to the worker
    open: Samples = ()  #: a new session on the worker: its record and prompt encoding (first chunk)
    #: reply + encode of each of k = 1, 2, ... chunks handed back together: for k, the k chunks of one
    #: hand-back in reply order, hand-back after hand-back (so consecutive runs of k are one group)
    deliver: tuple[Samples, ...] = ()
    #: the same hand-backs' segments encoded, from the end of the step that finished them (ms; < 0 when
    #: a chunk was encoded while the worker still handed back the others); () in older profiles
    handback: tuple[Samples, ...] = ()

    def __post_init__(self) -> None:
        groups = (*self.step, *self.decode, self.admit, self.finish, self.reply, self.encode, self.request)
        if not self.step or not self.decode or any(not g or min(g) < 0 for g in groups):
            raise InvalidInput("chunk path: every part needs at least one sample, all >= 0 ms")
        if any(min(g, default=-1.0) < 0 for g in (*self.deliver, *((self.open,) if self.open else ()))):
            raise InvalidInput("chunk path: open and deliver samples must be >= 0 ms, none empty")

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChunkPath:
        """From the ``chunk_path`` object ``reelserve profile --chunk-path`` writes: version 2 (the
        worker's parts in a model worker process overlapping the driver's, as in the engine) or 1 (no
        ``version``: all parts one after another in one process; same keys, still read)."""
        version = raw.get("version", 1)
        if version not in CHUNK_PATH_VERSIONS:
            raise InvalidInput(
                f"chunk path: version {version!r} is not one this simulator reads "
                f"({', '.join(map(str, CHUNK_PATH_VERSIONS))}); re-measure with this reelserve's "
                "`reelserve profile --chunk-path`"
            )
        try:
            by = [
                tuple(tuple(float(v) for v in raw[key][str(b)]) for b in range(1, len(raw[key]) + 1))
                for key in ("step_ms", "decode_ms")
            ]
            flat = [
                tuple(float(v) for v in raw[f"{key}_ms"])
                for key in ("admit", "finish", "reply", "encode", "request")
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"chunk path: missing or malformed samples ({exc})") from exc
        opened = tuple(float(v) for v in raw.get("open_ms", ()))
        deliver, handback = (_groups(raw, key) for key in ("deliver_ms", "handback_ms"))
        return cls(by[0], by[1], flat[0], flat[1], flat[2], flat[3], flat[4], opened, deliver, handback)


def _groups(raw: Mapping[str, Any], key: str) -> tuple[Samples, ...]:
    """``raw[key]``: samples of hand-backs of k = 1..n chunks, each size's a whole number of groups."""
    together = raw.get(key, {})
    sizes = [str(k) for k in range(1, len(together) + 1)]
    if sorted(together, key=int) != sizes or any(len(together[k]) % int(k) for k in sizes):
        got = {k: len(v) for k, v in together.items()}
        raise InvalidInput(f"chunk path: {key} needs whole hand-backs of 1..k chunks (got {got})")
    return tuple(tuple(float(v) for v in together[k]) for k in sizes)


def _draw(samples: Samples, rng: np.random.Generator | None) -> float:
    """One sample (with replacement), or the median without a generator."""
    if rng is None:
        return float(median(samples))
    return samples[int(rng.integers(len(samples)))]


def _draw_at(groups: tuple[Samples, ...], batch: int, rng: np.random.Generator | None) -> float:
    """A sample at ``batch``; beyond the measured sizes, one at the largest plus the medians' slope."""
    if batch <= len(groups):
        return _draw(groups[batch - 1], rng)
    medians = tuple(median(g) for g in groups)
    return _draw(groups[-1], rng) + _at(medians, batch) - medians[-1]


@dataclass(frozen=True, slots=True)
class ChunkCost:
    """What one streaming chunk costs (every session of the run alike), in ms."""

    forward_by_batch: tuple[float, ...]  #: worker time of a forward of b = 1, 2, ... chunks
    encode: float  #: encoding one chunk, after its forward, off the worker
    scale: float = 1.0  #: multiplies every figure (a worker slower than where it was profiled)
    step_by_batch: tuple[float, ...] = ()  #: one denoising step of b = 1, 2, ... chunks (step-level)
    decode_by_batch: tuple[float, ...] = ()  #: VAE decode of b chunks finishing together (step-level)
    steps: int = 0  #: denoising steps per chunk (step-level); 0 = no step-level figures
    path: ChunkPath | None = None  #: measured samples of the engine's per-chunk path (step-level)

    def __post_init__(self) -> None:
        times = self.forward_by_batch
        if not times or min(times) <= 0 or self.encode < 0 or self.scale <= 0:
            raise InvalidInput("chunk cost: forward times must be > 0, encode >= 0 and scale > 0")
        parts = (self.step_by_batch, self.decode_by_batch)
        if self.steps and (not all(parts) or min(min(x) for x in parts) < 0):
            raise InvalidInput("chunk cost: step-level figures need step and decode times >= 0 by batch")

    @property
    def step_level(self) -> bool:
        """True when it can drive step-level continuous batching."""
        return self.steps > 0

    @classmethod
    def from_profile(
        cls, profile: Profile, width: int, height: int, frames: int, steps: int, max_batch: int
    ) -> ChunkCost:
        """From a fitted profile: ``steps · step_ms(b) + vae_decode · b`` for b = 1..max_batch."""
        mvox = width * height * frames / 1e6
        batches = range(1, max_batch + 1)
        step = tuple(profile.step_ms(width, height, frames, b) for b in batches)
        decode = tuple(profile.vae_decode_ms_per_mvoxel * mvox * b for b in batches)
        times = tuple(steps * s + d for s, d in zip(step, decode, strict=True))
        return cls(times, profile.encode_ms_per_mvoxel * mvox, 1.0, step, decode, steps)

    @classmethod
    def from_measurements(
        cls, rows: Sequence[Mapping[str, Any]], width: int, height: int, frames: int, steps: int
    ) -> ChunkCost:
        """From ``reelserve profile`` rows measured at exactly this size, one per batch 1, 2, ... n."""
        at = {
            int(r["batch"]): r
            for r in rows
            if (r["width"], r["height"], r["frames"]) == (width, height, frames)
        }
        if not at or sorted(at) != list(range(1, max(at) + 1)):
            raise InvalidInput(f"the profile has no batch 1..n measurements at {width}x{height}x{frames}")
        step = tuple(float(at[b]["step_ms"]) for b in sorted(at))
        decode = tuple(float(at[b]["vae_decode_ms"]) for b in sorted(at))
        times = tuple(steps * s + d for s, d in zip(step, decode, strict=True))
        encode = median(float(r["encode_ms"]) / b for b, r in at.items())
        return cls(times, encode, 1.0, step, decode, steps)

    @classmethod
    def from_chunk_path(cls, raw: Mapping[str, Any]) -> ChunkCost:
        """From ``reelserve profile --chunk-path`` (its ``chunk_path`` object): medians for the
        chunk-level figures, and every sample kept for the step-level draws."""
        path = ChunkPath.from_json(raw)
        steps = int(raw["steps"])
        step = tuple(float(median(g)) for g in path.step)
        decode = tuple(float(median(g)) for g in path.decode)
        per_chunk = median(path.admit) + median(path.finish)
        pairs = enumerate(zip(step, decode, strict=True), start=1)
        times = tuple(steps * s + d + per_chunk * b for b, (s, d) in pairs)
        encode = float(median(path.reply) + median(path.encode))
        return cls(times, encode, 1.0, step, decode, steps, path)

    def forward_ms(self, batch: int) -> float:
        """Worker time of one forward over ``batch`` chunks (linear beyond the measured batches)."""
        return self.scale * _at(self.forward_by_batch, batch)

    def step_ms(self, batch: int, rng: np.random.Generator | None = None) -> float:
        """One denoising step of a running set of ``batch`` chunks (step-level figures); with ``rng``
        and measured samples, one drawn from them."""
        if rng is not None and self.path is not None:
            return self.scale * _draw_at(self.path.step, batch, rng)
        return self.scale * _at(self.step_by_batch, batch)

    def decode_ms(self, batch: int, rng: np.random.Generator | None = None) -> float:
        """The batched VAE decode of ``batch`` chunks that finished at the same step (0 for none)."""
        if batch <= 0:
            return 0.0
        if rng is not None and self.path is not None:
            return self.scale * _draw_at(self.path.decode, batch, rng)
        return self.scale * _at(self.decode_by_batch, batch)

    def encode_ms(self) -> float:
        """Encoding one chunk after its forward (off the worker)."""
        return self.scale * self.encode

    def admit_ms(self, rng: np.random.Generator | None = None) -> float:
        """Worker time to admit one chunk to the running set (0 without a measured path)."""
        return 0.0 if self.path is None else self.scale * _draw(self.path.admit, rng)

    def finish_ms(self, rng: np.random.Generator | None = None) -> float:
        """Worker time to hand one finished chunk back: state export, reply (0 without a path)."""
        return 0.0 if self.path is None else self.scale * _draw(self.path.finish, rng)

    def deliver_ms(self, rng: np.random.Generator | None = None, together: int = 1) -> float:
        """From a chunk's reply leaving the worker to its segment encoded, for one of ``together``
        chunks handed back at once (they share the encode pool); ``encode_ms`` without a path."""
        if self.path is None:
            return self.encode_ms()
        if self.path.deliver:
            return self.scale * _draw_at(self.path.deliver, together, rng)
        return self.scale * (_draw(self.path.reply, rng) + _draw(self.path.encode, rng))

    def deliver_group_ms(self, together: int, rng: np.random.Generator | None = None) -> tuple[float, ...]:
        """``deliver_ms`` for each of ``together`` chunks handed back at once, in hand-back order. With a
        generator and a measured group of that size, ONE measured hand-back is drawn whole: its chunks
        met the same moment of the machine and of the encode pool, so their deliveries lie much closer
        together than independent draws would put them (which decides whether they come back within
        the batcher's wait for company). Otherwise, one ``deliver_ms`` each."""
        path = self.path
        if rng is not None and path is not None and together <= len(path.deliver):
            samples = path.deliver[together - 1]
            if len(samples) % together == 0:
                g = int(rng.integers(len(samples) // together)) * together
                return tuple(self.scale * v for v in samples[g : g + together])
        return tuple(self.deliver_ms(rng, together) for _ in range(together))

    def handback_group_ms(self, together: int, rng: np.random.Generator) -> tuple[float, ...] | None:
        """When each of ``together`` chunks finished at one step has its segment encoded, in ms from the
        step's end (negative: before it; the worker reads the next requests only at its end): one
        measured hand-back of that many, drawn whole. None without such samples (older profiles)."""
        path = self.path
        if path is None or together > len(path.handback) or not path.handback[together - 1]:
            return None
        samples = path.handback[together - 1]
        g = int(rng.integers(len(samples) // together)) * together
        return tuple(self.scale * v for v in samples[g : g + together])

    def open_ms(self, rng: np.random.Generator | None = None) -> float:
        """From a new session's ``open`` being answered to its first request in the batcher: the answer's
        way back, the request's way there and the worker's prompt encoding (0 without those samples)."""
        if self.path is None or not self.path.open:
            return 0.0
        p = self.path
        return self.scale * (_draw(p.reply, rng) + _draw(p.request, rng) + _draw(p.open, rng))

    def request_ms(self, rng: np.random.Generator | None = None) -> float:
        """From a chunk requested to the worker seeing the request (0 without a measured path)."""
        return 0.0 if self.path is None else self.scale * _draw(self.path.request, rng)


def _at(times: tuple[float, ...], batch: int) -> float:
    """``times[batch - 1]``, extended linearly beyond the measured batches."""
    if batch <= len(times):
        return times[batch - 1]
    slope = times[-1] - times[-2] if len(times) > 1 else times[-1]
    return times[-1] + slope * (batch - len(times))
