"""Version-2 tables: API keys, the hash-chained audit log, batches and webhook deliveries.

Same conventions as ``schema.py`` (unix-second floats, JSON/JSONB documents). Created by
migration 2 (``apply_v2``); never by ``metadata.create_all``.

Batch variants are ordinary ``jobs`` rows whose idempotency key is ``batch:<batch id>:<variant
id>``: the unique ``(project, idempotency_key)`` index then makes admission idempotent per
``(batch, variant_id)`` and a key range over that index lists one batch's jobs.
"""

from __future__ import annotations

import sqlalchemy as sa

from reelserve.store.schema import Json, metadata

__all__ = ["api_keys", "apply_v2", "audit_head", "audit_log", "batches", "webhook_deliveries"]

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  #: sha256 of the whole key
    sa.Column("prefix", sa.String(16), nullable=False),  #: the first characters, to recognise a key
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("org", sa.String(100), nullable=False),
    sa.Column("project", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double, nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),  #: 1, 2, 3, ... no gaps
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("org", sa.String(100), nullable=False),
    sa.Column("project", sa.String(100), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),  #: an API key id, or "cli"
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("resource", sa.String(200), nullable=False),
    sa.Column("detail", Json, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_org_seq", "org", "seq"),
)

#: One row (id = 1): the last sequence number and hash, so removing the newest rows is detected too.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("template", Json, nullable=False),
    sa.Column("webhook_url", sa.Text, nullable=True),
    sa.Column("webhook_secret", sa.String(200), nullable=True),  #: signs deliveries (HMAC-SHA256)
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("completed_at", sa.Double, nullable=True),  #: set once every variant is terminal
    sa.Index("ux_batches_idempotency", "project", "idempotency_key", unique=True),
    sa.Index("ix_batches_open", "completed_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("batch_id", sa.String(40), sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  #: pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("delivered_at", sa.Double, nullable=True),
    sa.Index("ux_webhook_batch_event", "batch_id", "event", unique=True),
    sa.Index("ix_webhook_due", "status", "next_attempt_at"),
)


def apply_v2(conn: sa.Connection) -> None:
    """Migration 2: create the tables above (frozen here: later changes get their own migration)."""
    for table in (api_keys, audit_log, audit_head, batches, webhook_deliveries):
        table.create(conn)
