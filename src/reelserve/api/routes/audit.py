"""``/v1/audit``: the hash-chained audit log of the key's organisation (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from reelserve.api.auth import Admin
from reelserve.api.errors import responses
from reelserve.api.schemas import AuditList
from reelserve.store.governance import list_audit

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=AuditList, responses=responses(401, 403))
def list_audit_events(
    request: Request,
    principal: Admin,
    after: Annotated[int, Query(ge=0, le=2**62, description="A sequence number cursor.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    """Events in order, each with `prev_hash` and `hash` (verify offline: `reelserve audit verify`)."""
    services = request.app.state.services
    services.audit.flush()
    rows = list_audit(services.store.engine, org=principal.org, after=after, limit=limit + 1)
    page = rows[:limit]
    return AuditList(data=page, last_seq=page[-1]["seq"] if page else None, has_more=len(rows) > limit)
