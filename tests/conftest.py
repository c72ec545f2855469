from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from m365_toolkit import SessionManager
from m365_toolkit.manager import _reset_session_manager

STORE_KINDS = ("sqlite", "json")


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


@pytest.fixture(params=STORE_KINDS)
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return store_file(tmp_path, request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def manager(store_path: Path, clock: FakeClock) -> Iterator[SessionManager]:
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
