"""Model cost profiles: built-in defaults and ``load_profile(path)`` for measured ones.

A profile file is JSON, either with the coefficients of ``sched.latency.Profile``::

    {"model": "wan-14b", "device": "H100", "step_fixed_ms": 200, "step_ms_per_mvoxel": 35,
     "batch_exponent": 0.9, "vae_decode_ms_per_mvoxel": 60, "encode_ms_per_mvoxel": 20}

or with raw measurements to fit (what ``reelserve profile`` writes)::

    {"model": "tiny-wan", "device": "cpu",
     "measurements": [{"width": 256, "height": 256, "frames": 17, "batch": 1, "step_ms": 41.0,
                       "vae_decode_ms": 12.0, "encode_ms": 30.0}, ...]}

Fitting: least squares of ``step_ms = fixed + per_mvoxel * mvoxels * batch**e`` over a grid of ``e``;
decode and encode are fitted as ms per million voxels (per clip).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sched.latency import Profile
from reelserve.sched.provision.gpus import GpuType

__all__ = ["DEFAULT_PROFILES", "fit_profile", "load_gpu_types", "load_profile", "profile_named"]

#: Published-figure estimates (reference GPU H100); replace with measured profiles when you have them.
DEFAULT_PROFILES: dict[str, Profile] = {
    "wan-14b": Profile("wan-14b", "H100", 200.0, 35.0, 0.9, 60.0, 20.0, 20),
    "wan-1.3b": Profile("wan-1.3b", "H100", 40.0, 4.0, 0.85, 30.0, 20.0, 20),
}


def profile_named(name: str) -> Profile:
    try:
        return DEFAULT_PROFILES[name]
    except KeyError:
        raise UnknownName("profile", name, list(DEFAULT_PROFILES), param="profile") from None


def _per_mvox(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    pairs = [
        (r["width"] * r["height"] * r["frames"] / 1e6 * r.get("batch", 1), r[key]) for r in rows if key in r
    ]
    if not pairs:
        return 0.0
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    return max(0.0, float(x @ y / (x @ x)))


def fit_profile(model: str, device: str, rows: Sequence[Mapping[str, Any]]) -> Profile:
    """Fit a profile to measurements (at least two with different sizes or batches)."""
    if len(rows) < 2:
        raise InvalidInput("a profile needs at least two measurements to fit", param="measurements")
    mvox = np.array([r["width"] * r["height"] * r["frames"] / 1e6 for r in rows], dtype=float)
    batch = np.array([r.get("batch", 1) for r in rows], dtype=float)
    step = np.array([r["step_ms"] for r in rows], dtype=float)
    best: tuple[float, float, float, float] | None = None
    for e in np.linspace(0.5, 1.2, 15):
        a = np.column_stack([np.ones_like(mvox), mvox * batch**e])
        coef, *_ = np.linalg.lstsq(a, step, rcond=None)
        fixed, per = max(0.0, float(coef[0])), max(0.0, float(coef[1]))
        err = float(np.sum((fixed + per * mvox * batch**e - step) ** 2))
        if best is None or err < best[0]:
            best = (err, fixed, per, float(e))
    assert best is not None
    decode = _per_mvox(rows, "vae_decode_ms")
    encode = _per_mvox(rows, "encode_ms")
    return Profile(model, device, best[1], best[2], best[3], decode, encode)


def load_profile(path: str | Path) -> Profile:
    """Read a profile JSON file (coefficients, or measurements to fit)."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read profile {path}: {exc}", param="profile") from exc
    try:
        if "measurements" in raw:
            return fit_profile(
                str(raw.get("model", "model")), str(raw.get("device", "?")), raw["measurements"]
            )
        return Profile(**raw)
    except (KeyError, TypeError) as exc:
        raise InvalidInput(
            f"profile {path} is missing or has unknown fields: {exc}", param="profile"
        ) from exc


def load_gpu_types(path: str | Path) -> dict[str, GpuType]:
    """Read ``{"H100": {"speed": 2.0, "reserved_usd_h": 5.39, "spot_usd_h": 4.03, "memory_gb": 80}, ...}``."""
    try:
        raw = json.loads(Path(path).read_text())
        table = {name: GpuType(name=name, **fields) for name, fields in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"cannot read GPU types from {path}: {exc}", param="gpu_file") from exc
    for g in table.values():
        if g.speed <= 0 or g.reserved_usd_h < 0 or g.spot_usd_h < 0:
            raise InvalidInput(f"GPU type {g.name}: speed must be > 0 and prices >= 0", param="gpu_file")
    return table
