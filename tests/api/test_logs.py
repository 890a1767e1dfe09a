"""Logs are JSON and carry metadata only: a prompt never reaches them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from reelserve.api.logging import JsonFormatter, configure_logging
from tests.api.conftest import TINY, Api

SECRET = "zebra-quartz-7c1e-unique-prompt"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    names = ("reelserve", "uvicorn", "uvicorn.error")
    saved = {
        n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
        for n in names
    }
    stream = io.StringIO()
    configure_logging(logging.DEBUG, stream)
    yield stream
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def test_a_prompt_never_reaches_the_logs(api: Api, log_stream: io.StringIO) -> None:
    client, h = api.client, api.h()
    video = api.create(prompt=f"a boat {SECRET}", negative_prompt=SECRET).json()
    client.get(f"/v1/videos/{video['id']}", headers=h)
    client.post(f"/v1/videos/{video['id']}/remix", json={"prompt": SECRET}, headers=h)
    client.post("/v1/videos", json={"prompt": SECRET * 200}, headers=h)  # too long: 422
    client.post("/v1/videos", json={"prompt": SECRET, "size": SECRET}, headers=h)  # bad size: 400
    client.post("/v1/videos", json={"prompt": SECRET, SECRET: 1}, headers=h)  # unknown field: 422
    client.post(
        "/v1/videos",
        content=f'{{"prompt": "{SECRET}'.encode(),
        headers={**h, "content-type": "application/json"},
    )
    client.post("/v1/videos", data={"prompt": SECRET, **{k: str(v) for k, v in TINY.items()}}, headers=h)
    batch = {"template": {**TINY, "prompt": SECRET}, "variants": [{"variant_id": "a", "prompt": SECRET}]}
    client.post("/v1/batches", json=batch, headers=h)
    client.get("/v1/videos", headers={"Authorization": f"Bearer {SECRET}"})  # a bad key is a secret too
    logging.getLogger("reelserve.api").info(
        "job failed", extra={"job": "job_x", "prompt": SECRET, "code": "x"}
    )
    logging.getLogger("reelserve.api").info("formatted %s", SECRET)
    try:
        raise ValueError(SECRET)
    except ValueError:
        logging.getLogger("reelserve.api").exception("crash", extra={"job": "job_y"})
    text = log_stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) >= 10  # an access line per request, and the lines above
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    assert any(line.get("route") == "/v1/videos/{video_id}" and line.get("status") == 200 for line in lines)
    assert SECRET not in text


def test_the_formatter_keeps_only_allowed_fields() -> None:
    record = logging.LogRecord("reelserve.x", logging.INFO, __file__, 1, "done", None, None)
    record.__dict__.update(job="job_1", prompt="p", code="ok", duration_ms=3.5, spec={"prompt": "p"})
    line = json.loads(JsonFormatter().format(record))
    assert line["job"] == "job_1" and line["code"] == "ok" and line["duration_ms"] == 3.5
    assert "prompt" not in line and "spec" not in line


def test_the_default_handler_follows_stderr_when_it_is_swapped_and_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ("reelserve", "uvicorn", "uvicorn.error")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names}
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr("sys.stderr", first)
        configure_logging(logging.INFO)  # as `reelserve serve` does, under a test runner's capture
        logging.getLogger("reelserve.api").info("before", extra={"job": "job_a"})
        first.close()  # the capture ends; a server thread logs on at shutdown
        monkeypatch.setattr("sys.stderr", second)
        logging.getLogger("uvicorn.error").info("Shutting down")
        line = json.loads(second.getvalue())
        assert line["msg"] == "Shutting down" and line["logger"] == "uvicorn.error"
    finally:
        for name, (handlers, level) in saved.items():
            logging.getLogger(name).handlers[:], logging.getLogger(name).level = handlers, level
