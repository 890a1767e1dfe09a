"""Migrations: applied once, idempotent on open, safe under concurrent openers."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from reelserve.store import SqlStore, open_store
from reelserve.store.engine import make_engine
from reelserve.store.migrations import MIGRATIONS, Migration, current_version, migrate
from reelserve.store.schema import CLAIM_ORDER, jobs


def _versions(store: SqlStore) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version")).scalars())


def test_open_applies_every_migration_once(store: SqlStore, store_url: str) -> None:
    latest = MIGRATIONS[-1].version
    assert _versions(store) == list(range(1, latest + 1))
    again = open_store(store_url)
    try:
        assert migrate(again.engine) == []
        assert _versions(again) == list(range(1, latest + 1))
    finally:
        again.close()


# SQLite reflection skips the expression index (ix_jobs_claim); the next test checks that one.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_tables_and_indexes_exist(store: SqlStore) -> None:
    inspector = sa.inspect(store.engine)
    assert {"jobs", "stages", "artifacts", "schema_version"} <= set(inspector.get_table_names())
    indexes = {ix["name"]: ix for ix in inspector.get_indexes("jobs")}
    assert indexes["ux_jobs_idempotency"]["unique"]
    assert indexes["ux_jobs_idempotency"]["column_names"] == ["project", "idempotency_key"]
    assert inspector.get_pk_constraint("stages")["constrained_columns"] == ["job_id", "stage", "segment"]


def test_claims_walk_the_claim_index_without_sorting(store: SqlStore) -> None:
    query = sa.select(jobs.c.id).where(jobs.c.status == "queued").order_by(*CLAIM_ORDER).limit(1)
    sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.begin() as conn:
        if store.backend == "sqlite":
            plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "ix_jobs_claim" in plan and "TEMP B-TREE" not in plan
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an empty table would not need the index
            plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
            assert "ix_jobs_claim" in plan and "Sort" not in plan


def test_concurrent_openers_apply_once(store_url: str) -> None:
    errors: list[BaseException] = []
    applied: list[list[int]] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        engine = make_engine(store_url)
        try:
            barrier.wait()
            applied.append(migrate(engine))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(v for versions in applied for v in versions) == [m.version for m in MIGRATIONS]


def test_a_new_migration_is_applied_on_the_next_open(store: SqlStore) -> None:
    def add_notes(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))

    extended = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "notes", add_notes))
    assert migrate(store.engine, extended) == [len(MIGRATIONS) + 1]
    assert migrate(store.engine, extended) == []
    with store.engine.connect() as conn:
        assert current_version(conn) == len(MIGRATIONS) + 1
        assert "notes" in sa.inspect(conn).get_table_names()


def test_a_failing_migration_leaves_the_previous_version(store: SqlStore) -> None:
    def half_done(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE TABLE half (id INTEGER PRIMARY KEY)"))
        raise RuntimeError("boom")

    broken = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "half", half_done))
    with pytest.raises(RuntimeError, match="boom"):
        migrate(store.engine, broken)
    with store.engine.connect() as conn:
        assert current_version(conn) == len(MIGRATIONS)
        assert "half" not in sa.inspect(conn).get_table_names()
