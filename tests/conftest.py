from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from m365_toolkit import SessionManager
from m365_toolkit.sessions.manager import _reset_session_manager

STORE_KINDS = ("sqlite", "json", "postgres")
POSTGRES_ENV = "M365_TOOLKIT_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def store_file(tmp_path: Path, kind: str) -> Path:
    return tmp_path / ("sessions.json" if kind == "json" else "sessions.db")


def store_kind(location: Path | str) -> str:
    """Which backend a test store location names: sqlite, json or postgres."""
    if str(location).startswith(("postgresql://", "postgres://")):
        return "postgres"
    return "json" if str(location).endswith(".json") else "sqlite"


class PostgresSchemas:
    """Fresh schemas on the test server, one store each, all dropped when the test ends."""

    def __init__(self, url: str, admin: Any) -> None:
        self.url = url
        self.admin = admin
        self.created: list[str] = []

    def new(self) -> str:
        """Create an empty schema; return a store URL whose search_path is just that schema."""
        name = f"m365_test_{uuid.uuid4().hex[:16]}"
        self.admin.execute(f"CREATE SCHEMA {name}")
        self.created.append(name)
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}options={quote(f'-csearch_path={name}')}"

    def drop(self) -> None:
        for name in self.created:
            self.admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        self.created.clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, Any]]:
    """An admin connection to the test server, or a skip (a failure under ``CI=true``)."""
    url = os.environ.get(POSTGRES_ENV, "").strip() or DEFAULT_POSTGRES_URL
    try:
        import psycopg

        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except Exception as exc:  # ImportError, OperationalError, ...
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())
    else:
        problem = ""
    if problem:
        from m365_toolkit.store import _safe

        reason = f"PostgreSQL is not reachable at {_safe(url)!r} ({problem})"
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail(
                f"PostgreSQL is required in CI: {reason}. Start a server and set {POSTGRES_ENV}.",
                pytrace=False,
            )
        pytest.skip(f"{reason}; set {POSTGRES_ENV} to run the PostgreSQL store tests.")
    admin.execute("SET lock_timeout = '10s'")  # a leaked lock fails a test, not the run
    with admin:
        yield url, admin


@pytest.fixture
def pg_schemas(postgres_server: tuple[str, Any]) -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(*postgres_server)
    yield schemas
    schemas.drop()


@pytest.fixture
def postgres_url(pg_schemas: PostgresSchemas) -> str:
    """The URL of an empty PostgreSQL store of this test alone."""
    return pg_schemas.new()


@pytest.fixture
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Path | str]:
    """Makes a new, empty store of a kind: a file under a fresh folder, or a fresh schema."""
    counter = iter(range(1_000_000))

    def make(kind: str) -> Path | str:
        if kind == "postgres":
            schemas: PostgresSchemas = request.getfixturevalue("pg_schemas")
            return schemas.new()
        folder = tmp_path / f"store{next(counter)}"
        folder.mkdir()
        return store_file(folder, kind)

    return make


@pytest.fixture(params=STORE_KINDS)
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new store location of each kind (a URL string for PostgreSQL)."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return store_file(tmp_path, request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manager(store_path: Path | str, clock: FakeClock) -> Iterator[SessionManager]:
    with SessionManager(store_path, clock=clock) as manager:
        yield manager


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test gets its own cwd, no store or user from the environment, no global manager."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("M365_TOOLKIT_STORE", raising=False)
    monkeypatch.delenv("M365_TOOLKIT_USER", raising=False)
    _reset_session_manager()
    yield
    _reset_session_manager()
