"""What the lean HTTP/1.1 client raises.

    HttpError                   base; the message says what failed and, where it helps, what to do
    ├── ConnectError            the server could not be reached (refused, no route, DNS, TLS)
    ├── RemoteProtocolError     the answer is not HTTP/1.x we can read, or it ended early
    │   └── ConnectionClosed    the server closed the connection before the answer was complete
    └── HttpTimeout             no complete answer within the timeout (also a ``TimeoutError``)

An HTTP error status (4xx, 5xx) is not an exception: it is a :class:`~.client.Response` like any other.
"""

from __future__ import annotations

__all__ = ["ConnectError", "ConnectionClosed", "HttpError", "HttpTimeout", "RemoteProtocolError"]


class HttpError(Exception):
    """Base of every transport failure of the lean client."""


class ConnectError(HttpError):
    """The TCP (or TLS) connection could not be opened."""


class RemoteProtocolError(HttpError):
    """The server answered something that is not a well-formed HTTP/1.x response."""


class ConnectionClosed(RemoteProtocolError):
    """The connection closed mid-answer. ``received`` = response bytes that arrived before the close:
    0 on a kept-alive connection means the server had dropped it while idle (safe to send again)."""

    def __init__(self, message: str, received: int = 0) -> None:
        super().__init__(message)
        self.received = received


class HttpTimeout(HttpError, TimeoutError):
    """No complete answer in time; the connection it used is closed, never reused."""
