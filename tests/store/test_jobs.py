"""Reading and updating jobs: cursor pagination, filters, merged timings, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from reelserve.core.errors import InvalidInput, NotFound, StorageError
from reelserve.core.records import JobStatus, Priority
from reelserve.store import JobDraft, SqlStore, default_url, open_store
from reelserve.store import engine as engine_module
from reelserve.store.engine import transaction


def test_pagination_walks_every_job_once_in_both_orders(store: SqlStore) -> None:
    results = store.create_jobs([JobDraft(project="p" if i % 3 else "q", kind="t2v") for i in range(25)])
    ids_p = sorted(job.id for job, _ in results if job.project == "p")
    for order, expected in (("asc", ids_p), ("desc", ids_p[::-1])):
        seen: list[str] = []
        after = None
        while page := store.list_jobs(project="p", after=after, limit=4, order=order):
            seen.extend(job.id for job in page)
            after = page[-1].id
        assert seen == expected
    with pytest.raises(InvalidInput):
        store.list_jobs(order="sideways")
    with pytest.raises(InvalidInput):
        store.list_jobs(limit=-1)


def test_list_filters_by_status(store: SqlStore) -> None:
    a, _ = store.create_job(project="p", kind="t2v", spec={})
    b, _ = store.create_job(project="p", kind="t2v", spec={})
    store.update_job(b.id, status=JobStatus.CANCELLED)
    assert [j.id for j in store.list_jobs(status=[JobStatus.QUEUED])] == [a.id]
    assert {j.id for j in store.list_jobs(status=[JobStatus.QUEUED, JobStatus.CANCELLED])} == {a.id, b.id}
    assert store.list_jobs(project="nobody") == []


def test_update_merges_timings_and_sets_fields(store: SqlStore) -> None:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    store.update_job(job.id, timings={"generated": 5.0})
    updated = store.update_job(
        job.id, timings={"encoded": 6.0}, progress=0.5, priority=Priority.BATCH, output_path="/tmp/out.mp4"
    )
    assert updated.timings == {"queued": job.timings["queued"], "generated": 5.0, "encoded": 6.0}
    assert updated.progress == 0.5 and updated.priority is Priority.BATCH
    assert updated.output_path == "/tmp/out.mp4"
    assert updated.updated_at >= job.updated_at
    assert store.get_job(job.id) == updated


def test_update_rejects_unknown_fields_and_jobs(store: SqlStore) -> None:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    with pytest.raises(InvalidInput, match="attempts"):
        store.update_job(job.id, attempts=9)
    with pytest.raises(InvalidInput, match="queued, running"):
        store.update_job(job.id, status="paused")
    with pytest.raises(NotFound):
        store.update_job("job_missing", progress=1.0)
    assert store.get_job("job_missing") is None


def test_unreachable_server_is_a_retryable_storage_error() -> None:
    with pytest.raises(StorageError) as info:
        open_store("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")
    assert info.value.retryable


def test_locked_sqlite_is_a_retryable_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(default_url(tmp_path))
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    store.close()  # new connections pick up the short timeout below
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(tmp_path / "reelserve.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError) as info:
            store.update_job(job.id, progress=0.5)
        assert info.value.retryable
        assert store.get_job(job.id) is not None  # readers are not blocked by a writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.update_job(job.id, progress=0.5).progress == 0.5
    store.close()


def test_plain_postgresql_urls_use_psycopg() -> None:
    for url in ("postgresql://postgres@127.0.0.1/test", "postgres://postgres@127.0.0.1/test"):
        engine = engine_module.make_engine(url)
        assert engine.dialect.driver == "psycopg"
        engine.dispose()


def test_unsupported_urls_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="sqlite:///"):
        open_store("mysql://localhost/x")
    with pytest.raises(InvalidInput, match="file"):
        open_store("sqlite://")


def test_sql_mistakes_are_not_retryable(store: SqlStore) -> None:
    with pytest.raises(sa.exc.DBAPIError) as info, transaction(store.engine, write=False) as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not isinstance(info.value, StorageError)


def test_job_status_reads_the_status_alone(store: SqlStore) -> None:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    assert store.job_status(job.id) is JobStatus.QUEUED
    store.update_job(job.id, status=JobStatus.CANCELLED)
    assert store.job_status(job.id) is JobStatus.CANCELLED
    assert store.job_status("no-such-job") is None
