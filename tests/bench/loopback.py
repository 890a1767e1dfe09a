"""A scripted HTTP/1.1 server on 127.0.0.1 for the lean client's tests: real sockets, real bytes.

Each test gives a handler ``(request, n) -> Reply`` that decides, per request, what goes back on the
wire: any bytes, in pieces with pauses, then keep the connection, close it, or never answer. The
server counts connections and requests, and records each request's head and body as received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["Loopback", "Reply", "Request", "loopback", "ok"]


@dataclass(frozen=True, slots=True)
class Request:
    head: bytes  #: request line and headers, without the blank line
    body: bytes

    @property
    def target(self) -> str:
        return self.head.split(b" ")[1].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode().partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    pieces: tuple[bytes, ...] = ()  #: written one after another, ``pause_s`` apart
    pause_s: float = 0.0
    close: bool = False  #: close the connection after the pieces
    hang: bool = False  #: write nothing more and never close (a stuck server)


def ok(body: bytes = b"hello", *extra: str) -> Reply:
    """A 200 with a Content-Length body in one piece."""
    head = "\r\n".join(["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra])
    return Reply((head.encode() + b"\r\n\r\n" + body,))


@dataclass
class Loopback:
    handler: Callable[[Request, int], Reply]
    port: int = 0
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request = Request(head[:-4], b"")
                length = int(request.header("content-length") or 0)
                request = Request(request.head, await reader.readexactly(length))
                self.requests.append(request)
                if not await self._answer(self.handler(request, len(self.requests)), writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, reply: Reply, writer: asyncio.StreamWriter) -> bool:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for i, piece in enumerate(reply.pieces):
                if i and reply.pause_s:
                    await asyncio.sleep(reply.pause_s)
                writer.write(piece)
                await writer.drain()
            if reply.hang:
                await asyncio.sleep(3600)
        finally:
            self.in_flight -= 1
        return not reply.close


@asynccontextmanager
async def loopback(handler: Callable[[Request, int], Reply]) -> AsyncIterator[Loopback]:
    server = Loopback(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()
