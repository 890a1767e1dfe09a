"""The metadata tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Conventions: timestamps are unix seconds as floats; JSON columns hold plain dicts (JSONB on
PostgreSQL); ``jobs.priority`` is a small integer rank (lower runs first) so that the claim index
orders interactive work before batch work. The tables are created by the migrations in
``migrations.py``, never by ``metadata.create_all``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from reelserve.core.records import Priority

__all__ = [
    "CLAIM_ORDER",
    "PRIORITY_FROM_RANK",
    "PRIORITY_RANK",
    "artifacts",
    "jobs",
    "metadata",
    "schema_version",
    "stages",
]

#: Priority -> stored rank; the claim order is ascending rank.
PRIORITY_RANK: dict[Priority, int] = {Priority.INTERACTIVE: 0, Priority.BATCH: 1}
PRIORITY_FROM_RANK: dict[int, Priority] = {rank: prio for prio, rank in PRIORITY_RANK.items()}

#: A JSON document: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.Double, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("deadline", sa.Double, nullable=True),
    sa.Column("progress", sa.Double, nullable=False, default=0.0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String(100), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", sa.Double, nullable=True),
    sa.Column("output_path", sa.Text, nullable=True),
    sa.Column("timings", Json, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_jobs_lease", "status", "lease_expires_at"),
    sa.Index("ix_jobs_project", "project", "id"),
    sa.Index("ux_jobs_idempotency", "project", "idempotency_key", unique=True),
)

#: The claim order, ``priority, deadline (none last), id``, as one index both backends can walk
#: from its start: SQLite sorts NULLs first and cannot declare NULLS LAST in an index, so
#: "no deadline" sorts last through the ``deadline IS NULL`` flag (the claim query orders by
#: ``CLAIM_ORDER`` — the very same expressions).
CLAIM_ORDER = (jobs.c.priority, jobs.c.deadline.is_(None), jobs.c.deadline, jobs.c.id)
sa.Index("ix_jobs_claim", jobs.c.status, *CLAIM_ORDER)

stages = sa.Table(
    "stages",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("stage", sa.String(100), primary_key=True),
    sa.Column("segment", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("output_sha256", sa.String(64), nullable=True),
    sa.Column("state", Json, nullable=False),
    sa.Column("timings", Json, nullable=False),
    sa.Column("error_code", sa.String(100), nullable=True),
    sa.Column("updated_at", sa.Double, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("area", sa.String(16), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=True),
    sa.Index("ix_artifacts_sha256", "sha256"),
    sa.Index("ix_artifacts_expires", "expires_at"),
)
