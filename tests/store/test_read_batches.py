"""The SQL stores read event rows a batch at a time (``store/_rows.py`` read_timelines): any
batch size gives the same sessions, the same events and the same damaged rows named; the
column fast path gives each session a process identity of its own."""

from __future__ import annotations

import sqlite3
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from m365_toolkit import SessionManager, open_store
from m365_toolkit.errors import DamagedRecordWarning
from m365_toolkit.sessions.query import SessionQuery
from m365_toolkit.store import _rows

from ..conftest import FakeClock
from ..test_robustness import damaged_sqlite_store


def sessions_of_many_lengths(location: Path) -> None:
    """Sessions of 1 to 7 events (start, steps, completion), some still active."""
    clock = FakeClock(datetime.now(UTC) - timedelta(days=1))
    with SessionManager(location, clock=clock) as manager:
        for number in range(12):
            created = manager.create_session("audit", metadata={"n": number})
            for step in range(number % 6):
                created.add_event("step", f"step {step}", {"step": step, "of": [number]})
            if number % 4:
                manager.complete_session(created.session_id)


def read_all(location: Path) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], list[str]]:
    """History, scan (two sessions a batch) and the damaged sessions they name."""
    with warnings.catch_warnings(record=True) as caught, open_store(location) as store:
        warnings.simplefilter("always", DamagedRecordWarning)
        history = store.history(SessionQuery())
        scanned = list(store.scan(batch=2))
    named = [w.message.session_id for w in caught if isinstance(w.message, DamagedRecordWarning)]
    return history, scanned, named


@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_any_batch_size_reads_the_same_sessions_and_events(tmp_path, monkeypatch, batch):
    location = tmp_path / "s.db"
    sessions_of_many_lengths(location)
    whole = read_all(location)
    monkeypatch.setattr(_rows, "FETCH_ROWS", batch)
    assert read_all(location) == whole
    history = whole[0]
    assert len(history) == 12 and sum(len(s["events"]) for s in history) == 12 + 30 + 9
    assert [list(s) for s in read_all(location)[0]] == [list(s) for s in history]


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_damaged_event_in_any_batch_is_named_and_its_session_left_out(
    tmp_path, monkeypatch, batch
):
    location = tmp_path / "s.db"
    ids = damaged_sqlite_store(location)
    whole = read_all(location)
    monkeypatch.setattr(_rows, "FETCH_ROWS", batch)
    history, scanned, named = read_all(location)
    assert (history, scanned, named) == whole
    assert ids[2] in named and ids[2] not in {s["session_id"] for s in history}
    assert {s["session_id"] for s in history} == {ids[3], ids[4]}


def test_each_session_has_a_process_identity_of_its_own(tmp_path):
    location = tmp_path / "s.db"
    with SessionManager(location) as manager:
        for _ in range(3):
            manager.complete_session(manager.create_session("audit").session_id)
    with open_store(location) as store:
        first, second, third = store.history(SessionQuery())
        assert list(first)[-2:] == ["process", "events"] and first["process"] == second["process"]
        first["process"]["boot"] = "changed"
        assert second["process"]["boot"] != "changed" and third["process"]["boot"] != "changed"
    with sqlite3.connect(location) as conn:  # one without: the others keep theirs
        conn.execute("UPDATE sessions SET process = NULL WHERE id = 1")
    with open_store(location) as store:
        history = store.history(SessionQuery())
    assert ["process" in s for s in history] == [True, True, False]
    assert list(history[0])[-2:] == ["process", "events"] and "events" in history[2]
