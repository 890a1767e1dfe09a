"""What the engine did for a job, from its stored stage records: for ``reelserve jobs show`` and the API.

The job lane writes these into the ``generate`` stage state (``engine/model/jobs.py``): the worker and
device that ran it, the largest batch its steps shared, preemptions, steps run, where it resumed from,
and time spent waiting in the worker's batcher; adaptive quality's decision is in the job's spec.
"""

from __future__ import annotations

from typing import Any

from reelserve.core.records import Job, StageRecord

__all__ = ["engine_line", "job_engine_facts"]


def job_engine_facts(job: Job, stages: list[StageRecord]) -> dict[str, Any] | None:
    """None when the job did not run on a model worker's job lane (and made no quality decision)."""
    gen = [r.state for r in stages if r.stage == "generate" and "worker" in r.state]
    quality = job.spec.get("quality")
    if not gen and quality is None:
        return None
    started, queued = job.timings.get("started"), job.timings.get("queued")
    return {
        "workers": sorted({str(s["worker"]) for s in gen}),
        "devices": sorted({str(s.get("device")) for s in gen}),
        "max_batch": max((int(s.get("max_batch", 0)) for s in gen), default=None),
        "preemptions": sum(int(s.get("preemptions", 0)) for s in gen),
        "steps_run": sum(int(s.get("steps_run", 0)) for s in gen),
        "resumed_from": [int(s.get("resumed_from", 0)) for s in gen],
        "batch_wait_s": round(sum(float(s.get("batch_wait_s", 0.0)) for s in gen), 6),
        "queue_wait_s": None if started is None or queued is None else round(max(0.0, started - queued), 6),
        "quality": quality,
    }


def engine_line(facts: dict[str, Any] | None) -> str | None:
    """One line for ``reelserve jobs show``: where it ran, its batch, preemptions, waits, quality."""
    if facts is None:
        return None
    q = facts.get("quality") or {}
    parts = [
        f"worker {','.join(facts['workers']) or '-'} on {','.join(facts['devices']) or '-'}",
        f"max batch {facts['max_batch']}",
        f"preemptions {facts['preemptions']}",
        f"queue wait {facts['queue_wait_s']} s",
        f"batch wait {facts['batch_wait_s']} s",
    ]
    if q:
        parts.append(f"quality {q.get('mode')}: {q.get('reason')}")
    return "engine: " + "; ".join(parts)
