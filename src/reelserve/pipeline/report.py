"""Where a job's time went: the time split by kind, and a one-line bottleneck hint.

Shared by the CLI, the manifests and the API (none of them owns it).
"""

from __future__ import annotations

from reelserve.core.records import StageRecord

__all__ = ["ENCODE_KEYS", "IO_KEYS", "LOAD_KEYS", "MODEL_KEYS", "bottleneck_hint", "timing_split"]

#: Which stage timing keys count as model time, encode time and I/O.
MODEL_KEYS = ("text", "denoise", "vae_decode")
ENCODE_KEYS = ("encode", "pictures")  #: the MP4, and the thumbnail + spritesheet JPEGs
IO_KEYS = ("io",)
#: Loading weights (once per worker, not per job) is reported apart from the job's own time.
LOAD_KEYS = ("load",)


def timing_split(stages: list[StageRecord]) -> dict[str, float]:
    """Seconds by kind over all stages: load, text, denoise, vae_decode, encode, io, and model/total
    (``total`` excludes ``load``: a serving worker loads its model once, not per job)."""
    out: dict[str, float] = {}
    for rec in stages:
        for key, value in rec.timings.items():
            out[key] = out.get(key, 0.0) + float(value)
    out["model"] = sum(out.get(k, 0.0) for k in MODEL_KEYS)
    out["total"] = out["model"] + sum(out.get(k, 0.0) for k in ENCODE_KEYS + IO_KEYS)
    return out


def bottleneck_hint(split: dict[str, float]) -> str:
    """Where the time went: the largest of model / encode / I/O, with its share."""
    encode = sum(split.get(k, 0.0) for k in ENCODE_KEYS)
    parts = {"model": split.get("model", 0.0), "encode": encode, "io": split.get("io", 0.0)}
    total = sum(parts.values())
    if total <= 0:
        return "no time recorded yet"
    name, value = max(parts.items(), key=lambda kv: kv[1])
    return f"{name}-bound ({100 * value / total:.0f}% of {total:.2f} s)"
