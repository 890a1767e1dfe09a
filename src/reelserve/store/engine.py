"""Engines and transactions: how ``SqlStore`` talks to SQLite and PostgreSQL.

SQLite (the default) is a file in WAL mode, shared by worker processes and the CLI at once:

- ``busy_timeout`` makes a writer wait for the lock instead of failing at once;
- the driver's own transaction handling is switched off (``isolation_level = None``) and we emit
  ``BEGIN`` ourselves, so reads get a real snapshot and DDL is transactional;
- write transactions start with ``BEGIN IMMEDIATE``: they take the write lock up front, so two
  read-then-write transactions never deadlock on a lock upgrade (SQLite would fail one at once,
  without waiting on the busy timeout);
- foreign keys are enforced (off by default in SQLite).

PostgreSQL runs READ COMMITTED; writers lock rows (``FOR UPDATE``, ``SKIP LOCKED`` for claims).
Database errors worth retrying (a locked file, a lost connection, a deadlock) become
``StorageError`` (retryable) in exactly one place: ``transaction``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reelserve.core.errors import InvalidInput, StorageError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "bound_set",
    "bound_values",
    "default_url",
    "dialect_insert",
    "make_engine",
    "transaction",
]

#: How long a SQLite writer waits for another process's write lock before failing.
BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "reelserve_sqlite_begin"
_SQLITE_RETRYABLE = ("locked", "busy", "disk i/o error", "unable to open")


def default_url(data_dir: Path) -> str:
    """The embedded default: a SQLite file ``data_dir/reelserve.db`` (absolute path)."""
    return f"sqlite:///{(Path(data_dir) / 'reelserve.db').resolve()}"


def make_engine(url: str) -> sa.Engine:
    """An engine for a ``sqlite:///file`` or ``postgresql+psycopg://`` URL; raises on anything else."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we ship (psycopg 3)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidInput(
                "the store needs a SQLite *file* (several processes share it); use sqlite:///path/reelserve.db"
            )
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise InvalidInput(
        f"unsupported store URL scheme {parsed.drivername!r}; "
        "use sqlite:///path/reelserve.db or postgresql+psycopg://user@host/db",
        param="url",
    )


def _on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_sqlite_begin)
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # FULL: a commit survives power loss too; admission and checkpoints are single transactions.
        cur.execute("PRAGMA synchronous = FULL")
        _enable_wal(cur)
    finally:
        cur.close()


def _enable_wal(cur: sqlite3.Cursor) -> None:
    # Switching a fresh file to WAL needs an exclusive lock and does not always honour the busy
    # timeout, so concurrent first opens retry here. Once the file is in WAL this is a no-op read.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _on_sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def transaction(engine: sa.Engine, *, write: bool, sync: bool = True) -> Iterator[sa.Connection]:
    """One transaction: commits on a clean exit, rolls back on an exception.

    ``write=True`` takes SQLite's write lock at BEGIN. ``sync=False`` commits without waiting for
    the disk (SQLite ``synchronous=NORMAL`` for this commit, PostgreSQL ``synchronous_commit=off``):
    the database stays consistent, but an OS crash may lose this commit — for records of work that
    can be redone (they reference only unsynced scratch blobs). A later synced commit makes every
    earlier one durable too (both logs are sequential). Retryable database failures are raised as
    ``StorageError``; everything else (including ``ReelserveError``) passes through unchanged.
    """
    try:
        with engine.connect() as conn:
            lite = engine.dialect.name == "sqlite"
            if write and lite:
                conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            if not sync and lite:
                _sqlite_synchronous(conn, "NORMAL")
            try:
                with conn.begin():
                    if not sync and not lite:
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    yield conn
            finally:
                if not sync and lite:
                    _sqlite_synchronous(conn, "FULL")
    except sa.exc.DBAPIError as exc:
        if not _retryable(exc):
            raise
        raise StorageError(
            f"the metadata database is busy or unreachable ({exc.orig}); retry, and check the "
            "database server or the SQLite file's disk if it persists"
        ) from exc


def _sqlite_synchronous(conn: sa.Connection, level: str) -> None:
    """Set ``PRAGMA synchronous`` on the driver connection itself (autocommit: no BEGIN)."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA synchronous = {level}")


def _retryable(exc: sa.exc.DBAPIError) -> bool:
    """Locks, lost connections, deadlocks and serialization failures: worth another try.

    PostgreSQL drivers raise OperationalError only for those; sqlite3 also uses it for plain
    mistakes ("no such table"), so there only lock and I/O messages count."""
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    if not isinstance(exc.orig, sqlite3.OperationalError):
        return True
    message = str(exc.orig).lower()
    return any(hint in message for hint in _SQLITE_RETRYABLE)


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def bound_set(table: sa.Table, columns: Iterable[str]) -> dict[str, Any]:
    """``SET col = :v_col, ...`` for ``update(table).values(...)``: an UPDATE built once with bound
    parameters (building a statement costs more Python than SQLite takes to run it); execute it with
    `bound_values`."""
    return {col: sa.bindparam(f"v_{col}", type_=table.c[col].type) for col in columns}


def bound_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a `bound_set` statement for these column values."""
    return {f"v_{col}": value for col, value in values.items()}
