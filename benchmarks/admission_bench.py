"""Batch admission: seconds to admit 10,000 jobs with ``Store.create_jobs``, per backend.

    .venv/bin/python -m benchmarks.admission_bench [--jobs N] [--pg URL]

SQLite runs in a temporary directory; PostgreSQL (``--pg``, else ``REELSERVE_TEST_PG``, else the
loopback default) in a temporary schema that is dropped afterwards; it is skipped with a note when
no server answers. Each backend reports the first admission (every job new) and a repeat of the
same batch (every idempotency key already taken, so nothing is inserted).
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from reelserve.core.records import Priority
from reelserve.store import JobDraft, default_url, open_store

__all__ = ["main", "measure"]

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def drafts(n: int) -> list[JobDraft]:
    """``n`` batch jobs with distinct keys and a small generation spec each."""
    return [
        JobDraft(
            project="bench",
            kind="t2v",
            spec={"prompt": f"clip {i}", "num_frames": 17, "steps": 4, "seed": i},
            priority=Priority.BATCH,
            idempotency_key=f"bench-{i}",
            deadline=None if i % 4 else 1e9 + i,
        )
        for i in range(n)
    ]


def measure(url: str, n: int) -> tuple[float, float]:
    """(seconds for the first admission, seconds for the repeat) of ``n`` jobs at ``url``."""
    batch = drafts(n)
    store = open_store(url)
    try:
        start = time.perf_counter()
        first = store.create_jobs(batch)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        repeat = store.create_jobs(batch)
        repeat_s = time.perf_counter() - start
    finally:
        store.close()
    assert sum(created for _, created in first) == n and not any(created for _, created in repeat)
    return first_s, repeat_s


@contextmanager
def pg_schema(url: str) -> Iterator[str | None]:
    """A URL on a fresh schema of the server at ``url`` (None when unreachable); dropped after."""
    admin = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    schema = f"bench_{secrets.token_hex(6)}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError:
        admin.dispose()
        yield None
        return
    try:
        yield admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _report(backend: str, n: int, first_s: float, repeat_s: float) -> None:
    print(
        f"{backend:<11} admit {n:>6} jobs: {first_s:6.2f} s ({n / first_s:8.0f} jobs/s)   "
        f"repeat (all keys exist): {repeat_s:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--pg", default=os.environ.get("REELSERVE_TEST_PG") or PG_DEFAULT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _report("sqlite", args.jobs, *measure(default_url(Path(tmp)), args.jobs))
    with pg_schema(args.pg) as url:
        if url is None:
            print(f"postgresql  skipped: no server at {args.pg} (pass --pg URL)")
        else:
            _report("postgresql", args.jobs, *measure(url, args.jobs))


if __name__ == "__main__":
    main()
