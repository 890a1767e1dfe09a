"""Every route for every role: 401 without a live key, 403 for a viewer writing or a non-admin
reading the audit log, 404 for another project's resource."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import TINY, Api, make_api

W = {"viewer": 403, "editor": 200, "service": 200, "admin": 200}  # a write
R = {"viewer": 200, "editor": 200, "service": 200, "admin": 200}  # a read
BATCH = {"template": {**TINY, "prompt": "a shoe"}, "variants": [{"variant_id": "a"}, {"variant_id": "b"}]}

# (method, path, json body, expected by role, expected for another project's editor)
ROUTES: list[tuple[str, str, Any, dict[str, int], int]] = [
    ("POST", "/v1/videos", {"prompt": "a fox", **TINY}, W, 200),
    ("GET", "/v1/videos", None, R, 200),
    ("GET", "/v1/videos/{video}", None, R, 404),
    ("GET", "/v1/videos/{video}/content", None, {r: 409 for r in R}, 404),
    ("POST", "/v1/videos/{video}/remix", {"prompt": "a wolf"}, W, 404),
    ("POST", "/v1/videos/sync", {"prompt": ""}, {**W, "editor": 422, "service": 422, "admin": 422}, 422),
    ("DELETE", "/v1/videos/{video}", None, W, 404),
    ("POST", "/v1/batches", BATCH, W, 200),
    ("GET", "/v1/batches/{batch}", None, R, 404),
    ("GET", "/v1/batches/{batch}/manifest", None, R, 404),
    ("GET", "/v1/audit", None, {"viewer": 403, "editor": 403, "service": 403, "admin": 200}, 403),
]
PUBLIC = ["/healthz", "/readyz", "/metrics"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, dict[str, str]]]:
    api = make_api(Path(tmp_path_factory.mktemp("rbac")))
    video = api.create().json()["id"]
    batch = api.client.post("/v1/batches", json=BATCH, headers=api.h()).json()["id"]
    yield api, {"video": video, "batch": batch}
    api.services.close()


def _call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return api.client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, *_ in ROUTES])
@pytest.mark.parametrize("who", ["viewer", "editor", "service", "admin", "other", "none", "bad", "basic"])
def test_route_by_role(world: tuple[Api, dict[str, str]], route: tuple[Any, ...], who: str) -> None:
    api, ids = world
    method, template, body, by_role, other = route
    path = template.format(**ids)
    if who == "none":
        headers: dict[str, str] = {}
    elif who == "bad":
        headers = {"Authorization": "Bearer rs_not-a-key"}
    elif who == "basic":
        headers = {"Authorization": "Basic dXNlcjpwYXNz"}  # not a bearer token
    elif who == "other":
        headers = {"Authorization": f"Bearer {api.other}"}
    else:
        headers = api.h(who)
    response = _call(api, method, path, body, headers)
    expected = 401 if who in ("none", "bad", "basic") else other if who == "other" else by_role[who]
    assert response.status_code == expected, response.text
    if expected >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "param"} and error["message"]
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PUBLIC)
def test_ops_routes_need_no_key(world: tuple[Api, dict[str, str]], path: str) -> None:
    api, _ = world
    assert api.client.get(path).status_code == 200


def test_a_revoked_key_stops_working(tmp_path: Path) -> None:
    from reelserve.store.governance import list_keys, revoke_key

    api = make_api(tmp_path / "d", key_cache_s=0.0)
    try:
        assert api.client.get("/v1/videos", headers=api.h("viewer")).status_code == 200
        viewer = next(k for k in list_keys(api.services.store.engine) if k.role.value == "viewer")
        revoke_key(api.services.store.engine, viewer.id)
        assert api.client.get("/v1/videos", headers=api.h("viewer")).status_code == 401
    finally:
        api.services.close()


def test_other_projects_never_see_each_others_videos(api: Api) -> None:
    mine = api.create().json()["id"]
    theirs = api.client.get("/v1/videos", headers={"Authorization": f"Bearer {api.other}"}).json()
    assert mine not in [v["id"] for v in theirs["data"]]
