"""The real server over real HTTP with a real worker process: the official OpenAI SDK, cancel,
sync, delivery modes, batches with a webhook receiver, metrics, and a SIGTERM drain (last)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import av
import httpx
import openai
import pytest

from reelserve.api.webhooks import SIGNATURE_HEADER, verify
from reelserve.core.records import JobStatus
from reelserve.media.fmp4 import iter_boxes
from tests.api.conftest import TINY
from tests.api.live import LiveServer

EXTRA = {"num_frames": 9, "num_inference_steps": 1, "seed": 3}
LONG = {**TINY, "num_inference_steps": 400}
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def _http(live: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def _wait(predicate: Callable[[], Any], timeout: float = 120.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def _running_with_steps(client: httpx.Client, video_id: str) -> Callable[[], bool]:
    def check() -> bool:
        video = client.get(f"/v1/videos/{video_id}").json()
        steps = [s.get("step") or 0 for s in video["stages"] if s["stage"] == "generate"]
        return video["job_status"] == "running" and bool(steps) and steps[0] >= 1

    return check


def test_the_official_openai_sdk_works_unchanged(live: LiveServer, live_keys: dict[str, str]) -> None:
    sdk = openai.OpenAI(base_url=f"{live.url}/v1", api_key=live_keys["editor"], max_retries=0)
    done = sdk.videos.create_and_poll(prompt="a red kite", model="tiny-wan", size="64x64", extra_body=EXTRA)
    assert done.status == "completed" and done.progress == 100 and done.size == "64x64"
    assert done.model == "tiny-wan" and done.completed_at is not None
    raw = sdk.videos.with_raw_response.retrieve(done.id)
    assert raw.parse().id == done.id and "openai-poll-after-ms" not in raw.headers  # finished: no polling
    assert done.id in [v.id for v in sdk.videos.list(limit=10, order="desc").data]
    content = sdk.videos.download_content(done.id).content
    assert content[4:8] == b"ftyp"
    assert sdk.videos.download_content(done.id, variant="thumbnail").content[:2] == b"\xff\xd8"
    queued = sdk.videos.create(
        prompt="a blue kite",
        size="64x64",
        seconds="1",
        extra_body={"num_inference_steps": 400},  # stays unfinished
    )
    assert queued.status in ("queued", "in_progress") and queued.seconds == "1.06"  # 17 frames at 16 fps
    polled = sdk.videos.with_raw_response.retrieve(queued.id)
    assert polled.headers["openai-poll-after-ms"] == "100"
    deleted = sdk.videos.delete(queued.id)
    assert deleted.id == queued.id and deleted.deleted is True
    assert sdk.videos.retrieve(queued.id).error.code == "cancelled"
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=f"{live.url}/v1", api_key=live_keys["other"], max_retries=0).videos.retrieve(
            done.id
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live.url}/v1", api_key="rs_wrong", max_retries=0).videos.list()


def test_delete_cancels_a_running_job_and_frees_the_worker(
    live: LiveServer, live_keys: dict[str, str]
) -> None:
    with _http(live, live_keys["editor"]) as client:
        long = client.post("/v1/videos", json={"prompt": "a long night", **LONG}).json()
        _wait(_running_with_steps(client, long["id"]))
        assert client.delete(f"/v1/videos/{long['id']}").json()["deleted"] is True
        t0 = time.monotonic()
        quick = client.post("/v1/videos", json={"prompt": "a short day", **TINY}).json()
        finished = _wait(
            lambda: (v := client.get(f"/v1/videos/{quick['id']}").json())["status"] == "completed" and v
        )
        assert time.monotonic() - t0 < 90
        cancelled = client.get(f"/v1/videos/{long['id']}").json()
    step = next(s["step"] for s in cancelled["stages"] if s["stage"] == "generate")
    assert cancelled["job_status"] == "cancelled" and step < 400  # the model stopped early
    assert finished["intervals_s"]["model"] > 0


@pytest.fixture(scope="module")
def synced(live: LiveServer, live_keys: dict[str, str]) -> tuple[httpx.Response, dict[str, Any]]:
    with _http(live, live_keys["editor"]) as client:
        response = client.post("/v1/videos/sync", json={"prompt": "a lighthouse", **TINY})
        video_id = response.headers["x-reelserve-video-id"]
        video = _wait(
            lambda: (v := client.get(f"/v1/videos/{video_id}").json())["timings"].get("delivered") and v
        )
    return response, video


def test_sync_returns_the_mp4_with_timing_headers(synced: tuple[httpx.Response, dict[str, Any]]) -> None:
    response, video = synced
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    assert response.content[4:8] == b"ftyp"
    timings = json.loads(response.headers["x-reelserve-timings"])
    assert {"queued", "started", "generated", "encoded", "finished"} <= set(timings)
    assert (
        float(response.headers["x-reelserve-model-s"]) > 0
        and float(response.headers["x-reelserve-total-s"]) > 0
    )
    delivered = video["timings"]["delivered"]
    assert delivered >= timings["finished"] and video["intervals_s"]["deliver"] >= 0
    assert video["bottleneck"] and video["time_split_s"]["model"] > 0
    assert [s["stage"] for s in video["stages"]] == ["encode", "finalize", "generate"]


def test_delivery_modes(
    live: LiveServer, live_keys: dict[str, str], synced: tuple[httpx.Response, Any]
) -> None:
    response, video = synced
    with _http(live, live_keys["viewer"]) as client:
        url = f"/v1/videos/{video['id']}/content"
        ref = client.get(url, params={"delivery": "reference"}).json()
        blob = client.get(ref["url"]).content
        assert hashlib.sha256(blob).hexdigest() == ref["sha256"] and len(blob) == ref["bytes"]
        assert blob == response.content
        stream = client.get(url, params={"delivery": "stream"})
        raw = client.get(url, params={"delivery": "raw"})
        assert client.get(url, params={"delivery": "raw", "variant": "thumbnail"}).status_code == 400
    kinds = [kind for kind, _, _ in iter_boxes(stream.content)]
    assert (
        kinds[:2] == ["ftyp", "moov"] and kinds.count("moof") == 2 and kinds.count("mdat") == 2
    )  # 8 + 1 frames
    with av.open(io.BytesIO(stream.content)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 9
    assert raw.headers["x-reelserve-frame-shape"] == "9,64,64,3" and len(raw.content) == 9 * 64 * 64 * 3
    services = live.app.state.services  # type: ignore[attr-defined]
    for art in services.store.get_artifacts(video["id"]):  # scratch frames gone: decode the final MP4
        if art.name.startswith("frames/"):
            services.blobs.delete(art.blob)
    with _http(live, live_keys["viewer"]) as client:
        decoded = client.get(url, params={"delivery": "raw"}).content
    assert len(decoded) == len(raw.content) and decoded != raw.content  # lossy, same shape


def test_sync_answers_in_the_asked_delivery_mode(live: LiveServer, live_keys: dict[str, str]) -> None:
    """``/v1/videos/sync?delivery=raw`` answers frames, ``=reference`` a JSON reference, not the MP4."""
    with _http(live, live_keys["editor"]) as client:
        body = {"prompt": "a lighthouse", **TINY, "seed": 21}
        raw = client.post("/v1/videos/sync", params={"delivery": "raw"}, json=body)
        assert raw.status_code == 200, raw.text
        assert raw.headers["x-reelserve-frame-shape"] == "9,64,64,3" and len(raw.content) == 9 * 64 * 64 * 3
        assert json.loads(raw.headers["x-reelserve-timings"])["finished"] > 0
        ref = client.post("/v1/videos/sync", params={"delivery": "reference"}, json={**body, "seed": 22})
        assert ref.status_code == 200 and ref.json()["sha256"] and ref.json()["url"]
        assert client.post("/v1/videos/sync", params={"delivery": "fax"}, json=body).status_code in (400, 422)


def test_the_mlcommons_generations_shape(live: LiveServer, live_keys: dict[str, str]) -> None:
    """POST /v1/videos/generations answers when done: the MP4 as base64 (video_bytes) or its path
    (video_path), with the job's timestamps; width/height stand in for size; bad shapes are 4xx."""
    shape = {k: v for k, v in TINY.items() if k != "size"}
    with _http(live, live_keys["editor"]) as client:
        as_bytes = client.post(
            "/v1/videos/generations",
            json={"prompt": "a quiet harbour", **shape, "width": 64, "height": 64, "seed": 11},
        )
        assert as_bytes.status_code == 200, as_bytes.text
        answer = as_bytes.json()
        mp4 = base64.b64decode(answer["data"][0]["video_bytes"])
        assert mp4[4:8] == b"ftyp" and hashlib.sha256(mp4).hexdigest() == answer["data"][0]["sha256"]
        assert {"queued", "started", "generated", "encoded", "finished"} <= set(answer["timings"])
        as_path = client.post(
            "/v1/videos/generations",
            json={"prompt": "a quiet harbour", **TINY, "seed": 11, "response_format": "video_path"},
        ).json()
        fetched = client.get(as_path["data"][0]["video_path"]).content
        assert fetched[4:8] == b"ftyp" and as_path["data"][0]["size"] == len(fetched)
        half = client.post("/v1/videos/generations", json={"prompt": "x", "width": 64})
        assert half.status_code == 400 and "width and height" in half.text
        odd = client.post("/v1/videos/generations", json={"prompt": "x", "response_format": "url"})
        assert odd.status_code in (400, 422)


class _Receiver(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if not self.calls else 200  # fail the first attempt: the sender must retry
        self.calls.append((status, dict(self.headers), body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_a_batch_runs_signs_its_webhook_and_lists_its_finals(
    live: LiveServer, live_keys: dict[str, str], receiver: str
) -> None:
    secret = "s3cret-for-the-receiver"
    body = {
        "template": {**TINY, "prompt": "a sneaker on a plinth"},
        "variants": [
            {"variant_id": "red", "seed": 1},
            {"variant_id": "blue", "seed": 2, "prompt": "a blue sneaker"},
        ],
        "webhook": {"url": receiver, "secret": secret},
    }
    with _http(live, live_keys["service"]) as client:
        batch = client.post("/v1/batches", json=body, headers={"Idempotency-Key": "campaign-1"}).json()
        again = client.post("/v1/batches", json=body, headers={"Idempotency-Key": "campaign-1"}).json()
        assert again["id"] == batch["id"] and again["admitted"] == 0 and batch["admitted"] == 2
        _wait(lambda: any(status == 200 for status, _, _ in _Receiver.calls), timeout=150)
        summary = client.get(f"/v1/batches/{batch['id']}").json()
        lines = [
            json.loads(line) for line in client.get(f"/v1/batches/{batch['id']}/manifest").text.splitlines()
        ]
    assert [status for status, _, _ in _Receiver.calls] == [500, 200]  # retried after a failure
    _, headers, raw = _Receiver.calls[-1]
    assert verify(secret, raw, headers[SIGNATURE_HEADER]) and not verify(
        "wrong" * 4, raw, headers[SIGNATURE_HEADER]
    )
    payload = json.loads(raw)
    assert payload["type"] == "batch.completed" and payload["counts"]["succeeded"] == 2
    assert summary["status"] == "completed" and summary["counts"]["succeeded"] == 2
    assert summary["webhook_deliveries"][0]["status"] == "delivered"
    assert sorted(line["variant_id"] for line in lines) == ["blue", "red"]
    assert all(
        line["status"] == "completed" and len(line["finals"]["video"]["sha256"]) == 64 for line in lines
    )


def test_metrics_count_jobs_stages_and_failures(live: LiveServer) -> None:
    def scraped() -> str | None:
        text = httpx.get(f"{live.url}/metrics").text
        return text if 'reelserve_job_seconds_count{status="succeeded"}' in text else None

    text = _wait(scraped, timeout=30)
    assert 'reelserve_stage_seconds_count{stage="model"}' in text and "reelserve_queue_depth" in text
    assert "reelserve_workers_alive 1.0" in text and 'reelserve_http_requests_total{method="POST"' in text
    assert httpx.get(f"{live.url}/readyz").json()["workers_alive"] == 1


def test_audit_log_has_creates_views_downloads_and_cancels(
    live: LiveServer, live_keys: dict[str, str]
) -> None:
    with _http(live, live_keys["admin"]) as client:
        events = client.get("/v1/audit", params={"limit": 1000}).json()["data"]
    actions = {e["action"] for e in events}
    assert {
        "key.create",
        "video.create",
        "video.view",
        "video.download",
        "video.cancel",
        "batch.create",
    } <= actions
    assert all("prompt" not in json.dumps(e["detail"]) or "prompt_sha256" in e["detail"] for e in events)


def test_a_sync_client_that_goes_away_cancels_its_job(live: LiveServer, live_keys: dict[str, str]) -> None:
    body = json.dumps({"prompt": "an abandoned request", **LONG}).encode()
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"POST /v1/videos/sync HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {live_keys['editor']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        with _http(live, live_keys["editor"]) as client:

            def started() -> str | None:
                videos = client.get("/v1/videos", params={"limit": 5}).json()["data"]
                mine = [v for v in videos if v["prompt"] == "an abandoned request"]
                return mine[0]["id"] if mine and _running_with_steps(client, mine[0]["id"])() else None

            video_id = _wait(started)
    with _http(live, live_keys["editor"]) as client:
        video = _wait(
            lambda: (v := client.get(f"/v1/videos/{video_id}").json())["job_status"] == "cancelled" and v
        )
    assert video["error"]["code"] == "cancelled"


def test_sigterm_drains_the_running_job_back_to_the_queue(
    live: LiveServer, live_keys: dict[str, str]
) -> None:
    # Last in this module: it stops the server's worker.
    with _http(live, live_keys["editor"]) as client:
        long = client.post("/v1/videos", json={"prompt": "a slow tide", **LONG}).json()
        _wait(_running_with_steps(client, long["id"]))
        live.backend.stop(drain=True)
        assert live.backend.alive() == 0
        video = client.get(f"/v1/videos/{long['id']}").json()
    assert video["job_status"] == JobStatus.QUEUED.value
    job = live.app.state.services.store.get_job(long["id"])  # type: ignore[attr-defined]
    assert job.lease_owner is None and job.attempts == 0
    step = next(s["step"] for s in video["stages"] if s["stage"] == "generate")
    assert 1 <= step < 400  # resumable from its checkpoint
