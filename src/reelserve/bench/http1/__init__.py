"""A lean HTTP/1.1 client for the benchmark's hot path: keep-alive, one write per request, incremental
parsing, timestamps taken at the socket. httpx stays out of the measured path (see :mod:`.client`)."""

from __future__ import annotations

from reelserve.bench.http1.client import CLIENT_TIMEOUT, HttpClient, Response
from reelserve.bench.http1.errors import (
    ConnectError,
    ConnectionClosed,
    HttpError,
    HttpTimeout,
    RemoteProtocolError,
)

__all__ = [
    "CLIENT_TIMEOUT",
    "ConnectError",
    "ConnectionClosed",
    "HttpClient",
    "HttpError",
    "HttpTimeout",
    "RemoteProtocolError",
    "Response",
]
