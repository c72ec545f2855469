from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m365_toolkit.store import Store, open_store

KINDS = ("memory", "sqlite", "json", "postgres")


@pytest.fixture(params=KINDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store location of each kind."""
    kind = request.param
    if kind == "memory":
        return "memory:"
    if kind == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / ("sessions.json" if kind == "json" else "sessions.db"))


@pytest.fixture
def store(location: str) -> Iterator[Store]:
    with open_store(location) as store:
        yield store
