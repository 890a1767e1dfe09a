from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_server import FakeServer, FakeSettings


@pytest.fixture(scope="session")
def shared_server() -> Iterator[FakeServer]:
    """One fake endpoint for the whole suite (starting uvicorn per test costs more than the tests)."""
    fake = FakeServer(FakeSettings())
    with fake:
        yield fake


@pytest.fixture
def settings(shared_server: FakeServer, tmp_path: Path) -> FakeSettings:
    """The fake endpoint's settings, reset for this test; change them to inject delays or errors."""
    shared_server.reset(FakeSettings(path_dir=tmp_path))
    return shared_server.settings


@pytest.fixture
def server(shared_server: FakeServer, settings: FakeSettings) -> str:
    """The fake endpoint's base URL."""
    return shared_server.url
