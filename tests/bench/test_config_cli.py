from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelserve.bench.cli import app
from reelserve.bench.config import Api, BenchConfig, Delivery
from reelserve.core.errors import InvalidInput

from .fake_server import FakeServer, FakeSettings

runner = CliRunner()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"queries": 0}, "--queries must be at least 1"),
        ({"rate": -1.0}, "--rate must be a positive"),
        ({"concurrency": 0}, "--concurrency"),
        ({"url": "localhost:8000"}, "must start with http"),
        ({"timeout_s": 0.0}, "--timeout"),
        ({"latency_bound_s": -2.0}, "--latency-bound"),
        ({"delivery": ()}, "--delivery"),
        ({"search_queries": 0}, "--search-queries must be at least 1"),
        ({"delivery_queries": -1}, "--delivery-queries must be at least 1"),
    ],
)
def test_bad_configurations_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BenchConfig(**{"url": "http://127.0.0.1:1", **overrides})


def test_sanitized_config_hides_the_key() -> None:
    cfg = BenchConfig(url="http://x", api=Api.SYNC, api_key="secret", delivery=(Delivery.RAW,))
    data = cfg.sanitized()
    assert data["api_key"] == "***" and data["api"] == "sync" and data["delivery"] == ["raw"]
    assert "secret" not in repr(cfg)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bench(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--no-progress", *args])
    return result.exit_code, result.output


def test_cli_zero_queries_and_negative_rate_exit_2(tmp_path: Path) -> None:
    code, output = _bench("--url", "http://127.0.0.1:9", "--queries", "0", "--out", str(tmp_path))
    assert code == 2 and "--queries must be at least 1" in output
    code, output = _bench("--url", "http://127.0.0.1:9", "--scenario", "server", "--rate", "-3")
    assert code == 2 and "--rate must be a positive" in output
    code, output = _bench("--url", "http://127.0.0.1:9", "--scenario", "bursty")
    assert code == 2 and "valid scenarios" in output and "single-stream" in output


def test_cli_unreachable_server_fails_fast(tmp_path: Path) -> None:
    code, output = _bench(
        "--url", f"http://127.0.0.1:{_free_port()}", "--out", str(tmp_path), "--timeout", "5"
    )
    assert code == 2 and "cannot reach" in output


def test_cli_wrong_api_names_the_one_that_fits(tmp_path: Path) -> None:
    with FakeServer(FakeSettings(apis=("sync",))) as url:
        code, output = _bench("--url", url, "--api", "openai", "--out", str(tmp_path))
    assert code == 2
    assert "answered 404 to POST /v1/videos" in output and "try --api sync" in output


def test_cli_delivery_the_api_cannot_express(tmp_path: Path) -> None:
    code, output = _bench("--url", "http://127.0.0.1:9", "--api", "mlcommons", "--delivery", "raw")
    assert code == 2 and "cannot deliver 'raw'" in output


def test_cli_runs_and_writes_the_summary(tmp_path: Path, server: str) -> None:
    code, output = _bench(
        "--url", server, "--api", "sync", "--scenario", "single-stream", "--queries", "3", "--warmup", "1",
        "--size", "64x64", "--frames", "9", "--fps", "8", "--out", str(tmp_path), "--no-plots",
    )  # fmt: skip
    assert code == 0, output
    assert "mean_latency_s" in output and (tmp_path / "result_summary.json").is_file()
