"""Webhook deliveries against a real local receiver: signed, retried with backoff, given up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from reelserve.api.webhooks import SIGNATURE_HEADER, WebhookSender, sign, verify
from reelserve.core.records import JobStatus, Priority
from reelserve.store import JobDraft, SqlStore
from reelserve.store.batches import create_batch, delivery_rows


class _AlwaysDown(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.hits.append(self.headers[SIGNATURE_HEADER])
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def down_url() -> Iterator[str]:
    _AlwaysDown.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysDown)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_a_failing_receiver_is_retried_then_given_up(store: SqlStore, down_url: str) -> None:
    draft = JobDraft("o/p", "t2v", {"prompt": "p"}, Priority.BATCH)
    batch, results = create_batch(
        store.engine, project="o/p", template={}, variants=[("a", draft)], webhook_url=down_url,
        webhook_secret="k" * 16,
    )  # fmt: skip
    store.finish_job(results[0][0].id, JobStatus.CANCELLED)
    sender = WebhookSender(store.engine, timeout_s=5, attempts=3, backoff_s=0.01)
    try:
        for _ in range(50):
            sender.tick()
            rows = delivery_rows(store.engine, batch.id)
            if rows and rows[0]["status"] == "failed":
                break
            threading.Event().wait(0.02)
    finally:
        sender.close()
    row = delivery_rows(store.engine, batch.id)[0]
    assert (row["status"], row["attempts"], row["last_status"]) == ("failed", 3, 503)
    assert len(_AlwaysDown.hits) == 3 and all(h.startswith("t=") and ",v1=" in h for h in _AlwaysDown.hits)


def test_signatures_reject_other_bodies_secrets_and_old_timestamps() -> None:
    header = sign("secret-secret-secret", b'{"a":1}', 1_000_000)
    assert verify("secret-secret-secret", b'{"a":1}', header, now=1_000_100)
    assert not verify("secret-secret-secret", b'{"a":2}', header, now=1_000_100)
    assert not verify("other-secret-secret", b'{"a":1}', header, now=1_000_100)
    assert not verify("secret-secret-secret", b'{"a":1}', header, now=1_001_000)  # a replay
    assert not verify("secret-secret-secret", b'{"a":1}', "garbage")
