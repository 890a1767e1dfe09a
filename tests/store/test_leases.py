"""Claims and leases: order, expiry, dead letters, heartbeats, release, requeue, many claimers."""

from __future__ import annotations

import threading
import time

import pytest

from reelserve.core.errors import Conflict, InvalidInput, NotFound
from reelserve.core.records import JobStatus, Priority
from reelserve.store import SqlStore

# A lease of 0 s expires at once: the next claim sees it expired, with no sleeping in tests.
EXPIRED = 0.0


def _job(store: SqlStore, **kw: object) -> str:
    job, _ = store.create_job(project="p", kind=str(kw.pop("kind", "t2v")), spec={}, **kw)  # type: ignore[arg-type]
    return job.id


def test_claim_order_interactive_then_deadline_then_oldest(store: SqlStore) -> None:
    batch_early = _job(store, priority=Priority.BATCH, deadline=10.0)
    inter_none_old = _job(store)
    time.sleep(0.002)  # ids order by creation millisecond
    inter_late = _job(store, deadline=500.0)
    inter_none_new = _job(store)
    inter_early = _job(store, deadline=100.0)
    batch_none = _job(store, priority=Priority.BATCH)
    order = [store.claim_job("w", 60) for _ in range(6)]
    assert [j.id for j in order if j] == [
        inter_early,
        inter_late,
        inter_none_old,
        inter_none_new,
        batch_early,
        batch_none,
    ]
    assert store.claim_job("w", 60) is None


def test_claim_sets_lease_attempts_and_started(store: SqlStore) -> None:
    job_id = _job(store)
    job = store.claim_job("w1", 60)
    assert job is not None and job.id == job_id
    assert job.status is JobStatus.RUNNING
    assert job.lease_owner == "w1"
    assert job.lease_expires_at is not None and job.lease_expires_at > job.timings["started"]
    assert job.attempts == 1
    assert store.get_job(job_id) == job


def test_claim_filters_by_kind(store: SqlStore) -> None:
    _job(store, kind="t2v")
    wanted = _job(store, kind="analyze")
    job = store.claim_job("w", 60, kinds=["analyze", "upscale"])
    assert job is not None and job.id == wanted
    assert store.claim_job("w", 60, kinds=["upscale"]) is None


def test_expired_lease_is_reclaimed_then_dead_lettered(store: SqlStore) -> None:
    job_id = _job(store, max_attempts=2)
    first = store.claim_job("w1", EXPIRED)
    assert first is not None and first.attempts == 1
    second = store.claim_job("w2", EXPIRED)
    assert second is not None and second.id == job_id
    assert second.attempts == 2 and second.lease_owner == "w2"
    assert second.timings["started"] == first.timings["started"]
    assert store.claim_job("w3", 60) is None  # the third claim would exceed max_attempts
    dead = store.get_job(job_id)
    assert dead is not None
    assert dead.status is JobStatus.FAILED
    assert dead.error_code == "lease_expired"
    assert dead.lease_owner is None and "finished" in dead.timings
    assert [j.id for j in store.dead_letters(project="p")] == [job_id]


def test_expired_lease_competes_in_claim_order(store: SqlStore) -> None:
    lost = _job(store, priority=Priority.BATCH)
    assert store.claim_job("w1", EXPIRED) is not None
    interactive = _job(store)
    assert store.claim_job("w2", 60).id == interactive  # type: ignore[union-attr]
    again = store.claim_job("w3", 60)
    assert again is not None and again.id == lost and again.attempts == 2


def test_heartbeat_extends_and_reports_lost_ownership(store: SqlStore) -> None:
    job_id = _job(store)
    claimed = store.claim_job("w1", 60)
    assert claimed is not None
    assert store.heartbeat(job_id, "w1", 120)
    extended = store.get_job(job_id)
    assert extended is not None and extended.lease_expires_at > claimed.lease_expires_at  # type: ignore[operator]
    assert not store.heartbeat(job_id, "intruder", 60)

    store.heartbeat(job_id, "w1", EXPIRED)
    taken = store.claim_job("w2", 60)
    assert taken is not None and taken.id == job_id
    assert not store.heartbeat(job_id, "w1", 60)  # w1 lost the lease
    assert store.heartbeat(job_id, "w2", 60)


def test_heartbeat_fails_after_cancel(store: SqlStore) -> None:
    job_id = _job(store)
    store.claim_job("w1", 60)
    cancelled = store.update_job(job_id, status=JobStatus.CANCELLED)
    assert cancelled.lease_owner is None
    assert not store.heartbeat(job_id, "w1", 60)
    with pytest.raises(Conflict):
        store.finish_job(job_id, JobStatus.SUCCEEDED)


def test_a_dead_letter_may_still_succeed(store: SqlStore) -> None:
    job_id = _job(store, max_attempts=1)
    store.claim_job("slow", EXPIRED)
    assert store.claim_job("w2", 60) is None
    assert store.get_job(job_id).status is JobStatus.FAILED  # type: ignore[union-attr]
    assert store.finish_job(job_id, JobStatus.SUCCEEDED).status is JobStatus.SUCCEEDED


def test_release_puts_the_job_back_without_using_an_attempt(store: SqlStore) -> None:
    job_id = _job(store)
    store.claim_job("w1", 60)
    store.release_job(job_id, "someone-else")  # not the owner: no effect
    assert store.get_job(job_id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    store.release_job(job_id, "w1")
    released = store.get_job(job_id)
    assert released is not None
    assert released.status is JobStatus.QUEUED and released.lease_owner is None and released.attempts == 0
    assert store.claim_job("w2", 60).attempts == 1  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.release_job("job_missing", "w1")


def test_finish_and_requeue(store: SqlStore) -> None:
    job_id = _job(store)
    store.claim_job("w1", 60)
    failed = store.finish_job(job_id, JobStatus.FAILED, error_code="model_error", error_message="boom")
    assert failed.status is JobStatus.FAILED and failed.lease_owner is None
    assert failed.error_code == "model_error" and "finished" in failed.timings
    resumed = store.requeue(job_id)
    assert resumed.status is JobStatus.QUEUED and resumed.attempts == 0
    assert resumed.error_code is None and "finished" not in resumed.timings
    assert store.claim_job("w2", 60).id == job_id  # type: ignore[union-attr]
    done = store.finish_job(job_id, JobStatus.SUCCEEDED)
    assert done.status is JobStatus.SUCCEEDED
    with pytest.raises(Conflict):
        store.requeue(job_id)
    with pytest.raises(Conflict):
        store.finish_job(job_id, JobStatus.FAILED)  # a stale worker cannot undo a success
    assert store.finish_job(job_id, JobStatus.SUCCEEDED).status is JobStatus.SUCCEEDED
    with pytest.raises(InvalidInput):
        store.finish_job(job_id, JobStatus.RUNNING)
    with pytest.raises(NotFound):
        store.finish_job("job_missing", JobStatus.FAILED)


def test_concurrent_claimers_never_share_a_job(store: SqlStore) -> None:
    ids = {_job(store) for _ in range(40)}
    claimed: list[str] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            while (job := store.claim_job(name, 60)) is not None:
                claimed.append(job.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(claimed) == sorted(ids)


def test_claim_a_named_job(store: SqlStore) -> None:
    first = _job(store)
    wanted = _job(store, priority=Priority.BATCH)
    job = store.claim_job("cli", 60, job_id=wanted)
    assert job is not None and job.id == wanted and job.attempts == 1
    assert store.claim_job("cli", 60, job_id=wanted) is None  # already running
    assert store.claim_job("cli", 60, job_id="job_missing") is None
    assert store.claim_job("w", 60).id == first  # type: ignore[union-attr]


def test_started_is_never_before_queued(store: SqlStore) -> None:
    """A worker that read the clock, then waited for the write lock while the job was admitted,
    must not stamp the job as started before it was queued."""
    from reelserve.store.engine import transaction
    from reelserve.store.leases import claim_next

    job, _ = store.create_job(project="p", kind="t2v", spec={})
    stale_now = job.timings["queued"] - 5.0  # the clock as the worker read it before the lock
    with transaction(store.engine, write=True) as conn:
        claimed = claim_next(conn, "w1", 30.0, None, stale_now, job_id=job.id)
    assert claimed is not None and claimed.timings["started"] >= claimed.timings["queued"]
