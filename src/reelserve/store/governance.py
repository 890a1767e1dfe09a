"""Governance records: API keys (stored hashed) → principals, and the hash-chained audit log.

Keys: ``rs_`` + 43 url-safe characters (256 random bits). Only the sha256 of a key is stored: a
high-entropy key needs no slow hash, and a lookup is one indexed read.

Audit chain: event ``n`` stores ``prev_hash`` (the hash of event ``n - 1``, 64 zeros for the first)
and ``hash = sha256(canonical JSON of every field but hash)``. ``audit_head`` holds the last
``(seq, hash)``. Changing any field of a row, removing a row (also the newest) or reordering rows
breaks a link that ``verify_audit`` reports. Appends are serialised: SQLite's write lock, or a
transaction-scoped advisory lock on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from reelserve.core.errors import InvalidInput, NotFound
from reelserve.core.ids import new_id
from reelserve.store.engine import transaction
from reelserve.store.schema_v2 import api_keys, audit_head, audit_log

__all__ = [
    "GENESIS",
    "ApiKey",
    "AuditEvent",
    "AuditReport",
    "Principal",
    "Role",
    "append_audit",
    "count_keys",
    "create_key",
    "hash_key",
    "list_audit",
    "list_keys",
    "lookup_key",
    "revoke_key",
    "verify_audit",
]

GENESIS = "0" * 64
KEY_PREFIX = "rs_"
_VERIFY_PAGE = 5000


class Role(StrEnum):
    VIEWER = "viewer"  #: reads its project's videos, batches and content
    EDITOR = "editor"  #: also creates, remixes and cancels
    SERVICE = "service"  #: an automation account: the rights of an editor
    ADMIN = "admin"  #: also reads the audit log

    @property
    def can_write(self) -> bool:
        return self is not Role.VIEWER


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's owner."""

    key_id: str
    org: str
    project: str
    role: Role

    @property
    def scope(self) -> str:
        """The job namespace of this principal: ``org/project``."""
        return f"{self.org}/{self.project}"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    prefix: str
    name: str
    org: str
    project: str
    role: Role
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, to what, by whom. ``detail`` carries metadata only (ids, hashes, codes)."""

    org: str
    project: str
    actor: str
    action: str  #: "video.create", "video.view", "video.download", "video.cancel", "key.create", ...
    resource: str
    detail: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0  #: 0 = now


@dataclass(frozen=True, slots=True)
class AuditReport:
    ok: bool
    events: int  #: rows checked
    problem: str | None = None  #: the first broken link, in words


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}; use one of: {valid}", param="role") from None


def _key_from_row(row: Any) -> ApiKey:
    return ApiKey(
        row.id, row.prefix, row.name, row.org, row.project, Role(row.role), row.created_at, row.revoked_at
    )


def create_key(
    engine: sa.Engine, *, org: str, project: str, role: str, name: str = "", actor: str = "cli"
) -> tuple[str, ApiKey]:
    """A new key (plaintext, shown once) and its record; the change is audited in the same transaction."""
    role_ = _role(role)
    for label, value in (("org", org), ("project", project)):
        if not value or "/" in value or len(value) > 100:
            raise InvalidInput(f"{label} must be 1-100 characters without '/'", param=label)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(new_id("key"), plain[:10], name[:200], org, project, role_, time.time(), None)
    with transaction(engine, write=True) as conn:
        conn.execute(
            sa.insert(api_keys).values(
                id=key.id,
                key_hash=hash_key(plain),
                prefix=key.prefix,
                name=key.name,
                org=org,
                project=project,
                role=role_.value,
                created_at=key.created_at,
                revoked_at=None,
            )
        )
        event = AuditEvent(org, project, actor, "key.create", key.id, {"role": role_.value})
        _append(conn, [event])
    return plain, key


def lookup_key(engine: sa.Engine, plain: str) -> Principal | None:
    """The principal of a live key, or None (unknown or revoked)."""
    query = sa.select(api_keys).where(api_keys.c.key_hash == hash_key(plain), api_keys.c.revoked_at.is_(None))
    with transaction(engine, write=False) as conn:
        row = conn.execute(query).first()
    return None if row is None else Principal(row.id, row.org, row.project, Role(row.role))


def list_keys(engine: sa.Engine, *, org: str | None = None) -> list[ApiKey]:
    query = sa.select(api_keys).order_by(api_keys.c.id)
    if org is not None:
        query = query.where(api_keys.c.org == org)
    with transaction(engine, write=False) as conn:
        return [_key_from_row(row) for row in conn.execute(query)]


def count_keys(engine: sa.Engine) -> int:
    with transaction(engine, write=False) as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(api_keys)) or 0)


def revoke_key(engine: sa.Engine, key_id: str, *, actor: str = "cli") -> ApiKey:
    """Revoke a key (idempotent); audited."""
    with transaction(engine, write=True) as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise NotFound(f"no API key {key_id!r}; see `reelserve keys list`", param="key_id")
        if row.revoked_at is None:
            now = time.time()
            conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
            _append(conn, [AuditEvent(row.org, row.project, actor, "key.revoke", key_id)])
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).one()
    return _key_from_row(row)


# -- the audit log ----------------------------------------------------------------------------


def _digest(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _fields(row: Any) -> dict[str, Any]:
    return {
        "seq": int(row["seq"]),
        "ts": float(row["ts"]),
        "org": row["org"],
        "project": row["project"],
        "actor": row["actor"],
        "action": row["action"],
        "resource": row["resource"],
        "detail": dict(row["detail"] or {}),
        "prev_hash": row["prev_hash"],
    }


def _append(conn: sa.Connection, events: Sequence[AuditEvent]) -> int:
    """Chain ``events`` onto the log inside the caller's write transaction; returns the last seq."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('reelserve.audit'))"))
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    seq, prev = (int(head.seq), head.hash) if head is not None else (0, GENESIS)
    rows = []
    now = time.time()
    for event in events:
        seq += 1
        values = {
            "seq": seq,
            "ts": event.ts or now,
            "org": event.org,
            "project": event.project,
            "actor": event.actor,
            "action": event.action,
            "resource": event.resource,
            "detail": json.loads(json.dumps(event.detail)),
            "prev_hash": prev,
        }
        values["hash"] = prev = _digest(values)
        rows.append(values)
    if not rows:
        return seq
    conn.execute(sa.insert(audit_log), rows)
    if head is None:
        conn.execute(sa.insert(audit_head).values(id=1, seq=seq, hash=prev))
    else:
        conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
    return seq


def append_audit(engine: sa.Engine, events: Sequence[AuditEvent]) -> int:
    """Append events in one transaction (a group commit); returns the last sequence number."""
    with transaction(engine, write=True) as conn:
        return _append(conn, events)


def list_audit(
    engine: sa.Engine, *, org: str | None = None, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Events in order (``after`` is a sequence number cursor), each with its hashes."""
    query = sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    if org is not None:
        query = query.where(audit_log.c.org == org)
    with transaction(engine, write=False) as conn:
        return [{**_fields(r._mapping), "hash": r.hash} for r in conn.execute(query)]


def verify_audit(engine: sa.Engine) -> AuditReport:
    """Recompute the whole chain; the first changed, removed or reordered row is reported."""
    expected_seq, prev, checked = 1, GENESIS, 0
    with transaction(engine, write=False) as conn:
        head = conn.execute(sa.select(audit_head).where(audit_head.c.id == 1)).first()
        after = 0
        while True:
            page = conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(_VERIFY_PAGE)
            ).all()
            for row in page:
                problem = _check_row(row._mapping, expected_seq, prev)
                if problem is not None:
                    return AuditReport(False, checked, problem)
                expected_seq, prev, checked = expected_seq + 1, row.hash, checked + 1
            if len(page) < _VERIFY_PAGE:
                break
            after = int(page[-1].seq)
    last_seq = 0 if head is None else int(head.seq)
    if last_seq != checked or (head is not None and head.hash != prev):
        return AuditReport(False, checked, f"the log ends at event {checked} but its head says {last_seq}")
    return AuditReport(True, checked)


def _check_row(row: Any, expected_seq: int, prev: str) -> str | None:
    seq = int(row["seq"])
    if seq != expected_seq:
        return f"event {expected_seq} is missing (next is {seq})"
    if row["prev_hash"] != prev:
        return f"event {seq} does not link to event {seq - 1} (a row was changed or removed)"
    if _digest(_fields(row)) != row["hash"]:
        return f"event {seq} was changed after it was written (hash mismatch)"
    return None
