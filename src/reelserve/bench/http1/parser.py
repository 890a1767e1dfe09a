"""An incremental HTTP/1.x response parser: bytes in as they arrive, one response out.

``feed`` takes whatever one socket read returned and consumes what belongs to the current response;
``done`` turns true with the last body byte. Bodies are framed by ``Content-Length``, by chunked
transfer coding (trailers read and dropped), or, with neither, by the server closing the connection
(``feed_eof``). ``1xx`` interim responses are skipped; ``HEAD`` answers and ``204``/``304`` have no body.
The body is kept only when asked (``keep_body``) or when the status is an error (≥ 400: its body is
the error message); otherwise only counted, so a 224 MB raw-frame answer costs no memory.
"""

from __future__ import annotations

import enum

from reelserve.bench.http1.errors import ConnectionClosed, RemoteProtocolError

__all__ = ["ResponseParser"]

MAX_HEAD_BYTES = 64 * 1024  #: a header block larger than this is refused
_MAX_LINE = 4096  #: a chunk-size line longer than this is refused


class _State(enum.Enum):
    HEAD = "head"  #: reading the status line and headers
    LENGTH = "length"  #: a Content-Length body
    CHUNK_SIZE = "chunk_size"  #: a chunk-size line
    CHUNK_DATA = "chunk_data"  #: inside a chunk
    CHUNK_END = "chunk_end"  #: the CRLF after a chunk's data
    TRAILERS = "trailers"  #: trailer lines after the last (zero) chunk
    UNTIL_CLOSE = "until_close"  #: no framing: the body ends when the server closes
    DONE = "done"


class ResponseParser:
    """One response on one connection. Not reusable: make a new one per request."""

    def __init__(self, *, keep_body: bool = True, head_request: bool = False) -> None:
        self.keep_body = keep_body
        self.head_request = head_request
        self.status = 0
        self.reason = ""
        self.version = ""
        self.headers: dict[str, str] = {}  #: lower-case names; repeated headers joined with ", "
        self.body_bytes = 0  #: body bytes received (without chunk framing)
        self.received = 0  #: every byte fed, head and framing included
        self.trailing = False  #: bytes arrived after the response ended (the connection is unusable)
        self._state = _State.HEAD
        self._buf = bytearray()  # head / chunk-size line / trailer bytes not consumed yet
        self._remaining = 0
        self._parts: list[bytes] = []

    @property
    def head_done(self) -> bool:
        return self._state is not _State.HEAD

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this response."""
        if self._state is not _State.DONE or self.trailing:
            return False
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def body(self) -> bytes:
        return b"".join(self._parts)

    def feed(self, data: bytes) -> None:
        """Consume one read's worth of bytes."""
        self.received += len(data)
        view = memoryview(data)
        while view and self._state is not _State.DONE:
            view = self._step(view)
        if view:
            self.trailing = True

    def feed_eof(self) -> None:
        """The server closed the connection: ends an unframed body, else the answer was cut short."""
        if self._state is _State.UNTIL_CLOSE:
            self._state = _State.DONE
        elif self._state is not _State.DONE:
            what = "before answering" if self.received == 0 else f"after {self.received} bytes of the answer"
            raise ConnectionClosed(f"the server closed the connection {what}", self.received)

    def _step(self, view: memoryview) -> memoryview:
        state = self._state
        if state is _State.HEAD:
            return self._head(view)
        if state in (_State.LENGTH, _State.CHUNK_DATA, _State.UNTIL_CLOSE):
            return self._data(view)
        if state is _State.TRAILERS:
            return self._trailers(view)
        return self._chunk_line(view)

    def _take_line(self, view: memoryview, end: bytes, limit: int) -> tuple[bytes | None, memoryview]:
        """Buffer bytes until ``end``; returns (the buffered text before ``end`` or None, the rest)."""
        start = max(0, len(self._buf) - len(end) + 1)
        self._buf += view
        found = self._buf.find(end, start)
        if found < 0:
            if len(self._buf) > limit:
                raise RemoteProtocolError(f"a header or chunk line longer than {limit} bytes")
            return None, view[len(view) :]
        line = bytes(self._buf[:found])
        rest = len(self._buf) - found - len(end)  # bytes of this read after the terminator
        self._buf.clear()
        return line, view[len(view) - rest :]

    def _head(self, view: memoryview) -> memoryview:
        head, rest = self._take_line(view, b"\r\n\r\n", MAX_HEAD_BYTES)
        if head is None:
            return rest
        self._parse_head(head)
        if 100 <= self.status < 200 and self.status != 101:  # interim: the real answer follows
            self.headers = {}
            return rest
        self._start_body()
        return rest

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        self.version, self.status = parts[0], int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise RemoteProtocolError(f"a malformed header line: {line[:80]!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        self.headers = headers

    def _start_body(self) -> None:
        self.keep_body = self.keep_body or self.status >= 400
        if self.head_request or self.status in (101, 204, 304):
            self._state = _State.DONE
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._state = _State.CHUNK_SIZE
        elif "content-length" in self.headers:
            length = self.headers["content-length"].split(",")[0].strip()
            if not length.isdigit():
                raise RemoteProtocolError(f"a bad Content-Length: {length[:40]!r}")
            self._remaining = int(length)
            self._state = _State.LENGTH if self._remaining else _State.DONE
        else:
            self._state = _State.UNTIL_CLOSE

    def _data(self, view: memoryview) -> memoryview:
        unframed = self._state is _State.UNTIL_CLOSE
        take = len(view) if unframed else min(len(view), self._remaining)
        if self.keep_body:
            self._parts.append(view[:take].tobytes())
        self.body_bytes += take
        if not unframed:
            self._remaining -= take
            if self._remaining == 0:
                self._state = _State.DONE if self._state is _State.LENGTH else _State.CHUNK_END
        return view[take:]

    def _chunk_line(self, view: memoryview) -> memoryview:
        line, rest = self._take_line(view, b"\r\n", _MAX_LINE)
        if line is None:
            return rest
        if self._state is _State.CHUNK_END:
            if line:
                raise RemoteProtocolError("a chunk's data is longer than its size line says")
            self._state = _State.CHUNK_SIZE
            return rest
        size_text = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
        try:
            size = int(size_text, 16)
        except ValueError:
            raise RemoteProtocolError(f"a bad chunk-size line: {line[:40]!r}") from None
        if size < 0:
            raise RemoteProtocolError(f"a bad chunk-size line: {line[:40]!r}")
        self._remaining = size
        self._state = _State.CHUNK_DATA if size else _State.TRAILERS
        return rest

    def _trailers(self, view: memoryview) -> memoryview:
        line, rest = self._take_line(view, b"\r\n", MAX_HEAD_BYTES)
        if line is not None and not line:  # the empty line that ends the trailers
            self._state = _State.DONE
        return rest
