"""How much of what `reelserve bench` reports is the harness itself?

Starts a trivial endpoint in a separate process (raw asyncio HTTP/1.1 on 127.0.0.1 answering
``POST /v1/videos/sync`` at once with a fixed MP4, stamping when it read the request and when it
answered), then drives it with the real harness:

1. timing error: single-stream queries through the harness vs the same request from a raw-socket
   client (a blocking socket, one ``sendall``, ``recv`` until the last byte; no event loop, no HTTP
   library), interleaved in time; the same request through the harness's HTTP client alone and
   through a bare ``httpx.AsyncClient`` (the library the harness used before); and per query the
   harness's latency minus the server's own time (what is left is loopback + HTTP parsing + harness).
2. scheduling error: the server scenario (Poisson); how late queries leave (issue lag).
3. throughput ceiling: offline at concurrency 64; videos/s the harness can count when the server
   costs nothing, and the client's CPU seconds per query — to compare with what endpoints do
   (0.02–0.06 videos/s on 8 GPUs, REFERENCES.md; a few per second for a tiny CPU model).

Run: ``.venv/bin/python -m benchmarks.harness_overhead [--queries 300] [--rate 50] [--out DIR]``.
On a shared 2-core machine the figures move with the load of other processes: the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from reelserve.bench.config import Api, BenchConfig, Scenario
from reelserve.bench.http1 import HttpClient
from reelserve.bench.runner import run_bench
from reelserve.bench.scoring.video import encode_mp4
from reelserve.bench.stats import summarize

__all__ = ["main"]

_UNPROCESSABLE = b"HTTP/1.1 422 Unprocessable\r\ncontent-length: 2\r\n\r\n{}"


def _payload() -> bytes:
    """A fixed MP4: 17 frames of 256×256 blocky noise (~170 kB, like a short compressed clip)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (17, 64, 64, 3), dtype=np.uint8).repeat(4, axis=1).repeat(4, axis=2)
    return encode_mp4(frames, 16)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(_content_length(head))
            received = time.time()
            if b'"prompt"' not in body:
                writer.write(_UNPROCESSABLE)
                continue
            sent = time.time()
            stamps = json.dumps({"queued": received, "started": received, "generated": sent, "encoded": sent})
            head_out = (
                f"HTTP/1.1 200 OK\r\ncontent-length: {len(payload)}\r\nx-reelserve-timings: {stamps}\r\n\r\n"
            )
            writer.write(head_out.encode() + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


async def _serve() -> None:
    payload = _payload()
    server = await asyncio.start_server(lambda r, w: _handle(r, w, payload), "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], len(payload), flush=True)
    async with server:
        await server.serve_forever()


_BODY = b'{"prompt": "baseline"}'
_REQUEST = b"POST /v1/videos/sync HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)


def _raw_socket(port: int, queries: int) -> list[float]:
    """Latency (ms) from a raw blocking socket: one sendall, ``recv_into`` a preallocated buffer until
    the last byte. No event loop, no allocation per read: the floor any client can reach."""
    latencies = []
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(queries):
            started = time.monotonic_ns()
            sock.sendall(_REQUEST)
            got = sock.recv_into(view)
            while (end := buf.find(b"\r\n\r\n", 0, got)) < 0:
                got += sock.recv_into(view[got:])
            remaining = _content_length(bytes(buf[:end])) - (got - end - 4)
            while remaining > 0:
                remaining -= sock.recv_into(view)
            latencies.append((time.monotonic_ns() - started) / 1e6)
    return latencies


async def _lean_alone(port: int, queries: int) -> list[float]:
    """Latency (ms) through the harness's HTTP client alone, as its socket stamps see it."""
    latencies = []
    async with HttpClient(f"http://127.0.0.1:{port}") as client:
        for _ in range(queries):
            response = await client.post("/v1/videos/sync", json={"prompt": "lean"}, keep_body=False)
            latencies.append((response.complete_ns - response.sent_ns) / 1e6)
    return latencies


async def _lean_ceiling(port: int, queries: int, concurrency: int) -> tuple[float, float]:
    """(requests/s, CPU ms per request) of the HTTP client alone at ``concurrency`` in flight."""
    async with HttpClient(f"http://127.0.0.1:{port}", pool=concurrency) as client:

        async def worker() -> None:
            for _ in range(queries // concurrency):
                await client.post("/v1/videos/sync", json={"prompt": "lean"}, keep_body=False)

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done = queries // concurrency * concurrency
        return done / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / done


async def _httpx_alone(port: int, queries: int) -> list[float]:
    """Latency (ms) of the same request through a bare httpx.AsyncClient: the HTTP library's share."""
    latencies = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(queries):
            started = time.monotonic_ns()
            async with client.stream("POST", "/v1/videos/sync", json={"prompt": "httpx"}) as response:
                async for _chunk in response.aiter_bytes():
                    pass
            latencies.append((time.monotonic_ns() - started) / 1e6)
    return latencies


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "queries.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if row["phase"] == "performance" and row["ok"]]


async def _single_stream(port: int, queries: int, common: dict[str, Any], out: Path) -> dict[str, Any]:
    """The four single-stream measurements, interleaved in 4 rounds so all see the same load."""
    raw: list[float] = []
    lean: list[float] = []
    bare_httpx: list[float] = []
    harness: list[float] = []
    residual: list[float] = []
    for part in range(4):
        raw += _raw_socket(port, queries // 4)
        lean += await _lean_alone(port, queries // 4)
        bare_httpx += await _httpx_alone(port, queries // 4)
        name = f"single{part}"
        single = BenchConfig(
            **common, scenario=Scenario.SINGLE_STREAM, queries=queries // 4, out=str(out / name)
        )
        await run_bench(single)
        rows = _records(out / name)
        harness += [r["intervals"]["e2e"] * 1000 for r in rows]
        residual += [(r["intervals"]["e2e"] - r["intervals"]["server"]) * 1000 for r in rows]
    return {
        "raw_socket_e2e_ms": summarize(raw),
        "lean_client_e2e_ms": summarize(lean),
        "httpx_alone_e2e_ms": summarize(bare_httpx),
        "harness_e2e_ms": summarize(harness),
        "timing_error_p50_ms": summarize(harness)["p50"] - summarize(raw)["p50"],
        "timing_error_min_ms": min(harness) - min(raw),
        "harness_minus_server_time_ms": summarize(residual),
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(port: int, server_pid: int, queries: int, rate: float, out: Path) -> dict[str, Any]:
    common: dict[str, Any] = {"url": f"http://127.0.0.1:{port}", "api": Api.SYNC, "progress": False}
    common |= {"warmup": 20, "timeout_s": 30.0, "plots": False}
    figures = await _single_stream(port, queries, common, out)
    poisson = BenchConfig(
        **common, scenario=Scenario.SERVER, rate=rate, queries=queries, out=str(out / "server")
    )
    await run_bench(poisson)
    lag = [r["intervals"]["issue_lag"] * 1000 for r in _records(out / "server")]
    n = queries * 4
    offline = BenchConfig(**common, scenario=Scenario.OFFLINE, concurrency=64, queries=n, out=str(out / "o"))
    cpu, server_cpu = time.process_time(), _cpu_s(server_pid)
    ceiling = await run_bench(offline)
    harness_cpu_ms = (time.process_time() - cpu) * 1000 / (n + 20)  # + the warm-up queries
    server_cpu_ms = (_cpu_s(server_pid) - server_cpu) * 1000 / (n + 20)
    lean_rps, lean_cpu_ms = await _lean_ceiling(port, n, 64)
    return figures | {
        "poisson_rate_qps": rate,
        "poisson_issue_lag_ms": summarize(lag),
        "offline_ceiling_videos_per_s": ceiling["performance"]["videos_per_s"],
        "offline_failed": ceiling["performance"]["failed"],
        "harness_cpu_ms_per_query": harness_cpu_ms,
        "trivial_server_cpu_ms_per_query": server_cpu_ms,
        "lean_client_ceiling_requests_per_s": lean_rps,
        "lean_client_cpu_ms_per_request": lean_cpu_ms,
        "load_average_1m": os.getloadavg()[0],
    }


_CLIENTS = ("raw socket", "lean client", "bare httpx")


def _drive(client: str, port: int, requests: int) -> None:
    """``requests`` requests from one client and nothing else (what --instructions runs under callgrind)."""
    if client == "raw socket":
        _raw_socket(port, requests)
    elif client == "lean client":
        asyncio.run(_lean_alone(port, requests))
    else:
        asyncio.run(_httpx_alone(port, requests))


def _instructions(port: int, requests: int) -> dict[str, float]:
    """Instructions per request of each client: callgrind's count at ``requests`` requests minus its
    count at none (start-up, imports), over ``requests``. Independent of the machine's load."""
    per_request = {}
    for client in _CLIENTS:
        counts = []
        for n in (0, requests):
            command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
            command += ["-m", "benchmarks.harness_overhead", "--client", client, "--requests", str(n)]
            run = subprocess.run([*command, "--port", str(port)], capture_output=True, text=True, check=True)
            found = re.search(r"Collected : (\d+)", run.stderr)
            if found is None:
                raise SystemExit(f"no instruction count from valgrind: {run.stderr[-300:]}")
            counts.append(int(found.group(1)))
        per_request[client] = (counts[1] - counts[0]) / requests
    return per_request


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure the benchmark harness's own overhead.")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="Poisson rate for the issue-lag check")
    parser.add_argument("--out", default=None, help="keep the runs' outputs here (default: a temp dir)")
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count instructions per request of each client over N requests (valgrind, ~1 min)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=_CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return
    if args.client:
        _drive(args.client, args.port, args.requests)
        return
    command = [sys.executable, "-m", "benchmarks.harness_overhead", "--serve"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        port, size = (int(x) for x in child.stdout.readline().split())
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(_measure(port, child.pid, args.queries, args.rate, Path(args.out or tmp)))
        if args.instructions:
            figures["instructions_per_request"] = _instructions(port, args.instructions)
    finally:
        child.terminate()
        child.wait(timeout=10)
    _print(figures, size)


def _print(figures: dict[str, Any], size: int) -> None:
    raw, e2e = figures["raw_socket_e2e_ms"], figures["harness_e2e_ms"]
    lean, bare = figures["lean_client_e2e_ms"], figures["httpx_alone_e2e_ms"]
    res, lag = figures["harness_minus_server_time_ms"], figures["poisson_issue_lag_ms"]
    print(
        f"payload {size} B MP4 per query; loopback; server in its own process; "
        f"1-min load {figures['load_average_1m']:.1f} on {os.cpu_count()} cores"
    )
    print("single-stream latency, ms        p50      p90      min")
    for name, row in (("harness (reelserve bench)", e2e), ("raw blocking socket", raw)):
        print(f"  {name:<28}{row['p50']:8.3f} {row['p90']:8.3f} {row['min']:8.3f}")
    for name, row in (("lean HTTP client alone", lean), ("bare httpx.AsyncClient", bare)):
        print(f"  {name:<28}{row['p50']:8.3f} {row['p90']:8.3f} {row['min']:8.3f}")
    print(
        f"timing error (harness - raw socket): p50 {figures['timing_error_p50_ms']:+.3f} ms, "
        f"min {figures['timing_error_min_ms']:+.3f} ms (target: within 1 ms)"
    )
    print(
        f"harness latency - server time ({res['count']} queries): p50 {res['p50']:.3f} ms, "
        f"p99 {res['p99']:.3f} ms (loopback + HTTP + harness)"
    )
    print(
        f"Poisson issue lag at {figures['poisson_rate_qps']:g} q/s: "
        f"p50 {lag['p50']:.3f} ms, p99 {lag['p99']:.3f} ms"
    )
    print(
        "throughput ceiling, offline at concurrency 64: harness "
        f"{figures['offline_ceiling_videos_per_s']:.0f} videos/s ({figures['offline_failed']} failed); "
        "HTTP client alone "
        f"{figures['lean_client_ceiling_requests_per_s']:.0f} requests/s"
    )
    print(
        f"CPU per query: harness {figures['harness_cpu_ms_per_query']:.3f} ms (whole run), HTTP client "
        f"alone {figures['lean_client_cpu_ms_per_request']:.3f} ms, trivial server "
        f"{figures['trivial_server_cpu_ms_per_query']:.3f} ms"
    )
    for client, count in figures.get("instructions_per_request", {}).items():
        print(f"instructions per request (callgrind, load-independent): {client} {count / 1e6:.2f} M")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
