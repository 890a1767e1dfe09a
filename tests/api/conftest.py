"""API fixtures: an in-process app per test (TestClient) with a key per role, and one real server.

The real server (uvicorn on a loopback port + one worker process) is started as soon as collection
finds a test that uses it, so the worker loads its model while the in-process tests run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelserve.api.app import create_app
from reelserve.api.settings import ApiSettings
from reelserve.store.governance import create_key
from tests.api.live import LiveServer, start_live

ROLES = ("viewer", "editor", "service", "admin")
TINY: dict[str, Any] = {"size": "64x64", "num_frames": 9, "num_inference_steps": 1}

_LIVE: dict[str, Any] = {}


@dataclass
class Api:
    client: TestClient
    app: Any
    keys: dict[str, str]  #: role -> key, all in org "o1", project "p1"
    other: str  #: an editor key of another project

    @property
    def services(self) -> Any:
        return self.app.state.services

    def h(self, role: str = "editor") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def create(self, role: str = "editor", **body: Any) -> Any:
        return self.client.post(
            "/v1/videos", json={"prompt": "a quiet harbour", **TINY, **body}, headers=self.h(role)
        )


def make_api(data: Path, store_url: str | None = None, **settings: Any) -> Api:
    app = create_app(ApiSettings(data_dir=data, store_url=store_url, **settings))
    engine = app.state.services.store.engine
    keys = {role: create_key(engine, org="o1", project="p1", role=role)[0] for role in ROLES}
    other = create_key(engine, org="o1", project="p2", role="editor")[0]
    return Api(TestClient(app), app, keys, other)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app per test module (creating an app migrates a fresh store and makes five keys)."""
    made = make_api(tmp_path_factory.mktemp("api") / "data")
    yield made
    made.services.close()


@pytest.fixture
def any_api(store_url: str, tmp_path: Path) -> Iterator[Api]:
    """An app on each store backend (SQLite, PostgreSQL)."""
    made = make_api(tmp_path / "data", store_url=store_url)
    yield made
    made.services.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any("live" in item.fixturenames for item in session.items if "tests/api" in str(item.path)):
        data = Path(tempfile.mkdtemp(prefix="reelserve-live-"))
        _LIVE["dir"] = data
        _LIVE["server"] = start_live(data / "data")


def pytest_sessionfinish(session: pytest.Session) -> None:
    server = _LIVE.pop("server", None)
    if server is not None:
        server.stop()
    if "dir" in _LIVE:
        shutil.rmtree(_LIVE.pop("dir"), ignore_errors=True)


@pytest.fixture(scope="session")
def live() -> LiveServer:
    if "server" not in _LIVE:
        pytest.fail("the live server was not started at collection")
    server: LiveServer = _LIVE["server"]
    return server


@pytest.fixture(scope="session")
def live_keys(live: LiveServer) -> dict[str, str]:
    engine = live.app.state.services.store.engine  # type: ignore[attr-defined]
    keys = {role: create_key(engine, org="o1", project="live", role=role)[0] for role in ROLES}
    keys["other"] = create_key(engine, org="o1", project="elsewhere", role="editor")[0]
    return keys
