"""Batch webhooks: HMAC-SHA256 signed POSTs, retried with exponential backoff.

Signature header ``X-Reelserve-Signature: t=<unix seconds>,v1=<hex>`` where ``hex =
HMAC-SHA256(secret, "<t>.<raw body>")``. A receiver recomputes it with the batch's secret and
rejects old timestamps (replays). Any 2xx is a delivery; anything else (or no answer within the
timeout) is retried after ``backoff × 2^attempt`` seconds, up to ``attempts`` tries, then the
delivery is marked failed. Deliveries are rows (``webhook_deliveries``): a restart resumes them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from reelserve.store.batches import (
    Batch,
    Delivery,
    complete_batch,
    due_deliveries,
    open_batches,
    record_attempt,
)

__all__ = ["SIGNATURE_HEADER", "WebhookSender", "sign", "verify"]

log = logging.getLogger("reelserve.api")
SIGNATURE_HEADER = "X-Reelserve-Signature"


def sign(secret: str, body: bytes, ts: int) -> str:
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(
    secret: str, body: bytes, header: str, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """What a receiver does: check the signature and that it is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), header)


def completion_payload(batch: Batch) -> dict[str, Any]:
    """The webhook body; the store adds the final ``counts`` when it completes the batch."""
    return {
        "type": "batch.completed",
        "batch_id": batch.id,
        "project": batch.project,
        "total": batch.total,
        "manifest_path": f"/v1/batches/{batch.id}/manifest",
    }


class WebhookSender:
    def __init__(self, engine: sa.Engine, *, timeout_s: float, attempts: int, backoff_s: float) -> None:
        self.engine = engine
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def tick(self) -> int:
        """Complete finished batches, then send due deliveries; returns deliveries attempted."""
        for batch in open_batches(self.engine):
            complete_batch(self.engine, batch, completion_payload(batch))
        due = due_deliveries(self.engine, time.time())
        for delivery in due:
            self._send(delivery)
        return len(due)

    def _send(self, d: Delivery) -> None:
        body = json.dumps({**d.payload, "delivery_id": d.id, "attempt": d.attempts + 1}).encode()
        headers = {"Content-Type": "application/json", "X-Reelserve-Event": d.event}
        if d.secret:
            headers[SIGNATURE_HEADER] = sign(d.secret, body, int(time.time()))
        status: int | None = None
        error: str | None = None
        try:
            status = self.client.post(d.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        if not ok and error is None:
            error = f"HTTP {status}"
        tried = d.attempts + 1
        retry_at = None if ok or tried >= self.attempts else time.time() + self.backoff_s * 2 ** (tried - 1)
        record_attempt(self.engine, d.id, ok=ok, http_status=status, error=error, next_attempt_at=retry_at)
        extra = {
            "delivery_id": d.id,
            "batch_id": d.batch_id,
            "attempt": tried,
            "url_host": urlsplit(d.url).hostname,
        }
        if ok:
            log.info("webhook delivered", extra={**extra, "http_status": status})
        else:
            log.warning("webhook attempt failed", extra={**extra, "code": error})

    def close(self) -> None:
        self.client.close()
