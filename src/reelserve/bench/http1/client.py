"""The lean HTTP/1.1 client the harness measures with: keep-alive pools, one write per request.

Why not httpx: on this 2-core machine its async request path costs ~1.5 ms of Python per request (a
dozen event-loop turns, two socket writes), which the benchmark would bill to the endpoint. This one
builds the request as one ``bytes``, writes it once, parses the answer incrementally in the protocol's
``data_received`` and stamps it there (see :mod:`.connection`), so what the harness reports is the
time between the write and the socket read that carried the last byte.

Contract:

- ``request`` returns a :class:`Response` for every answer, whatever its status; transport failures
  raise :class:`~.errors.HttpError` (see the tree in :mod:`.errors`).
- Connections are kept alive and reused, at most ``pool`` per origin; a request waits for a free one.
- A request on a reused connection that the server had closed while idle (closed before any byte of
  the answer) is sent once more on a new connection — the usual HTTP/1.1 keep-alive race.
- ``timeout_s`` bounds one request from the wait for a connection to its last byte; on expiry the
  connection is closed and :class:`~.errors.HttpTimeout` raised.
- ``keep_body=False`` counts the body without keeping it.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

from reelserve.bench.http1.connection import Connection, Exchange
from reelserve.bench.http1.errors import ConnectError, ConnectionClosed, HttpTimeout
from reelserve.bench.http1.parser import ResponseParser

__all__ = ["HttpClient", "Response"]

_USER_AGENT = "reelserve-bench"
CLIENT_TIMEOUT = -1.0  #: ``request(timeout_s=...)`` default: the client's own timeout


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer; stamps are the client's monotonic ns (see :mod:`.connection`)."""

    status_code: int
    reason: str
    headers: Mapping[str, str]  #: lower-case names
    content: bytes  #: the body; empty when the request asked not to keep it
    body_bytes: int  #: body bytes received (without chunk framing), kept or not
    url: str
    sent_ns: int  #: just before the request's one write
    first_byte_ns: int  #: first read returning bytes of the answer
    head_ns: int  #: status line and headers complete
    body_ns: int  #: first body byte (= head_ns for an empty body)
    complete_ns: int  #: last body byte

    def json(self) -> Any:
        return jsonlib.loads(self.content)


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


class _Pool:
    """Idle keep-alive connections to one origin and a cap on how many are open at once."""

    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self.idle: list[Connection] = []
        self.open: set[Connection] = set()

    def take_idle(self) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable:
                return conn
            self.open.discard(conn)
        return None

    def put_back(self, conn: Connection) -> None:
        if conn.reusable:
            self.idle.append(conn)
        else:
            self.open.discard(conn)
            conn.close()


def _origin(url: str) -> tuple[_Origin, str]:
    """(origin, path with query) of an absolute http(s) URL; ValueError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Origin(parts.scheme, parts.hostname, port), target


class HttpClient:
    """Keep-alive HTTP/1.1 to ``base_url`` (and any absolute URL it is given)."""

    def __init__(
        self,
        base_url: str,
        *,
        pool: int = 16,
        timeout_s: float | None = 60.0,
        connect_timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._base, prefix = _origin(base_url.rstrip("/") + "/")
        self._prefix = prefix.rstrip("/")
        self.base_url = base_url.rstrip("/")
        self.pool_size = pool
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.headers = dict(headers or {})
        self._pools: dict[_Origin, _Pool] = {}
        self._ssl: ssl.SSLContext | None = None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for conn in pool.open:
                conn.close()
            pool.open.clear()
            pool.idle.clear()

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        keep_body: bool = True,
        timeout_s: float | None = CLIENT_TIMEOUT,
    ) -> Response:
        """Send one request and return its complete answer (see the module's contract)."""
        origin, target = self._target(url, params)
        merged = {k.lower(): v for k, v in self.headers.items()}
        if json is not None:
            merged["content-type"] = "application/json"
        merged |= {k.lower(): v for k, v in (headers or {}).items()}
        body = jsonlib.dumps(json).encode() if json is not None else (content or b"")
        wire = _encode(method, target, origin.host_header, merged, body)
        limit = self.timeout_s if timeout_s == CLIENT_TIMEOUT else timeout_s
        try:
            async with asyncio.timeout(limit):
                ex = await self._send(origin, wire, method == "HEAD", keep_body)
        except TimeoutError:
            raise HttpTimeout(f"{method} {target}: no complete answer within {limit:g} s") from None
        parser = ex.parser
        return Response(
            parser.status,
            parser.reason,
            parser.headers,
            parser.body(),
            parser.body_bytes,
            f"{origin.scheme}://{origin.host_header}{target}",
            ex.sent_ns,
            ex.first_byte_ns,
            ex.head_ns,
            ex.body_ns,
            ex.complete_ns,
        )

    def _target(self, url: str, params: Mapping[str, str] | None) -> tuple[_Origin, str]:
        if url.startswith(("http://", "https://")):
            origin, target = _origin(url)
        else:
            origin, target = self._base, self._prefix + ("" if url.startswith("/") else "/") + url
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        return origin, target

    async def _send(self, origin: _Origin, wire: bytes, head: bool, keep_body: bool) -> Exchange:
        pool = self._pools.setdefault(origin, _Pool(self.pool_size))
        async with pool.slots:
            for attempt in (0, 1):
                conn = pool.take_idle()
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(origin)
                    pool.open.add(conn)
                try:
                    return await conn.exchange(wire, ResponseParser(keep_body=keep_body, head_request=head))
                except ConnectionClosed as exc:
                    if not (reused and exc.received == 0 and attempt == 0):
                        raise
                finally:
                    pool.put_back(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect(self, origin: _Origin) -> Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(Connection, origin.host, origin.port, ssl=tls)
        except TimeoutError:
            raise ConnectError(
                f"connecting to {origin.host}:{origin.port} took over {self.connect_timeout_s:g} s"
            ) from None
        except OSError as exc:
            reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else exc.strerror or exc
            raise ConnectError(f"cannot connect to {origin.host}:{origin.port}: {reason}") from None
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


def _encode(method: str, target: str, host: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The whole request as one ``bytes``: request line, headers, blank line, body."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {_USER_AGENT}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
