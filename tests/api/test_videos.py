"""The videos and batches routes in process, on SQLite and PostgreSQL: mapping of the OpenAI fields,
multipart with an input reference, remix, listing, idempotent batches of thousands."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import TINY, Api


def test_seconds_map_to_the_nearest_frame_count_and_form_values_are_coerced(api: Api) -> None:
    form = {"prompt": "a kite", "seconds": "4", "size": "64x64", "num_inference_steps": "2", "seed": "11"}
    video = api.client.post("/v1/videos", data=form, headers=api.h()).json()
    assert video["num_frames"] == 65 and video["fps"] == 16 and video["seconds"] == "4.06"
    assert video["num_inference_steps"] == 2 and video["seed"] == 11 and video["size"] == "64x64"
    for seconds, frames in ((2.5, 41), ("0.01", 1), ("5", 81)):
        body = {"prompt": "a kite", "size": "64x64", "seconds": seconds}
        assert api.client.post("/v1/videos", json=body, headers=api.h()).json()["num_frames"] == frames


def test_multipart_with_an_input_reference_is_stored(api: Api) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    files = {"input_reference": ("ref.png", image, "image/png")}
    form = {"prompt": "like this", **{k: str(v) for k, v in TINY.items()}}
    response = api.client.post("/v1/videos", data=form, files=files, headers=api.h())
    assert response.status_code == 200, response.text
    job = api.services.store.get_job(response.json()["id"])
    ref = job.spec["input_reference"]
    assert ref["bytes"] == len(image) and ref["content_type"] == "image/png"


def test_remix_copies_settings_with_a_new_prompt(api: Api) -> None:
    source = api.create(seed=5, negative_prompt="blur").json()
    remix = api.client.post(
        f"/v1/videos/{source['id']}/remix", json={"prompt": "at dawn"}, headers=api.h()
    ).json()
    assert remix["remixed_from_video_id"] == source["id"] and remix["prompt"] == "at dawn"
    assert (remix["seed"], remix["negative_prompt"], remix["size"]) == (5, "blur", "64x64")


def test_list_pages_with_after_and_order(api: Api) -> None:
    ids = [api.create(prompt=f"p{i}").json()["id"] for i in range(5)]
    page = api.client.get(
        "/v1/videos", params={"limit": 2, "order": "asc", "after": ids[0]}, headers=api.h()
    ).json()
    assert [v["id"] for v in page["data"]] == ids[1:3] and page["has_more"] and page["last_id"] == ids[2]


def test_cancel_of_a_queued_video_and_of_a_cancelled_one(api: Api) -> None:
    video = api.create().json()
    assert api.client.delete(f"/v1/videos/{video['id']}", headers=api.h()).json()["deleted"] is True
    again = api.client.delete(f"/v1/videos/{video['id']}", headers=api.h())
    assert again.status_code == 200 and again.json()["deleted"] is True
    got = api.client.get(f"/v1/videos/{video['id']}", headers=api.h()).json()
    assert (
        got["status"] == "failed" and got["error"]["code"] == "cancelled" and got["job_status"] == "cancelled"
    )
    assert api.client.get(f"/v1/videos/{video['id']}/content", headers=api.h()).status_code == 409


def test_a_batch_of_thousands_is_admitted_fast_and_idempotently(any_api: Api) -> None:
    variants = [{"variant_id": f"v{i:05d}", "seed": i} for i in range(1000)]
    body = {"template": {**TINY, "prompt": "an ad"}, "variants": variants}
    headers = {**any_api.h(), "Idempotency-Key": "spring"}
    t0 = time.perf_counter()
    first = any_api.client.post("/v1/batches", json=body, headers=headers)
    elapsed = time.perf_counter() - t0
    assert first.status_code == 200, first.text
    assert first.json()["admitted"] == 1000 and elapsed < 30
    more = {**body, "variants": [*variants[:10], {"variant_id": "extra", "prompt": "one more"}]}
    second = any_api.client.post("/v1/batches", json=more, headers=headers).json()
    assert second["id"] == first.json()["id"] and second["admitted"] == 1 and second["total"] == 1001
    manifest = any_api.client.get(
        f"/v1/batches/{second['id']}/manifest", headers=any_api.h()
    ).text.splitlines()
    assert len(manifest) == 1001
    listed = any_api.client.get("/v1/videos", params={"limit": 1}, headers=any_api.h()).json()["data"][0]
    assert listed["batch_id"] == second["id"] and listed["priority"] == "batch"


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "a\u0000b", **TINY},
        {"prompt": "ok", "negative_prompt": "\u0000", **TINY},
        {"prompt": "ok", "size": "64x64\u0000"},
        {"prompt": "ok", "\u0000": 1},
    ],
)
def test_nul_characters_are_refused_on_every_backend(any_api: Api, body: dict[str, object]) -> None:
    response = any_api.client.post("/v1/videos", json=body, headers=any_api.h())
    assert response.status_code == 400 and "NUL" in response.json()["error"]["message"]
    batch = {"template": {"prompt": "p"}, "variants": [{"variant_id": "a", "prompt": "x\u0000"}]}
    bad = any_api.client.post("/v1/batches", json=batch, headers=any_api.h())
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "variants.0.prompt"


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/videos/job_a%00b", {}), ("/v1/videos", {"after": "a\u0000"}), ("/v1/batches/b%00/manifest", {})],
)
def test_nul_in_urls_is_400_on_every_backend(any_api: Api, path: str, params: dict[str, str]) -> None:
    response = any_api.client.get(path, params=params, headers=any_api.h())
    assert response.status_code == 400 and response.json()["error"]["param"] == "url"
