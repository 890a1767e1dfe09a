"""Bad input never produces a 500: every error is ``{error: {code, message, param}}`` with a 4xx.
Also the limits (body size, queue bound) and the OpenAPI document."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import TINY, Api, make_api

HUGE = 10**40

BAD_VIDEO_BODIES: list[tuple[str, Any, int, str | None]] = [
    ("empty object", {}, 422, "prompt"),
    ("empty prompt", {"prompt": ""}, 422, "prompt"),
    ("blank prompt", {"prompt": "   "}, 400, "prompt"),
    ("prompt too long", {"prompt": "x" * 4001}, 422, "prompt"),
    ("prompt wrong type", {"prompt": 5}, 422, "prompt"),
    ("prompt list", {"prompt": ["a"]}, 422, "prompt"),
    ("null prompt", {"prompt": None}, 422, "prompt"),
    ("unknown field", {"prompt": "a", "colour": "red"}, 422, "colour"),
    ("bad size", {"prompt": "a", "size": "big"}, 400, "size"),
    ("size not multiple", {"prompt": "a", "size": "65x64"}, 400, "size"),
    ("size huge", {"prompt": "a", "size": f"{HUGE}x64"}, 422, "size"),
    ("size zero", {"prompt": "a", "size": "0x0"}, 400, "size"),
    ("size too large", {"prompt": "a", "size": "8192x64"}, 413, "size"),
    ("frames not 4k+1", {"prompt": "a", "num_frames": 8}, 400, "num_frames"),
    ("frames huge", {"prompt": "a", "num_frames": HUGE}, 422, "num_frames"),
    ("frames over limit", {"prompt": "a", "num_frames": 4001}, 413, "num_frames"),
    ("frames negative", {"prompt": "a", "num_frames": -3}, 422, "num_frames"),
    ("frames float", {"prompt": "a", "num_frames": 9.5}, 422, "num_frames"),
    ("seconds text", {"prompt": "a", "seconds": "four"}, 400, "seconds"),
    ("seconds negative", {"prompt": "a", "seconds": -1}, 400, "seconds"),
    ("seconds huge", {"prompt": "a", "seconds": "1e308"}, 413, "seconds"),
    ("seconds inf", {"prompt": "a", "seconds": "inf"}, 400, "seconds"),
    ("steps zero", {"prompt": "a", "num_inference_steps": 0}, 422, "num_inference_steps"),
    ("steps huge", {"prompt": "a", "num_inference_steps": HUGE}, 422, "num_inference_steps"),
    ("seed negative", {"prompt": "a", "seed": -1}, 422, "seed"),
    ("seed huge", {"prompt": "a", "seed": 2**64}, 422, "seed"),
    ("guidance bool", {"prompt": "a", "guidance_scale": [1]}, 422, "guidance_scale"),
    ("guidance huge", {"prompt": "a", "guidance_scale": 1e300}, 422, "guidance_scale"),
    ("fps zero", {"prompt": "a", "fps": 0}, 422, "fps"),
    ("unknown model", {"prompt": "a", "model": "sora-9"}, 400, "model"),
    ("weights model", {"prompt": "a", "model": "wan2.1-t2v-14b"}, 400, "weights"),
    ("bad priority", {"prompt": "a", "priority": "urgent"}, 422, "priority"),
    ("deadline text", {"prompt": "a", "deadline": "tomorrow"}, 422, "deadline"),
    ("array body", [1, 2], 400, "body"),
    ("string body", "hello", 400, "body"),
    ("null body", None, 400, "body"),
]


@pytest.mark.parametrize(
    ("body", "status", "param"), [c[1:] for c in BAD_VIDEO_BODIES], ids=[c[0] for c in BAD_VIDEO_BODIES]
)
def test_bad_video_bodies_get_a_clear_4xx(api: Api, body: Any, status: int, param: str | None) -> None:
    response = api.client.post("/v1/videos", json=body, headers=api.h())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"] and error["code"]


RAW_BODIES: list[tuple[str, bytes, str, int]] = [
    ("truncated json", b'{"prompt": "a', "application/json", 400),
    ("nan", b'{"prompt": "a", "guidance_scale": NaN}', "application/json", 400),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ("invalid utf-8", b'{"prompt": "\xff\xfe"}', "application/json", 400),
    ("xml", b"<video/>", "application/xml", 400),
    ("broken multipart", b"--x\r\nnonsense", "multipart/form-data; boundary=x", 422),
    ("multipart no boundary", b"abc", "multipart/form-data", 400),
    ("empty body", b"", "application/json", 400),
]


@pytest.mark.parametrize(
    ("raw", "ctype", "status"), [c[1:] for c in RAW_BODIES], ids=[c[0] for c in RAW_BODIES]
)
@pytest.mark.parametrize("path", ["/v1/videos", "/v1/batches", "/v1/videos/sync"])
def test_malformed_bodies_are_400_not_500(api: Api, raw: bytes, ctype: str, status: int, path: str) -> None:
    response = api.client.post(path, content=raw, headers={**api.h(), "content-type": ctype})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"]


@pytest.mark.parametrize(
    "prompt",
    [
        "日本語のプロンプト 🎬",
        "emoji 🦊🦊🦊",
        "zero\u200bwidth",
        "rtl \u202e text",
        "tab\tnew\nline",
        "a" * 4000,
    ],
)
def test_unicode_prompts_are_accepted_and_echoed(api: Api, prompt: str) -> None:
    response = api.create(prompt=prompt)
    assert response.status_code == 200, response.text
    assert api.client.get(f"/v1/videos/{response.json()['id']}", headers=api.h()).json()["prompt"] == prompt


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/videos", {"limit": 0}, 422),
        ("/v1/videos", {"limit": HUGE}, 422),
        ("/v1/videos", {"order": "sideways"}, 422),
        ("/v1/videos", {"after": "x" * 500}, 422),
        ("/v1/videos/job_x/content", {"variant": "poster"}, 422),
        ("/v1/videos/job_x/content", {"delivery": "fax"}, 422),
        ("/v1/videos/" + "x" * 5000, {}, 404),
        ("/v1/audit", {"after": -1}, 422),
        ("/v1/nothing", {}, 404),
    ],
)
def test_bad_queries_and_paths(api: Api, path: str, params: dict[str, Any], status: int) -> None:
    response = api.client.get(path, params=params, headers=api.h("admin"))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"]


def test_method_not_allowed_has_the_error_shape(api: Api) -> None:
    response = api.client.put("/v1/videos", headers=api.h())
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_bad_batches(api: Api) -> None:
    post = lambda body: api.client.post("/v1/batches", json=body, headers=api.h())  # noqa: E731
    assert post({"variants": []}).status_code == 422
    assert post({"variants": [{"variant_id": "a"}]}).json()["error"]["param"] == "variants.0.prompt"
    dup = post({"template": {"prompt": "p"}, "variants": [{"variant_id": "a"}, {"variant_id": "a"}]})
    assert dup.status_code == 400 and dup.json()["error"]["param"] == "variants.1.variant_id"
    bad = post(
        {"template": {"prompt": "p"}, "variants": [{"variant_id": "a"}, {"variant_id": "b", "size": "7x7"}]}
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "variants.1.size"
    assert post({"template": {"prompt": "p"}, "variants": [{"variant_id": "a b"}]}).status_code == 422
    assert (
        post({"variants": [{"variant_id": "a", "prompt": "p"}], "webhook": {"url": "ftp://x"}}).status_code
        == 422
    )
    assert api.client.get("/v1/videos", headers={**api.h(), "Idempotency-Key": "batch:x"}).status_code == 200
    assert api.create(**{}, prompt="p").status_code == 200
    key = api.client.post(
        "/v1/videos", json={"prompt": "p"}, headers={**api.h(), "Idempotency-Key": "batch:1"}
    )
    assert key.status_code == 400 and key.json()["error"]["param"] == "Idempotency-Key"


def test_body_over_the_limit_is_413_before_it_is_read(tmp_path: Path) -> None:
    api = make_api(tmp_path / "d", max_body_bytes=1000)
    try:
        response = api.client.post(
            "/v1/videos", content=b"x" * 2000, headers={**api.h(), "content-type": "application/json"}
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "limit_exceeded"
        chunked = api.client.post(
            "/v1/videos", content=iter([b"{" + b" " * 600, b" " * 600 + b"}"]), headers=api.h()
        )
        assert chunked.status_code == 413
    finally:
        api.services.close()


def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    api = make_api(tmp_path / "d", max_queue=2, retry_after_s=7)
    try:
        assert api.create().status_code == 200
        assert api.create().status_code == 200
        api.services.metrics.gauges.ttl_s = 0  # read the depth now, not the cached value
        full = api.create()
        assert full.status_code == 429 and full.headers["retry-after"] == "7"
        assert full.json()["error"]["code"] == "overloaded"
        batch = {"template": {**TINY, "prompt": "p"}, "variants": [{"variant_id": "a"}]}
        assert api.client.post("/v1/batches", json=batch, headers=api.h()).status_code == 429
    finally:
        api.services.close()


def test_idempotency_key_returns_the_same_video(api: Api) -> None:
    headers = {**api.h(), "Idempotency-Key": "order-42"}
    first = api.client.post("/v1/videos", json={"prompt": "a", **TINY}, headers=headers).json()
    second = api.client.post("/v1/videos", json={"prompt": "a", **TINY}, headers=headers).json()
    assert first["id"] == second["id"]


OURS = {
    ("POST", "/v1/videos"),
    ("GET", "/v1/videos"),
    ("POST", "/v1/videos/sync"),
    ("GET", "/v1/videos/{video_id}"),
    ("DELETE", "/v1/videos/{video_id}"),
    ("GET", "/v1/videos/{video_id}/content"),
    ("POST", "/v1/videos/{video_id}/remix"),
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches/{batch_id}"),
    ("GET", "/v1/batches/{batch_id}/manifest"),
    ("GET", "/v1/audit"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}


def test_openapi_lists_every_route_with_its_responses(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented >= OURS
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if (method.upper(), path) not in OURS:
                continue
            assert "200" in op["responses"], (method, path)
            if path.startswith("/v1/"):
                assert "401" in op["responses"], (method, path)
                assert op.get("security"), (method, path)
            if method in ("post", "delete") and path.startswith("/v1/"):
                assert "403" in op["responses"], (method, path)
    create = doc["paths"]["/v1/videos"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    for name in ("VideoCreate", "BatchCreate", "VideoRemix", "Video", "ErrorResponse", "BatchObject"):
        assert name in doc["components"]["schemas"]
    props = doc["components"]["schemas"]["Video"]["properties"]
    assert {"id", "object", "status", "progress", "created_at", "completed_at", "expires_at", "error", "size",
            "seconds", "model", "timings", "stages", "bottleneck"} <= set(props)  # fmt: skip


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, 2**63, -(2**70), 10**300, 17, 81])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, -1e-308, 3.14, 1e20])
    if kind == 4:
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x2FFFF)]))
            for _ in range(rng.randrange(0, 40))
        )
    if kind == 5:
        return rng.choice(
            ["", " ", "64x64", "0x0", "x", "256×256", "4", "-1", "1e9", "nan", "\x00", "a" * 5000]
        )
    if kind == 6:
        return rng.choice(["tiny-wan", "interactive", "batch", "v1", "a b"])
    if kind == 7:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {str(_junk(rng, depth + 1))[:20]: _junk(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


FIELDS = ["prompt", "model", "size", "seconds", "num_frames", "fps", "num_inference_steps", "guidance_scale",
          "seed", "negative_prompt", "priority", "deadline"]  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/videos", "/v1/batches"])
def test_random_junk_never_produces_a_500(any_api: Api, path: str) -> None:
    api = any_api
    rng = random.Random(20261125)
    for _ in range(100):
        body: dict[str, Any] = {
            name: _junk(rng) for name in rng.sample(FIELDS, rng.randrange(0, len(FIELDS)))
        }
        if rng.random() < 0.5:
            body["prompt"] = "a valid prompt"
        if path == "/v1/batches":
            body = {
                "template": body,
                "variants": [{"variant_id": "v", **{k: _junk(rng) for k in rng.sample(FIELDS, 2)}}],
            }
        raw = json.dumps(body).encode()  # ASCII escapes: lone surrogates arrive as \\udXXX
        headers = {**api.h(), "content-type": "application/json"}
        response = api.client.post(path, content=raw, headers=headers)
        assert response.status_code < 500, (body, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "param"}
