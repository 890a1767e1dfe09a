from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_server import FakeServer, FakeSettings


@pytest.fixture
def settings(tmp_path: Path) -> FakeSettings:
    return FakeSettings(path_dir=tmp_path)


@pytest.fixture
def server(settings: FakeSettings) -> Iterator[str]:
    """The fake endpoint's base URL; tweak ``settings`` in the test to inject delays or errors."""
    with FakeServer(settings) as url:
        yield url
