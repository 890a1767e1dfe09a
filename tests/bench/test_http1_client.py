"""The lean HTTP/1.1 client against real loopback servers: keep-alive, chunked bodies, servers that
close, hang or fail, and the socket-level stamps."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reelserve.bench.adapters.base import error_message
from reelserve.bench.http1 import (
    ConnectError,
    ConnectionClosed,
    HttpClient,
    HttpTimeout,
    RemoteProtocolError,
)

from .loopback import Loopback, Reply, Request, loopback, ok

Handler = Callable[[Request, int], Reply]


def _run(handler: Handler, scenario: Callable[[Loopback], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with loopback(handler) as server:
            return await scenario(server)

    return asyncio.run(main())


def test_keep_alive_reuses_one_connection_and_stamps_in_order() -> None:
    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url + "/api/") as client:
            for i in range(5):
                response = await client.post("/v1/x", json={"i": i}, params={"a": "b c"})
                assert response.status_code == 200 and response.content == b"hello"
                stamps = [response.sent_ns, response.first_byte_ns, response.head_ns, response.body_ns]
                assert stamps == sorted(stamps) and stamps[-1] <= response.complete_ns
        assert server.connections == 1 and len(server.requests) == 5
        first = server.requests[0]
        assert first.target == "/api/v1/x?a=b+c"
        assert first.header("host") == f"127.0.0.1:{server.port}"
        assert first.header("content-type") == "application/json" and first.body == b'{"i": 0}'

    _run(lambda r, n: ok(), scenario)


def test_chunked_body_in_pieces_is_reassembled_and_stamped_per_read() -> None:
    pieces = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"4\r\nab",
        b"cd\r\n3;x=y\r\nefg\r\n",
        b"0\r\n\r\n",
    )

    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            response = await client.get("/video")
            assert response.content == b"abcdefg" and response.body_bytes == 7
            # the last piece left the server 3 × 20 ms after the request: "complete" is the read
            # that carried it, not the first one (a lower bound that holds however loaded we are)
            assert response.complete_ns - response.sent_ns >= 60_000_000
            assert response.head_ns <= response.body_ns <= response.complete_ns
            again = await client.get("/video", keep_body=False)
            assert again.content == b"" and again.body_bytes == 7
        assert server.connections == 1

    _run(lambda r, n: Reply(pieces, pause_s=0.02), scenario)


def test_connection_close_answer_opens_a_new_connection_next_time() -> None:
    def handler(request: Request, n: int) -> Reply:
        reply = ok(b"bye", "Connection: close")
        return Reply(reply.pieces, close=True)

    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            assert [(await client.get("/")).content for _ in range(3)] == [b"bye"] * 3
        assert server.connections == 3

    _run(handler, scenario)


def test_idle_connection_closed_by_the_server_is_retried_on_a_new_one() -> None:
    # The server closes after each answer without saying so (a keep-alive timeout): the client's
    # next request finds the pooled connection dead and must go out again on a fresh one.
    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            for _ in range(3):
                response = await client.post("/", json={})
                assert response.status_code == 200
                await asyncio.sleep(0.01)  # let the close reach the client
        assert server.connections == 3 and len(server.requests) == 3

    _run(lambda r, n: Reply(ok().pieces, close=True), scenario)


def test_reused_connection_dropped_before_any_answer_byte_is_sent_again_once() -> None:
    # The keep-alive race: the server closes a kept-alive connection just as the request goes out.
    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            assert (await client.get("/1")).status_code == 200
            assert (await client.get("/2")).status_code == 200  # dropped once, then answered
        assert [r.target for r in server.requests] == ["/1", "/2", "/2"] and server.connections == 2

    _run(lambda r, n: Reply(close=True) if n == 2 else ok(), scenario)


def test_fresh_connection_dropped_without_an_answer_is_an_error() -> None:
    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            with pytest.raises(ConnectionClosed):
                await client.post("/", json={})
        assert len(server.requests) == 1  # never re-sent: the server may have acted on it

    _run(lambda r, n: Reply(close=True), scenario)


def test_body_framed_by_close_is_read_to_the_end() -> None:
    pieces = (b"HTTP/1.1 200 OK\r\n\r\nfirst ", b"second")

    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            response = await client.get("/")
        assert response.content == b"first second" and response.complete_ns >= response.body_ns

    _run(lambda r, n: Reply(pieces, pause_s=0.01, close=True), scenario)


def test_server_closing_mid_body_is_an_error_and_the_connection_is_not_reused() -> None:
    def handler(request: Request, n: int) -> Reply:
        if n == 1:
            return Reply((b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",), close=True)
        return ok()

    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            with pytest.raises(ConnectionClosed, match="closed the connection after"):
                await client.get("/")
            assert (await client.get("/")).content == b"hello"
        assert server.connections == 2 and len(server.requests) == 2  # the cut request is not re-sent

    _run(handler, scenario)


def test_timeout_raises_and_drops_the_connection() -> None:
    def handler(request: Request, n: int) -> Reply:
        return Reply(hang=True) if n == 1 else ok()

    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url, timeout_s=5.0) as client:
            with pytest.raises(HttpTimeout, match=r"within 0\.2 s"):
                await client.get("/slow", timeout_s=0.2)
            with pytest.raises(TimeoutError):  # an HttpTimeout is also a TimeoutError
                await client.get("/slow2", timeout_s=0.0)
            assert (await client.get("/fast")).status_code == 200
        assert server.connections >= 2  # the hung connection was not used for /fast

    _run(handler, scenario)


def test_http_errors_are_responses_with_their_body() -> None:
    body = b'{"error": {"code": "model_error", "message": "boom"}}'

    def handler(request: Request, n: int) -> Reply:
        head = f"HTTP/1.1 500 Internal Server Error\r\nContent-Length: {len(body)}\r\n\r\n"
        return Reply((head.encode() + body,)) if n == 1 else ok(b"{}", "Content-Type: application/json")

    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            failed = await client.post("/v1/videos/sync", json={}, keep_body=False)
            assert failed.status_code == 500 and failed.content == body
            assert error_message(failed) == "HTTP 500 model_error: boom"
            assert (await client.get("/")).json() == {}
        assert server.connections == 1  # an error answer leaves the connection usable

    _run(handler, scenario)


def test_pool_caps_connections_in_flight() -> None:
    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url, pool=2) as client:
            answers = await asyncio.gather(*(client.get(f"/{i}") for i in range(6)))
        assert [a.status_code for a in answers] == [200] * 6
        assert server.max_in_flight <= 2 and server.connections == 2  # the cap, never more

    slow_ok = Reply((b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok"), pause_s=0.02)
    _run(lambda r, n: slow_ok, scenario)


def test_garbage_answer_is_a_protocol_error() -> None:
    async def scenario(server: Loopback) -> None:
        async with HttpClient(server.url) as client:
            with pytest.raises(RemoteProtocolError, match="status line"):
                await client.get("/")

    _run(lambda r, n: Reply((b"SSH-2.0-OpenSSH\r\n\r\n",)), scenario)


def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes

    async def scenario() -> None:
        async with HttpClient(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(ConnectError, match=f"cannot connect to 127.0.0.1:{port}: connection refused"):
                await client.get("/")

    asyncio.run(scenario())


def test_absolute_urls_and_bad_urls() -> None:
    async def scenario(server: Loopback) -> None:
        async with HttpClient("http://127.0.0.1:1/unused") as client:
            assert (await client.get(f"{server.url}/elsewhere")).status_code == 200
        assert server.requests[0].target == "/elsewhere"
        with pytest.raises(ValueError, match="not an http"):
            HttpClient("ftp://host/")

    _run(lambda r, n: ok(), scenario)
