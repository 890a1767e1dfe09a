"""Keys, the audit chain and batch admission in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import time

import pytest
import sqlalchemy as sa

from reelserve.core.errors import InvalidInput, NotFound
from reelserve.core.records import JobStatus, Priority
from reelserve.store import JobDraft, SqlStore
from reelserve.store.batches import batch_jobs, batch_summary, complete_batch, create_batch, due_deliveries
from reelserve.store.governance import (
    AuditEvent,
    Role,
    append_audit,
    create_key,
    list_audit,
    list_keys,
    lookup_key,
    revoke_key,
    verify_audit,
)


def test_keys_are_stored_hashed_and_revocable(store: SqlStore) -> None:
    plain, key = create_key(store.engine, org="o", project="p", role="viewer", name="ci")
    assert plain.startswith("rs_") and len(plain) > 40
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash, prefix FROM api_keys")).one()
    assert plain not in stored and stored.key_hash != plain
    principal = lookup_key(store.engine, plain)
    assert principal is not None and principal.role is Role.VIEWER and principal.scope == "o/p"
    assert lookup_key(store.engine, plain + "x") is None
    revoke_key(store.engine, key.id)
    assert lookup_key(store.engine, plain) is None
    assert list_keys(store.engine)[0].revoked_at is not None
    with pytest.raises(NotFound):
        revoke_key(store.engine, "key_missing")
    with pytest.raises(InvalidInput, match="viewer, editor"):
        create_key(store.engine, org="o", project="p", role="root")


def _events(n: int) -> list[AuditEvent]:
    return [AuditEvent("o", "p", "key_x", "video.view", f"job_{i}", {"i": i}) for i in range(n)]


def test_audit_chain_verifies_and_key_changes_are_events(store: SqlStore) -> None:
    _, key = create_key(store.engine, org="o", project="p", role="admin")
    revoke_key(store.engine, key.id)
    append_audit(store.engine, _events(5))
    report = verify_audit(store.engine)
    assert report.ok and report.events == 7
    rows = list_audit(store.engine, org="o")
    assert [r["action"] for r in rows[:2]] == ["key.create", "key.revoke"]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))


@pytest.mark.parametrize(
    ("tamper", "needle"),
    [
        ("UPDATE audit_log SET resource = 'job_other' WHERE seq = 3", "event 3 was changed"),
        ("DELETE FROM audit_log WHERE seq = 3", "event 3 is missing"),
        ("DELETE FROM audit_log WHERE seq = 6", "head says 6"),
        ("UPDATE audit_log SET prev_hash = hash WHERE seq = 4", "event 4 does not link"),
    ],
)
def test_audit_verify_detects_changed_and_removed_rows(store: SqlStore, tamper: str, needle: str) -> None:
    append_audit(store.engine, _events(6))
    assert verify_audit(store.engine).ok
    with store.engine.begin() as conn:
        conn.execute(sa.text(tamper))
    report = verify_audit(store.engine)
    assert not report.ok and needle in (report.problem or "")


def _variants(n: int, start: int = 0) -> list[tuple[str, JobDraft]]:
    spec = {"prompt": "p", "model": "tiny-wan", "width": 64, "height": 64, "num_frames": 9}
    return [
        (f"v{i}", JobDraft("o/p", "t2v", {**spec, "seed": i}, Priority.BATCH))
        for i in range(start, start + n)
    ]


def test_batch_admission_is_one_transaction_and_idempotent_per_variant(store: SqlStore) -> None:
    t0 = time.perf_counter()
    batch, results = create_batch(
        store.engine, project="o/p", template={}, variants=_variants(1000), idempotency_key="b1"
    )
    elapsed = time.perf_counter() - t0
    assert batch.total == 1000 and all(created for _, created in results)
    assert elapsed < 30, f"1,000 variants took {elapsed:.1f} s"
    again, results2 = create_batch(
        store.engine, project="o/p", template={}, variants=_variants(1010), idempotency_key="b1"
    )
    assert again.id == batch.id and again.total == 1010
    assert sum(created for _, created in results2) == 10
    assert [j.id for j, _ in results2[:1000]] == [j.id for j, _ in results]
    assert batch_summary(store.engine, again)["queued"] == 1010
    listed = list(batch_jobs(store.engine, again, page=700))
    assert len(listed) == 1010 and listed[0][0].spec["batch_id"] == batch.id


def test_a_batch_completes_once_and_queues_its_webhook(store: SqlStore) -> None:
    batch, results = create_batch(
        store.engine, project="o/p", template={}, variants=_variants(2), webhook_url="http://127.0.0.1:9/x",
        webhook_secret="s" * 16,
    )  # fmt: skip
    assert not complete_batch(store.engine, batch, {"n": 1})  # variants still queued
    for job, _ in results:
        store.finish_job(job.id, JobStatus.CANCELLED)
    assert complete_batch(store.engine, batch, {"n": 1})
    assert not complete_batch(store.engine, batch, {"n": 1})  # once
    due = due_deliveries(store.engine, time.time() + 1)
    assert [(d.batch_id, d.event, d.secret) for d in due] == [(batch.id, "batch.completed", "s" * 16)]
