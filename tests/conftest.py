"""Shared fixtures: a store on each backend, and a blob store.

``store_url`` is parametrized: ``sqlite`` (a file in ``tmp_path``) and ``postgresql`` (a fresh
schema per test on the server named by ``REELSERVE_TEST_PG``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``; dropped afterwards, so concurrent runs
never collide). The PostgreSQL variant is skipped only when no server answers AND the variable
is unset; with the variable set, an unreachable server fails the test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from reelserve.store import FsBlobStore, SqlStore, default_url, open_store

PG_ENV = "REELSERVE_TEST_PG"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine | None]:
    """An engine on the test PostgreSQL server, or None when it is absent and optional."""
    url = os.environ.get(PG_ENV) or PG_DEFAULT
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        if os.environ.get(PG_ENV):
            pytest.fail(f"{PG_ENV}={url} is set but the server is unreachable: {exc.orig}")
        yield None
        return
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty store: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield default_url(tmp_path)
        return
    admin: sa.Engine | None = request.getfixturevalue("pg_admin")
    if admin is None:
        pytest.skip(f"no PostgreSQL at {PG_DEFAULT}; start one or set {PG_ENV} to run the postgresql variant")
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An opened (migrated) ``SqlStore`` on each backend."""
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def blobs(tmp_path: Path) -> FsBlobStore:
    return FsBlobStore(tmp_path / "blobs")
