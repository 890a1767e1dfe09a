"""The runner's contract with job kinds: each kind's stages parse their own spec, and a stage's
job timestamp rides on its last checkpoint."""

from __future__ import annotations

from collections.abc import Callable

from reelserve.core.records import JobStatus
from reelserve.pipeline.context import StageContext
from reelserve.pipeline.runner import JobRunner
from reelserve.store import FsBlobStore, SqlStore


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


def _register_waiting_kind(kind: str, until: Callable[[StageContext], bool]) -> None:
    """A kind with one stage that checks in (as a denoising loop does) until ``until(ctx)``."""
    import time

    from reelserve.core.records import StageStatus
    from reelserve.pipeline.jobkinds import StageDef, register_kind

    def wait(ctx: StageContext, segment: int) -> None:
        deadline = time.monotonic() + 30.0
        while not until(ctx):
            ctx.check()
            if time.monotonic() > deadline:  # fails the job: the awaited condition never held
                raise RuntimeError(f"{kind}: the condition never held")
            time.sleep(0.02)
        ctx.check()
        ctx.store.checkpoint(ctx.job.id, "wait", segment, StageStatus.DONE, finish=ctx.finishes())

    register_kind(kind, [StageDef("wait", lambda ctx: 1, wait)])


def test_one_heartbeat_thread_keeps_every_running_jobs_lease(store: SqlStore, blobs: FsBlobStore) -> None:
    """Two jobs at once on one runner: both leases are extended past their first expiry (by the
    runner's single heartbeat thread), and both succeed; a job whose lease never grew would fail."""
    import threading

    runner = JobRunner(store, blobs, lease_s=1.0)
    first_expiry: dict[str, float] = {}
    beating: set[int] = set()

    def extended(ctx: StageContext) -> bool:
        job = ctx.store.get_job(ctx.job.id)
        assert job is not None and job.lease_expires_at is not None
        beating.add(sum(t.name == f"heartbeats-{runner.worker_id}" for t in threading.enumerate()))
        first_expiry.setdefault(ctx.job.id, job.lease_expires_at)
        return job.lease_expires_at > first_expiry[ctx.job.id] + 0.5  # two beats later

    _register_waiting_kind("test-beat", extended)
    jobs = [store.create_job(project="default", kind="test-beat", spec={})[0] for _ in range(2)]
    results: list[JobStatus] = []

    def claim_and_run(job_id: str) -> None:  # claimed right before it runs: its lease starts beating at once
        claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job_id)
        assert claimed is not None
        results.append(runner.run(claimed).status)

    threads = [threading.Thread(target=claim_and_run, args=(j.id,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]  # each saw its lease extended
    assert beating == {1}  # by one thread for both jobs


def test_a_lease_taken_by_another_worker_stops_the_job(store: SqlStore, blobs: FsBlobStore) -> None:
    """When the store says the lease is someone else's, the job stops at its next check and is left
    to the new owner (not finished, not failed)."""
    import sqlalchemy as sa

    from reelserve.store.schema import jobs as jobs_table

    runner = JobRunner(store, blobs, lease_s=0.3)
    _register_waiting_kind("test-stolen", lambda ctx: False)
    job, _ = store.create_job(project="default", kind="test-stolen", spec={})
    claimed = store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    assert claimed is not None
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(jobs_table).where(jobs_table.c.id == job.id).values(lease_owner="someone-else")
        )
    done = runner.run(claimed)
    assert done.status is JobStatus.RUNNING and done.lease_owner == "someone-else"
