"""``/v1/batches``: a template plus thousands of variants in one transaction; progress; manifest."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from reelserve.api.admission import (
    check_idempotency_key,
    check_queue,
    fields_of,
    parse_body,
    spec_from_fields,
)
from reelserve.api.auditlog import event
from reelserve.api.auth import Reader, Writer
from reelserve.api.errors import responses
from reelserve.api.openapi import body
from reelserve.api.present import OPENAI_STATUS
from reelserve.api.schemas import BatchCreate, BatchObject
from reelserve.core.errors import InvalidInput, LimitExceeded, NotFound
from reelserve.core.records import Priority
from reelserve.store.base import JobDraft
from reelserve.store.batches import Batch, batch_jobs, batch_summary, create_batch, delivery_rows, get_batch
from reelserve.store.governance import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1/batches", tags=["batches"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _services(request: Request) -> Any:
    return request.app.state.services


def _owned(services: Any, principal: Principal, batch_id: str) -> Batch:
    batch = get_batch(services.store.engine, batch_id) if len(batch_id) <= 40 else None
    if batch is None or batch.project != principal.scope:
        raise NotFound(f"no batch {batch_id!r} in this project", param="batch_id")
    return batch


def _object(services: Any, batch: Batch, **extra: Any) -> BatchObject:
    deliveries = [
        {k: row[k] for k in ("event", "status", "attempts", "last_status", "delivered_at")}
        for row in delivery_rows(services.store.engine, batch.id)
    ]
    return BatchObject(
        id=batch.id,
        project=batch.project,
        status="completed" if batch.completed_at is not None else "in_progress",
        total=batch.total,
        counts=batch_summary(services.store.engine, batch),
        created_at=int(batch.created_at),
        completed_at=int(batch.completed_at) if batch.completed_at is not None else None,
        webhook_url=batch.webhook_url,
        webhook_deliveries=deliveries,
        **extra,
    )


def _drafts(req: BatchCreate, scope: str) -> list[tuple[str, JobDraft]]:
    template = req.template
    priority = Priority(template.priority)
    base = fields_of(template)
    seen: set[str] = set()
    drafts: list[tuple[str, JobDraft]] = []
    for i, variant in enumerate(req.variants):
        if variant.variant_id in seen:
            raise InvalidInput(
                f"variant_id {variant.variant_id!r} appears twice", param=f"variants.{i}.variant_id"
            )
        seen.add(variant.variant_id)
        prompt = variant.prompt or template.prompt
        if not prompt:
            raise InvalidInput(
                "a variant needs a prompt (its own or the template's)", param=f"variants.{i}.prompt"
            )
        try:
            spec = spec_from_fields(prompt, base, variant)
        except InvalidInput as exc:
            raise type(exc)(f"variant {i}: {exc.message}", param=f"variants.{i}.{exc.param}") from None
        extra = {"variant_id": variant.variant_id}
        drafts.append((variant.variant_id, JobDraft(scope, "t2v", {**spec.to_dict(), **extra}, priority)))
    return drafts


def _admit(services: Any, principal: Principal, req: BatchCreate, key: str | None) -> BatchObject:
    settings = services.settings
    if len(req.variants) > settings.max_batch_variants:
        message = f"{len(req.variants)} variants is over the limit of {settings.max_batch_variants}"
        raise LimitExceeded(message, param="variants")
    check_queue(services.metrics.queued(), len(req.variants), settings.max_queue, settings.retry_after_s)
    drafts = _drafts(req, principal.scope)
    secret = (req.webhook.secret or secrets.token_urlsafe(24)) if req.webhook else None
    batch, results = create_batch(
        services.store.engine,
        project=principal.scope,
        template=req.template.model_dump(exclude_none=True, exclude={"prompt"}),
        variants=drafts,
        idempotency_key=key,
        webhook_url=req.webhook.url if req.webhook else None,
        webhook_secret=secret,
    )
    admitted = sum(1 for _, created in results if created)
    detail = {"variants": len(drafts), "admitted": admitted}
    services.audit.record(event(principal, "batch.create", batch.id, **detail), wait=True)
    return _object(services, batch, admitted=admitted, webhook_secret=batch.webhook_secret)


@router.post("", response_model=BatchObject, responses=responses(400, 401, 403, 413, 422, 429),
             openapi_extra=body(BatchCreate))  # fmt: skip
async def create_batch_route(request: Request, principal: Writer, key: IdemKey = None) -> BatchObject:
    """Admit a batch in one transaction. The same `Idempotency-Key` names the same batch, and a
    variant is admitted once per `(batch, variant_id)`: repeating a request adds only what is new."""
    req, _ = await parse_body(request, BatchCreate)
    return await run_in_threadpool(_admit, _services(request), principal, req, check_idempotency_key(key))


@router.get("/{batch_id}", response_model=BatchObject, responses=responses(401, 404))
def get_batch_route(batch_id: str, request: Request, principal: Reader) -> BatchObject:
    """Progress: variant counts by status, and webhook deliveries."""
    services = _services(request)
    batch = _owned(services, principal, batch_id)
    services.audit.record(event(principal, "batch.view", batch.id))
    return _object(services, batch)


def _manifest_lines(services: Any, batch: Batch) -> Iterator[bytes]:
    for job, finals in batch_jobs(services.store.engine, batch):
        line = {
            "variant_id": (job.idempotency_key or "").rsplit(":", 1)[-1],
            "video_id": job.id,
            "status": OPENAI_STATUS[job.status],
            "job_status": job.status.value,
            "seed": job.spec.get("seed"),
            "error": {"code": job.error_code} if job.error_code else None,
            "finals": finals,
        }
        yield (json.dumps(line, separators=(",", ":")) + "\n").encode()


@router.get(
    "/{batch_id}/manifest",
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON line per variant"},
               **responses(401, 404)},
)  # fmt: skip
def batch_manifest(batch_id: str, request: Request, principal: Reader) -> StreamingResponse:
    """JSONL, one line per variant: its video id, status, seed and final files (sha256, bytes)."""
    services = _services(request)
    batch = _owned(services, principal, batch_id)
    services.audit.record(event(principal, "batch.manifest", batch.id))
    return StreamingResponse(_manifest_lines(services, batch), media_type="application/x-ndjson")
