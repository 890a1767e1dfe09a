"""Admission: idempotency per (project, key), also under racing callers, and bulk admission."""

from __future__ import annotations

import threading

import pytest

from reelserve.core.errors import InvalidInput
from reelserve.core.records import Job, JobStatus, Priority
from reelserve.store import JobDraft, SqlStore


def test_create_job_returns_a_queued_job(store: SqlStore) -> None:
    job, created = store.create_job(
        project="p", kind="t2v", spec={"prompt": "a cat"}, priority=Priority.BATCH, deadline=123.5
    )
    assert created
    assert job.id.startswith("job_")
    assert job.status is JobStatus.QUEUED
    assert job.attempts == 0
    assert "queued" in job.timings
    assert store.get_job(job.id) == job


def test_same_key_names_one_job(store: SqlStore) -> None:
    first, created = store.create_job(project="p", kind="t2v", spec={"n": 1}, idempotency_key="k1")
    again, created_again = store.create_job(project="p", kind="t2v", spec={"n": 2}, idempotency_key="k1")
    other_project, created_other = store.create_job(project="q", kind="t2v", spec={}, idempotency_key="k1")
    assert created and not created_again and created_other
    assert again == first
    assert other_project.id != first.id


def test_jobs_without_key_are_never_merged(store: SqlStore) -> None:
    a, _ = store.create_job(project="p", kind="t2v", spec={})
    b, _ = store.create_job(project="p", kind="t2v", spec={})
    assert a.id != b.id


def test_racing_creators_get_one_job(store: SqlStore) -> None:
    barrier = threading.Barrier(8)
    results: list[tuple[Job, bool]] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait()
            results.append(store.create_job(project="p", kind="t2v", spec={}, idempotency_key="race"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(store.list_jobs(project="p")) == 1


def test_invalid_admission_is_rejected(store: SqlStore) -> None:
    with pytest.raises(InvalidInput):
        store.create_job(project="p", kind="t2v", spec={}, max_attempts=0)
    with pytest.raises(InvalidInput, match="interactive"):
        store.create_job(project="p", kind="t2v", spec={}, priority="urgent")  # type: ignore[arg-type]


def test_bulk_admission_of_ten_thousand(store: SqlStore) -> None:
    pre, _ = store.create_job(project="p", kind="t2v", spec={}, idempotency_key="key-7")
    drafts = [
        JobDraft(
            project="p",
            kind="t2v",
            spec={"prompt": f"clip {i}"},
            priority=Priority.BATCH,
            idempotency_key=f"key-{i}" if i % 2 else None,
            deadline=1000.0 + i,
        )
        for i in range(10_000)
    ]
    drafts.append(JobDraft(project="p", kind="t2v", idempotency_key="key-1"))  # a repeat inside the batch
    results = store.create_jobs(drafts)
    assert len(results) == len(drafts)
    created = [job for job, was_created in results if was_created]
    assert len(created) == 10_000 - 1  # key-7 existed before
    assert results[7] == (pre, False)
    assert results[-1] == (results[1][0], False)
    assert results[2][0].spec == {"prompt": "clip 2"} and results[2][0].deadline == 1002.0
    assert len({job.id for job, _ in results}) == 10_000
    stored = store.get_job(results[9_999][0].id)
    assert stored == results[9_999][0]

    again = store.create_jobs(drafts[:100])
    keyed = [(job, was) for (job, was), d in zip(again, drafts[:100], strict=True) if d.idempotency_key]
    assert all(not was for _, was in keyed)
    assert [job.id for job, _ in keyed] == [results[i][0].id for i in range(1, 100, 2)]
    assert sum(was for _, was in again) == 50  # the unkeyed ones are new jobs


def test_empty_batch(store: SqlStore) -> None:
    assert store.create_jobs([]) == []


def test_racing_batches_with_overlapping_keys(store: SqlStore) -> None:
    keys = [f"k{i}" for i in range(200)]
    batches = [keys, keys[::-1], keys[50:150]]
    barrier = threading.Barrier(len(batches))
    results: list[list[tuple[Job, bool]]] = []
    errors: list[BaseException] = []

    def admit(batch: list[str]) -> None:
        drafts = [JobDraft(project="p", kind="t2v", idempotency_key=k) for k in batch]
        try:
            barrier.wait()
            results.append(store.create_jobs(drafts))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=admit, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    by_key: dict[str, set[str]] = {}
    for batch in results:
        for job, _ in batch:
            by_key.setdefault(job.idempotency_key or "", set()).add(job.id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert sum(created for batch in results for _, created in batch) == len(keys)
    assert len(store.list_jobs(project="p", limit=1000)) == len(keys)
