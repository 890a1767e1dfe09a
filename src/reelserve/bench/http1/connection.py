"""One keep-alive HTTP/1.1 connection: an asyncio ``Protocol`` that carries one exchange at a time.

The timestamps are taken at the socket, on the client's monotonic clock:

- ``sent_ns``: just before the request's single ``transport.write`` (head and body together);
- ``first_byte_ns``: the first read that returned bytes of the answer;
- ``head_ns``: the read that completed the status line and headers;
- ``body_ns``: the first read that returned body bytes (``head_ns`` for an empty body);
- ``complete_ns``: the read that returned the last body byte.

``data_received`` runs as soon as the event loop has read the socket, before any coroutine resumes,
so nothing the caller does after the answer (parsing JSON, bookkeeping) lands inside these stamps.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from reelserve.bench.http1.errors import ConnectionClosed, HttpError
from reelserve.bench.http1.parser import ResponseParser

__all__ = ["Connection", "Exchange"]


@dataclass(slots=True)
class Exchange:
    """One request's answer as it arrives, and its socket-level stamps (monotonic ns)."""

    parser: ResponseParser
    sent_ns: int = 0
    first_byte_ns: int = 0
    head_ns: int = 0
    body_ns: int = 0
    complete_ns: int = 0


class Connection(asyncio.Protocol):
    """A TCP (or TLS) connection to one origin. ``exchange`` sends a request and awaits its answer."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._current: Exchange | None = None
        self._waiter: asyncio.Future[Exchange] | None = None
        self.closed = False
        self.exchanges = 0  #: requests this connection has carried

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        ex = self._current
        if ex is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.close()
            return
        if not ex.first_byte_ns:
            ex.first_byte_ns = now
        parser = ex.parser
        had_head, had_body = parser.head_done, parser.body_bytes
        try:
            parser.feed(data)
        except HttpError as exc:
            self._finish(exc)
            return
        if parser.head_done and not had_head:
            ex.head_ns = now
        if parser.body_bytes > had_body and not ex.body_ns:
            ex.body_ns = now
        if parser.done:
            ex.complete_ns = now
            ex.body_ns = ex.body_ns or ex.head_ns
            self._finish(None)

    def eof_received(self) -> bool:
        ex = self._current
        if ex is not None:
            try:
                ex.parser.feed_eof()
            except HttpError as exc:
                self._finish(exc)
            else:  # an answer framed by the close
                ex.complete_ns = time.monotonic_ns()
                ex.body_ns = ex.body_ns or ex.head_ns or ex.complete_ns
                self._finish(None)
        self.closed = True
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        received = self._current.parser.received if self._current else 0
        self._finish(ConnectionClosed(f"the connection was lost ({exc or 'closed by the server'})", received))

    # -- the caller's side ----------------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        return not self.closed and self._current is None and self._transport is not None

    async def exchange(self, request: bytes, parser: ResponseParser) -> Exchange:
        """Write ``request`` in one call and wait for the complete answer (or raise an HttpError)."""
        if not self.reusable or self._transport is None:
            raise ConnectionClosed("the connection is closed or busy")
        ex = Exchange(parser)
        waiter = asyncio.get_running_loop().create_future()
        self._current, self._waiter = ex, waiter
        self.exchanges += 1
        ex.sent_ns = time.monotonic_ns()
        self._transport.write(request)
        try:
            return await waiter
        finally:
            if not waiter.done():  # cancelled (a timeout): the answer may still arrive, so drop it
                waiter.cancel()
                self.close()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _finish(self, error: HttpError | None) -> None:
        ex, waiter = self._current, self._waiter
        self._current, self._waiter = None, None
        if error is not None or (ex is not None and not ex.parser.keep_alive):
            self.close()
        if waiter is None or waiter.done():
            return
        if error is not None:
            waiter.set_exception(error)
        else:
            assert ex is not None
            waiter.set_result(ex)
