"""Placement's latency prediction, calibrated from the chunk latencies the engine measures.

``sched.placement`` predicts a worker's per-chunk latency with TurboServe's formula: a per-session base
(``180 · compute_units · res_factor · √(frames/64)``) plus a load term ``per_session_ms · (n − 1) +
contention_ms · (n / capacity)²`` for ``n`` active sessions, 55 ms and 18 ms by default. That is a
reference GPU model; the engine's own model on its own device has another base and another cost per
extra session. This module fits, per chunk shape (model, size, frames, steps), the line

    latency_ms(n) = base_ms + slope · z(n),    z(n) = 55·(n − 1) + 18·(n / capacity)²

to observed chunks (each chunk's latency, request to encoded segment, against the number ``n`` of
active sessions on its worker): an exponential average of the latency at each load, and the weighted
least-squares line through the loads seen. ``base_ms`` is a lone session's chunk as measured (less the
contention term at load 1); ``slope · 55`` is what one more session costs here, ``slope · 18`` the
contention term's scale. Before any observation a shape uses the formula (base = the reference base,
slope = 1); while every observation was at one load, base and slope cannot be told apart and the
whole formula scales by observed / predicted (as ``engine.quality``'s ``CostModel`` does). Bad
observations (not finite, ≤ 0, load < 1) are ignored.

``calibrated_inputs`` hands ``sched.placement`` (the simulator's, shared and pure) what was measured,
in engine milliseconds: a session's ``compute_units`` is set so its base is the fitted ``base_ms``, and
the call's ``PlacementParams.per_session_ms`` / ``contention_ms`` are the fitted load costs — one pair
per call, since placement has one formula per worker: the largest among the call's shapes, so no
shape's load is under-predicted (a shape not observed yet counts with the params' own terms). For one
shape placement then predicts exactly the fitted line. Migration times, the chunk target
``admit_ms`` and ``min_gain_ms`` are real milliseconds already and pass through unchanged; by default
``min_gain_ms`` is 8/11 of ``per_session_ms`` (placement's doc), so the rebalancer's hysteresis is most
of one measured session's load: 40 ms in the simulator, ~8.5 ms for tiny-wan on a CPU where one more
session measured ~12 ms (``benchmarks.calibration_bench``) — a fixed 40 ms would never move a session
there. Before any observation nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reelserve.engine.sessions.spec import SessionSpec
from reelserve.sched.latency import (
    CONTENTION_MS,
    PER_SESSION_MS,
    batched_latency_ms,
    chunk_latency_ms,
    session_base_ms,
)
from reelserve.sched.placement import PlacementParams
from reelserve.sched.views import SessionView

__all__ = ["ChunkShape", "Fit", "LatencyCalibration", "ShapeFit", "calibrated_inputs", "load_term"]

#: the least spread of the loads' terms (weighted variance, reference ms²) that tells base from slope
MIN_LOAD_VARIANCE = 1.0


@dataclass(frozen=True, slots=True)
class ChunkShape:
    """What a chunk costs depends on: the model and the chunk's size, frames and steps."""

    model: str  #: model name
    width: int  #: frame width
    height: int  #: frame height
    frames: int  #: new frames per chunk (the view's ``frames``)
    steps: int  #: denoising steps

    @property
    def resolution(self) -> str:
        """The formula's resolution bucket (a key of ``sched.latency.RES_FACTOR``)."""
        h = self.height
        return "360p" if h <= 360 else "480p" if h <= 480 else "720p" if h <= 720 else "1080p"

    @property
    def reference_base_ms(self) -> float:
        """The formula's per-session base for this shape at ``compute_units`` 1."""
        return session_base_ms(1.0, self.resolution, self.frames)

    @classmethod
    def of(cls, spec: SessionSpec, steps: int | None = None) -> ChunkShape:
        """A session's chunks (at ``steps`` when a chunk runs with other than the spec's)."""
        return cls(spec.model, spec.width, spec.height, spec.chunk_frames, steps or spec.steps)

    def __str__(self) -> str:
        return f"{self.model}/{self.width}x{self.height}/{self.frames}f/{self.steps}s"


def load_term(load: int, capacity: int) -> float:
    """``z(n)``: the reference formula's load-dependent milliseconds for ``load`` >= 1 active sessions."""
    return batched_latency_ms(0.0, 0.0, float(load), float(capacity))  # the formula less base and prompt


@dataclass(frozen=True, slots=True)
class Fit:
    """One shape's predicted chunk latency: ``base_ms + slope · z(n)`` engine milliseconds."""

    base_ms: float  #: a lone session's chunk, less the formula's contention term at load 1
    slope: float  #: engine ms per reference ms of load (1 = the formula's 55 ms per extra session)
    source: str  #: "formula" (no observation), "ratio" (one load seen: scaled formula), "fit"
    observations: int  #: chunks folded in

    def predict_ms(self, z: float) -> float:
        return self.base_ms + self.slope * z

    @property
    def per_session_ms(self) -> float:
        """What one more active session adds to a chunk here (``PlacementParams.per_session_ms``)."""
        return self.slope * PER_SESSION_MS

    @property
    def contention_ms(self) -> float:
        """The contention term's scale here (``PlacementParams.contention_ms``)."""
        return self.slope * CONTENTION_MS


def _usable(z: float, latency_ms: float) -> bool:
    """A finite, positive latency at a finite, non-negative load term (a lost or broken timing is not)."""
    return math.isfinite(z) and math.isfinite(latency_ms) and z >= 0 and latency_ms > 0


class ShapeFit:
    """One shape's measurements: an exponential average of the chunk latency at each load seen, and
    the line through those averages (pure: no clock, no I/O)."""

    def __init__(self, reference_base_ms: float, alpha: float = 0.1) -> None:
        self.reference_base_ms = reference_base_ms
        self.alpha = alpha  #: weight of a load's newest chunk in that load's average
        self.observations = 0
        #: per load term z: [its chunks' averaged latency ms, chunks seen]. A load's average moves only
        #: with its own chunks, so hours at one load do not erase what the others taught
        self._at: dict[float, list[float]] = {}
        self._ratio = 1.0  #: observed / formula-predicted latency over every chunk, averaged alike

    def observe(self, z: float, latency_ms: float) -> bool:
        """Fold in one chunk; False (ignored) when it is not a usable measurement."""
        if not _usable(z, latency_ms):
            return False
        self.observations += 1
        ratio = latency_ms / (self.reference_base_ms + z)
        self._ratio += max(self.alpha, 1.0 / self.observations) * (ratio - self._ratio)
        point = self._at.setdefault(round(z, 6), [0.0, 0.0])
        point[1] += 1.0
        # a plain mean of a load's first 1/alpha chunks, then exponential: one slow first chunk (a
        # worker warming up) weighs 1/count, not the whole average
        point[0] += max(self.alpha, 1.0 / point[1]) * (latency_ms - point[0])
        return True

    def fit(self) -> Fit:
        n = self.observations
        if n == 0:
            return Fit(self.reference_base_ms, 1.0, "formula", 0)
        line = _line(self._at, 1.0 / self.alpha)
        if line is not None:
            return Fit(line[0], line[1], "fit", n)
        return Fit(self._ratio * self.reference_base_ms, self._ratio, "ratio", n)


def _line(points: dict[float, list[float]], most: float) -> tuple[float, float] | None:
    """(base, slope) of the least-squares line through the loads' averages, each weighted by its
    chunks up to ``most`` (an average of weight alpha holds about 1/alpha chunks' worth); None unless
    the loads are spread out and the line rises from a positive base (noise over a short history can
    tilt it: more sessions, faster)."""
    w = [min(count, most) for _, count in points.values()]
    total = sum(w)
    mz = sum(wi * z for wi, z in zip(w, points, strict=True)) / total
    my = sum(wi * p[0] for wi, p in zip(w, points.values(), strict=True)) / total
    var = sum(wi * (z - mz) ** 2 for wi, z in zip(w, points, strict=True)) / total
    if var < MIN_LOAD_VARIANCE:
        return None
    cov = sum(wi * (z - mz) * (p[0] - my) for wi, (z, p) in zip(w, points.items(), strict=True)) / total
    slope = cov / var
    base = my - slope * mz
    return (base, slope) if slope > 0 and base > 0 else None


class LatencyCalibration:
    """The engine's per-shape fits; ``observe`` from the chunk path, ``fit`` from placement calls, both
    on the manager's event loop."""

    def __init__(self, enabled: bool = True, alpha: float = 0.1) -> None:
        self.enabled = enabled  #: False: every shape keeps the formula (today's prediction)
        self.alpha = alpha
        self._fits: dict[ChunkShape, ShapeFit] = {}

    def observe(self, shape: ChunkShape, load: int, capacity: int, latency_ms: float) -> bool:
        """One chunk of ``shape`` took ``latency_ms`` with ``load`` active sessions on its worker."""
        if not self.enabled or load < 1 or capacity < 1:
            return False
        z = load_term(load, capacity)
        if not _usable(z, latency_ms):  # checked first: a shape appears once it has a measurement
            return False
        f = self._fits.get(shape)
        if f is None:
            f = self._fits[shape] = ShapeFit(shape.reference_base_ms, self.alpha)
        return f.observe(z, latency_ms)

    def fit(self, shape: ChunkShape) -> Fit:
        f = self._fits.get(shape)
        return Fit(shape.reference_base_ms, 1.0, "formula", 0) if f is None else f.fit()

    def describe(self, capacity: int) -> dict[str, Any]:
        """Per shape (metadata only): the fitted base, the cost of one more session, the predicted
        latency at loads 1 … capacity + 1, where the numbers come from and how many chunks made them."""
        fits = {shape: f.fit() for shape, f in self._fits.items()}
        out: dict[str, Any] = {}
        for shape, fit in sorted(fits.items(), key=lambda kv: str(kv[0])):
            loads = range(1, capacity + 2)
            out[str(shape)] = {
                "source": fit.source,
                "observations": fit.observations,
                "base_ms": round(fit.base_ms, 1),
                # placement's per_session_ms and contention_ms while this shape sets them
                "per_extra_session_ms": round(fit.per_session_ms, 1),
                "contention_ms": round(fit.contention_ms, 1),
                "slope": round(fit.slope, 4),  # engine ms per formula ms of load
                "predicted_ms": [round(fit.predict_ms(load_term(n, capacity)), 1) for n in loads],
                "formula_ms": [round(chunk_latency_ms(1.0, shape.resolution, shape.frames, 0, n, capacity), 1)
                               for n in loads],
            }  # fmt: skip
        return out


def calibrated_inputs(
    views: Sequence[SessionView],
    shapes: Mapping[str, ChunkShape],
    params: PlacementParams,
    calibration: LatencyCalibration,
) -> tuple[list[SessionView], PlacementParams]:
    """The inputs of one ``sched.placement`` call with the latency the engine measured (module doc).

    ``shapes`` maps a view's id to its chunk shape; a view without one, or of a shape not observed
    yet, keeps the formula's base. Everything stays in engine milliseconds, the decision's too.
    """
    fits = {shape: calibration.fit(shape) for shape in set(shapes.values())}  # a few shapes, many ids
    if all(f.source == "formula" for f in fits.values()):
        return list(views), params
    costs = [_load_costs(f, params) for f in fits.values()]
    out = [_measured(v, fits[shapes[v.id]]) if v.id in shapes else v for v in views]
    per_session, contention = max(c[0] for c in costs), max(c[1] for c in costs)
    return out, replace(params, per_session_ms=per_session, contention_ms=contention)


def _load_costs(fit: Fit, params: PlacementParams) -> tuple[float, float]:
    """(per_session_ms, contention_ms) of ``fit``'s shape: as measured, or the params' own while the
    shape is not observed (what it would predict uncalibrated)."""
    if fit.source == "formula":
        return params.per_session_ms, params.contention_ms
    return fit.per_session_ms, fit.contention_ms


def _measured(v: SessionView, fit: Fit) -> SessionView:
    """``v`` with the base its shape measured (``compute_units`` scales the formula's base to it)."""
    if fit.source == "formula":
        return v
    return replace(v, compute_units=fit.base_ms / session_base_ms(1.0, v.resolution, v.frames))
