"""The incremental response parser on its own: framing, any split of the bytes, and bad input."""

from __future__ import annotations

import random

import pytest

from reelserve.bench.http1 import ConnectionClosed, RemoteProtocolError
from reelserve.bench.http1.parser import ResponseParser

_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\nX-Trailer: t\r\n\r\n"
)


def _feed_in_pieces(data: bytes, seed: int, keep: bool = True) -> ResponseParser:
    rng = random.Random(seed)
    parser = ResponseParser(keep_body=keep)
    at = 0
    while at < len(data):
        step = rng.randint(1, 9)
        parser.feed(data[at : at + step])
        at += step
    return parser


@pytest.mark.parametrize("seed", range(20))
def test_chunked_body_is_the_same_whatever_the_split(seed: int) -> None:
    parser = _feed_in_pieces(_CHUNKED, seed)
    assert parser.done and parser.keep_alive and not parser.trailing
    assert parser.body() == b"hello" + b"z" * 26
    assert parser.body_bytes == 31
    assert parser.headers["x-a"] == "1, 2"  # repeated headers joined, names lower-cased


def test_content_length_body_counted_without_keeping_it() -> None:
    parser = _feed_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000, 1, keep=False)
    assert parser.done and parser.body_bytes == 1000 and parser.body() == b""


def test_error_bodies_are_kept_even_when_not_asked() -> None:
    parser = ResponseParser(keep_body=False)
    parser.feed(b"HTTP/1.1 500 Boom\r\nContent-Length: 2\r\n\r\n{}")
    assert (parser.status, parser.reason, parser.body()) == (500, "Boom", b"{}")


def test_interim_100_is_skipped_and_204_has_no_body() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-B: 1\r\n\r\n")
    assert parser.done and parser.status == 204 and parser.headers == {"x-b": "1"}


def test_unframed_body_ends_at_close_and_forbids_reuse() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.0 200 OK\r\n\r\npart one, ")
    parser.feed(b"part two")
    assert not parser.done
    parser.feed_eof()
    assert parser.done and parser.body() == b"part one, part two" and not parser.keep_alive


def test_connection_close_header_and_trailing_bytes_forbid_reuse() -> None:
    closing = ResponseParser()
    closing.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert closing.done and not closing.keep_alive
    extra = ResponseParser()
    extra.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab")
    assert extra.done and extra.trailing and not extra.keep_alive and extra.body() == b"a"


def test_cut_short_answer_says_how_much_arrived() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(ConnectionClosed, match="after 42 bytes") as info:
        parser.feed_eof()
    assert info.value.received == 42
    with pytest.raises(ConnectionClosed, match="before answering"):
        ResponseParser().feed_eof()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"SPDY/3 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk-size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "longer than its size"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000, "longer than"),
    ],
)
def test_malformed_answers_raise_protocol_errors(data: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        ResponseParser().feed(data)
