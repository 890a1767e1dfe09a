"""``/v1/analyses`` through the real app (TestClient): uploads, paths, blob references, errors, auth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelserve.api.app import create_app
from reelserve.api.routes import analyses
from reelserve.api.settings import ApiSettings
from reelserve.pipeline.analyze.inputs import ROOTS_ENV
from reelserve.store.governance import create_key
from tests.understanding.conftest import Clip

FORM = {"tasks": "shots,labels", "chunk_seconds": "1", "fps": "2"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    app = create_app(ApiSettings(data_dir=tmp_path / "data"))
    if not any(getattr(r, "path", "").startswith("/v1/analyses") for r in app.routes):
        app.include_router(analyses.router)  # until routes.ROUTERS lists "analyses"
    engine = app.state.services.store.engine
    keys = {
        role: create_key(engine, org="o1", project=project, role=role)[0]
        for role, project in (("editor", "p1"), ("viewer", "p1"))
    }
    keys["other"] = create_key(engine, org="o1", project="p2", role="editor")[0]
    headers = {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}
    yield TestClient(app), headers
    app.state.services.close()


def _wait(client: TestClient, h: dict[str, str], analysis_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/v1/analyses/{analysis_id}", headers=h).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"analysis {analysis_id} did not finish")


def test_upload_analyse_and_read_results(
    api: tuple, clips: dict[str, Clip], damaged: dict[str, Path]
) -> None:
    client, h = api
    files = [
        ("file", ("cuts.mp4", clips["h264"].path.read_bytes(), "video/mp4")),
        ("file", ("broken.mp4", damaged["garbage"].read_bytes(), "video/mp4")),
    ]
    res = client.post("/v1/analyses", data=FORM, files=files, headers=h["editor"])
    assert res.status_code == 200, res.text
    created = res.json()
    assert created["object"] == "analysis" and [v["video"] for v in created["videos"]] == [
        "cuts.mp4",
        "broken.mp4",
    ]
    body = _wait(client, h["editor"], created["id"])
    good, bad = body["videos"]
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    assert [b["frame"] for b in good["shot_boundaries"]] == [30, 50]
    assert good["shot_boundaries"][0]["time_s"] == pytest.approx(1.25)
    assert len(good["samples"]) == 6 and "labels" in good["samples"][0]
    assert bad["status"] == "failed" and bad["error"]["code"] == "media_error"
    assert "/" not in good["video"]  # server paths are never shown
    assert client.get(f"/v1/analyses/{created['id']}", headers=h["other"]).status_code == 404
    # The upload is now a blob of this project: analyse it again by reference.
    sha = next(
        a.blob.sha256
        for a in client.app.state.services.store.get_artifacts(created["id"])
        if a.name == "input/0"
    )
    again = client.post(
        "/v1/analyses", json={"videos": [{"blob": sha}], "tasks": ["shots"]}, headers=h["editor"]
    )
    assert (
        again.status_code == 200 and _wait(client, h["editor"], again.json()["id"])["status"] == "succeeded"
    )
    foreign = client.post("/v1/analyses", json={"videos": [{"blob": sha}]}, headers=h["other"])
    assert foreign.status_code == 404


def test_local_paths_need_an_allowed_root(
    api: tuple, clips: dict[str, Clip], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, h = api
    body = {"videos": [{"path": str(clips["h264"].path)}], "tasks": "shots", "mode": "combined"}
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    assert client.post("/v1/analyses", json=body, headers=h["editor"]).status_code == 403
    monkeypatch.setenv(ROOTS_ENV, str(clips["h264"].path.parent))
    res = client.post("/v1/analyses", json=body, headers=h["editor"])
    assert res.status_code == 200
    result = _wait(client, h["editor"], res.json()["id"])
    assert [b["frame"] for b in result["videos"][0]["shot_boundaries"]] == [30, 50]


def test_bad_requests(api: tuple, clips: dict[str, Clip], monkeypatch: pytest.MonkeyPatch) -> None:
    client, h = api
    monkeypatch.setenv(ROOTS_ENV, str(clips["h264"].path.parent))
    ok = {"videos": [{"path": str(clips["h264"].path)}]}
    res = client.post("/v1/analyses", json={**ok, "tasks": "shots,ocr"}, headers=h["editor"])
    assert res.status_code == 400 and "valid tasks" in res.json()["error"]["message"]
    assert client.post("/v1/analyses", json={"videos": []}, headers=h["editor"]).status_code == 400
    assert client.post("/v1/analyses", json={**ok, "fps": -1}, headers=h["editor"]).status_code == 422
    assert client.post("/v1/analyses", json=ok, headers=h["viewer"]).status_code == 403
    assert client.post("/v1/analyses", json=ok).status_code == 401
    assert client.get("/v1/analyses/job_nope", headers=h["viewer"]).status_code == 404
