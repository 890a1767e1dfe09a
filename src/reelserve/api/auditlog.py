"""Writing audit events with group commit.

Requests hand events to ``AuditWriter.record``; one thread chains everything pending onto the log
in one transaction. Changes (create, cancel, key changes) wait for their commit (``wait=True``):
the response is sent only once the event is durable. Reads (view, list, download) do not wait:
a crash can lose the last few milliseconds of read events, never a change.
"""

from __future__ import annotations

import logging
import threading

import sqlalchemy as sa

from reelserve.store.governance import AuditEvent, Principal, append_audit

__all__ = ["AuditWriter", "event"]

log = logging.getLogger("reelserve.api")


def event(principal: Principal, action: str, resource: str, **detail: object) -> AuditEvent:
    return AuditEvent(principal.org, principal.project, principal.key_id, action, resource, dict(detail))


class AuditWriter:
    def __init__(self, engine: sa.Engine, max_batch: int = 1000) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[tuple[AuditEvent, threading.Event | None]] = []
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, item: AuditEvent, *, wait: bool = False, timeout: float = 30.0) -> None:
        done = threading.Event() if wait else None
        with self._cond:
            self._pending.append((item, done))
            self._cond.notify()
        if done is not None and not done.wait(timeout):
            log.error("audit commit timed out", extra={"event": item.action})

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything recorded so far is committed."""
        marker = threading.Event()
        with self._cond:
            if not self._pending:
                return
            self._pending.append((AuditEvent("", "", "", "", ""), marker))  # filtered out below
            self._cond.notify()
        marker.wait(timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._pending and self._stopped:
                    return
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            events = [item for item, _ in batch if item.action]
            try:
                if events:
                    append_audit(self.engine, events)
            except Exception:  # keep the writer alive; the events go back for another try
                log.exception("audit append failed", extra={"count": len(events)})
                with self._cond:
                    self._pending[:0] = batch
                self._cond_wait_briefly()
                continue
            for _, done in batch:
                if done is not None:
                    done.set()

    def _cond_wait_briefly(self) -> None:
        with self._cond:
            self._cond.wait(0.5)
