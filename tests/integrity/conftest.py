"""The store contract suite's fixtures: a store location of every kind; and the SQL stores'
locations alone, for the tests that reach into their tables."""

from pathlib import Path

import pytest

from tests.store.conftest import location, store  # noqa: F401


@pytest.fixture(params=["sqlite", "postgres"])
def sql_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file or the test PostgreSQL database (a schema of its own)."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "sessions.db")
