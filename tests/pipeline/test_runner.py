"""The runner's contract with job kinds: each kind's stages parse their own spec, and a stage's
job timestamp rides on its last checkpoint."""

from __future__ import annotations

from reelserve.core.records import JobStatus
from reelserve.pipeline.runner import JobRunner
from reelserve.store import SqlStore


def test_a_job_kind_with_its_own_spec_shape_runs(store: SqlStore, runner: JobRunner) -> None:
    """The runner does not force every job's spec into a generation spec: a kind with another
    shape (an analysis has videos, no prompt) is parsed by its own stages."""
    from reelserve.core.records import StageStatus
    from reelserve.pipeline.jobkinds import StageDef, register_kind

    seen: list[object] = []

    def count(ctx, segment: int) -> None:  # type: ignore[no-untyped-def]
        seen.append(ctx.job.spec["items"][segment])
        ctx.store.checkpoint(ctx.job.id, "count", segment, StageStatus.DONE, job_timings=ctx.job_stamp())

    register_kind("test-count", [StageDef("count", lambda ctx: len(ctx.job.spec["items"]), count, "counted")])
    job, _ = store.create_job(project="default", kind="test-count", spec={"items": ["a", "b"]})
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    assert claimed is not None
    done = runner.run(claimed)
    assert done.status is JobStatus.SUCCEEDED, done.error_message
    assert seen == ["a", "b"] and "counted" in done.timings
