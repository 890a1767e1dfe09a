"""Versioned schema migrations: an ordered list, each applied once, in its own transaction.

``migrate(engine)`` runs on every open and is idempotent. Concurrent openers (workers and a CLI
starting together) never apply a migration twice: each step holds a lock while it reads the
current version and applies the next migration — ``pg_advisory_xact_lock`` (scoped to the
current schema) on PostgreSQL, ``BEGIN IMMEDIATE`` (the write lock) on SQLite. Both backends
have transactional DDL, so a failed migration leaves the previous version intact.

Adding a migration: append ``Migration(n + 1, "what", fn)``; never edit an applied one. Migration
1 builds from ``schema.py``; before a later migration changes one of those tables, freeze the
version-1 definitions inside ``_v1_initial`` so a fresh database still replays history exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from reelserve.core.errors import ReelserveError
from reelserve.store import schema
from reelserve.store.engine import transaction
from reelserve.store.index import create_tables
from reelserve.store.schema_v2 import apply_v2
from reelserve.store.sessions import apply_v4

__all__ = ["MIGRATIONS", "Migration", "current_version", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  #: 1, 2, 3, ... in order, no gaps
    description: str  #: recorded in schema_version
    apply: Callable[[sa.Connection], None]  #: DDL/DML run inside the migration's transaction


def _v1_initial(conn: sa.Connection) -> None:
    for table in (schema.jobs, schema.stages, schema.artifacts):
        table.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "jobs, stages, artifacts and their indexes", _v1_initial),
    Migration(2, "api keys, audit log, batches, webhook deliveries", apply_v2),
    Migration(3, "analysis index: videos, texts (full-text), vectors", create_tables),
    Migration(4, "streaming sessions and their chunks (engine)", apply_v4),
)


def current_version(conn: sa.Connection) -> int:
    """The highest applied version (0 for an empty database)."""
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    return int(conn.scalar(sa.select(sa.func.max(schema.schema_version.c.version))) or 0)


def migrate(engine: sa.Engine, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply pending migrations; returns the versions this call applied (usually none)."""
    latest = migrations[-1].version if migrations else 0
    with transaction(engine, write=False) as conn:
        if current_version(conn) == latest:
            return []  # the common case: no lock taken
    applied: list[int] = []
    while (version := _apply_next(engine, migrations, latest)) is not None:
        applied.append(version)
    return applied


def _apply_next(engine: sa.Engine, migrations: Sequence[Migration], latest: int) -> int | None:
    with transaction(engine, write=True) as conn:
        _lock(conn)
        schema.schema_version.create(conn, checkfirst=True)
        current = current_version(conn)
        if current > latest:
            raise ReelserveError(
                f"the database schema is at version {current} but this reelserve knows only up to "
                f"{latest}; upgrade reelserve",
                code="schema_too_new",
            )
        pending = [m for m in migrations if m.version > current]
        if not pending:
            return None
        step = pending[0]
        step.apply(conn)
        conn.execute(
            sa.insert(schema.schema_version).values(
                version=step.version, description=step.description, applied_at=time.time()
            )
        )
        return step.version


def _lock(conn: sa.Connection) -> None:
    # SQLite: the transaction began with BEGIN IMMEDIATE, which already holds the write lock.
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext('reelserve.migrate'), hashtext(current_schema()))")
        )
