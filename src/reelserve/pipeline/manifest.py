"""Manifests: everything needed to reproduce and audit a final."""

from __future__ import annotations

import platform
from typing import Any

from reelserve import PIPELINE_VERSION, __version__
from reelserve.core.records import Job, StageRecord
from reelserve.pipeline.report import timing_split

__all__ = ["build_manifest", "timing_split"]


def build_manifest(
    job: Job,
    stages: list[StageRecord],
    *,
    weights_hash: str,
    outputs: dict[str, dict[str, Any]],
    frames_sha256: str,
    encoder: dict[str, Any],
) -> dict[str, Any]:
    import av
    import diffusers
    import torch

    segs = sorted((r for r in stages if r.stage == "generate"), key=lambda r: r.segment)
    return {
        "pipeline_version": PIPELINE_VERSION,
        "reelserve_version": __version__,
        "job_id": job.id,
        "project": job.project,
        "kind": job.kind,
        "model": {"id": job.spec.get("model"), "weights_sha256": weights_hash},
        "settings": dict(job.spec),
        "seed": job.spec.get("seed"),
        "inputs": {
            "prompt_sha256": _sha(job.spec.get("prompt", "")),
            "negative_prompt_sha256": _sha(job.spec.get("negative_prompt", "")),
        },
        "frames_sha256": frames_sha256,
        "segments": [
            {"index": r.segment, "frames": r.state.get("frames"), "frames_sha256": r.output_sha256}
            for r in segs
        ],
        "outputs": outputs,
        "encoder": encoder,
        "timings_s": timing_split(stages),
        "job_timestamps": dict(job.timings),
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "av": av.__version__,
        },
    }


def _sha(text: str) -> str:
    from reelserve.core.ids import sha256_bytes

    return sha256_bytes(text.encode())
