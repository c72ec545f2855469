"""A tamper fuzzer: hundreds of random single edits made with sqlite3 to a sealed SQLite
store; verify catches every one and names the position of the record that was changed."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from m365_toolkit.sessions.model import Status
from m365_toolkit.store import open_store
from tests.store.test_contract import T0, complete, cost, event, new_session

EDITS = 300
Expect = tuple[int | None, int | None]  # the first break's chain position and sequence number


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sealed store of 30 sessions with events and costs, and gaps in its numbers."""
    path = tmp_path_factory.mktemp("fuzz") / "pristine.db"
    with open_store(path) as store:
        for i in range(30):
            start = T0 + timedelta(minutes=i)
            session = new_session(start, metadata={"run": i, "tags": ["a", i]})
            store.create(session)
            store.append_event(session.session_id, event(start, f"step {i}", i=i, x=[1, 2]))
            store.costs.add(cost(session.session_id, start, tokens=100 + i))
            if i % 3:
                end = start + timedelta(seconds=i + 0.25)
                store.finish(session.session_id, Status.SUCCESS, end, [complete(end)])
            if i % 10 == 0:
                conn = sqlite3.connect(path, isolation_level=None)
                conn.execute("UPDATE store_sequence SET last = last + 2")  # as rollbacks leave
                conn.close()
        store.seal()
    return path


def test_every_random_single_edit_is_detected_at_the_right_position(pristine, tmp_path):
    conn = sqlite3.connect(pristine)
    chain = conn.execute("SELECT pos, kind, ref FROM chain ORDER BY pos").fetchall()
    events = conn.execute("SELECT seq, session FROM events").fetchall()
    costs = [row[0] for row in conn.execute("SELECT seq FROM costs")]
    finished = conn.execute(
        "SELECT id, (SELECT max(seq) FROM events WHERE session = s.id) FROM sessions s "
        "WHERE status <> 'active'"
    ).fetchall()
    starts = conn.execute("SELECT id, (SELECT min(seq) FROM events WHERE session = s.id) "
                          "FROM sessions s").fetchall()  # fmt: skip
    used = {ref for _, _, ref in chain}
    conn.close()
    pos_of = {(kind == "cost", ref): pos for pos, kind, ref in chain}
    gaps = [n for n in range(1, max(used)) if n not in used]
    assert gaps

    def ev(seq: int) -> Expect:
        return pos_of[(False, seq)], seq

    rng = random.Random(12)
    work = tmp_path / "work.db"

    def edits() -> list[tuple[str, Callable[[sqlite3.Connection], Expect]]]:
        seq, session = rng.choice(events)
        other, _ = rng.choice([e for e in events if e[0] != seq])
        cost_seq = rng.choice(costs)
        ref, start_seq = rng.choice(starts)
        closed, last = rng.choice(finished)
        pos = rng.randrange(len(chain) - 1)  # the last row alone is a truncation: see below

        def set_event(column: str, value: Any) -> Callable[[sqlite3.Connection], Expect]:
            def edit(c: sqlite3.Connection) -> Expect:
                c.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (value, seq))
                return ev(seq)

            return edit

        def set_session(column: str, value: Any) -> Callable[[sqlite3.Connection], Expect]:
            def edit(c: sqlite3.Connection) -> Expect:
                c.execute(f"UPDATE sessions SET {column} = ? WHERE id = ?", (value, ref))
                return ev(start_seq)

            return edit

        def set_outcome(column: str, value: str) -> Callable[[sqlite3.Connection], Expect]:
            def edit(c: sqlite3.Connection) -> Expect:
                c.execute(f"UPDATE sessions SET {column} = {value} WHERE id = ?", (closed,))
                return ev(last)

            return edit

        def set_cost(column: str) -> Callable[[sqlite3.Connection], Expect]:
            def edit(c: sqlite3.Connection) -> Expect:
                c.execute(f"UPDATE costs SET {column} = {column} || 'x' WHERE seq = ?"
                          if column in ("model", "price_source", "user_name")
                          else f"UPDATE costs SET {column} = {column} + 7 WHERE seq = ?",
                          (cost_seq,))  # fmt: skip
                return pos_of[(True, cost_seq)], cost_seq

            return edit

        def swap(c: sqlite3.Connection) -> Expect:
            cols = "session, timestamp, type, description, data"
            a = c.execute(f"SELECT {cols} FROM events WHERE seq = ?", (seq,)).fetchone()
            b = c.execute(f"SELECT {cols} FROM events WHERE seq = ?", (other,)).fetchone()
            for target, row in ((seq, b), (other, a)):
                c.execute("UPDATE events SET session = ?, timestamp = ?, type = ?, "
                          "description = ?, data = ? WHERE seq = ?", (*row, target))  # fmt: skip
            return min(ev(seq), ev(other))

        def delete_event(c: sqlite3.Connection) -> Expect:
            c.execute("DELETE FROM events WHERE seq = ?", (seq,))
            return ev(seq)

        def delete_cost(c: sqlite3.Connection) -> Expect:
            c.execute("DELETE FROM costs WHERE seq = ?", (cost_seq,))
            return pos_of[(True, cost_seq)], cost_seq

        def insert(c: sqlite3.Connection) -> Expect:
            gap = rng.choice(gaps)
            c.execute("INSERT INTO events (seq, session, timestamp, type, description, data) "
                      "VALUES (?, ?, '2026-11-02T09:00:00.000000+00:00', 'progress', 'forged', "
                      "'{}')", (gap, session))  # fmt: skip
            return None, gap

        def chain_column(column: str) -> Callable[[sqlite3.Connection], Expect]:
            def edit(c: sqlite3.Connection) -> Expect:
                value = rng.randbytes(32) if column in ("leaf", "link") else "event?"
                c.execute(f"UPDATE chain SET {column} = ? WHERE pos = ?", (value, pos))
                return pos, chain[pos][2]

            return edit

        def delete_chain_row(c: sqlite3.Connection) -> Expect:
            c.execute("DELETE FROM chain WHERE pos = ?", (pos,))
            return pos, None

        def truncate_tail(c: sqlite3.Connection) -> Expect:
            c.execute("DELETE FROM chain WHERE pos = ?", (len(chain) - 1,))
            _, kind, ref = chain[-1]
            return None, ref  # without an anchor a dropped tail shows as a record not chained

        return [
            ("event description", set_event("description", f"edited {rng.random()}")),
            ("event type", set_event("type", "tampered")),
            ("event data", set_event("data", json.dumps({"i": rng.randrange(10**6)}))),
            ("event timestamp", set_event("timestamp", "2020-01-01T00:00:00.000000+00:00")),
            ("event session", set_event("session", rng.choice(starts)[0] + 1000)),
            ("session user", set_session("user_name", "mallory")),
            ("session metadata", set_session("metadata", '{"run":-1}')),
            ("session start", set_session("start_time", "2020-01-01T00:00:00.000000+00:00")),
            ("session host", set_session("host", "elsewhere")),
            ("session pid", set_session("pid", 424242)),
            ("session status", set_outcome("status", "'error'")),
            ("session reopened", set_outcome("status", "'active'")),
            ("session end", set_outcome("end_time", "'2030-01-01T00:00:00.000000+00:00'")),
            ("session duration", set_outcome("duration_seconds", "duration_seconds + 1")),
            ("cost tokens", set_cost("input_tokens")),
            ("cost amount", set_cost("output_cost")),
            ("cost total", set_cost("total_cost")),
            ("cost model", set_cost("model")),
            ("cost user", set_cost("user_name")),
            ("swap events", swap),
            ("delete event", delete_event),
            ("delete cost", delete_cost),
            ("insert event", insert),
            ("chain leaf", chain_column("leaf")),
            ("chain link", chain_column("link")),
            ("chain kind", chain_column("kind")),
            ("delete chain row", delete_chain_row),
            ("truncate tail", truncate_tail),
        ]

    missed: list[str] = []
    seen: set[str] = set()
    for _ in range(EDITS):
        name, edit = rng.choice(edits())
        seen.add(name)
        shutil.copy(pristine, work)
        c = sqlite3.connect(work, isolation_level=None)
        expected = edit(c)
        c.close()
        with open_store(work) as store:
            result = store.verify()
        first = result.first
        if first is None:
            missed.append(f"{name}: not detected")
        elif (first.pos, first.seq if expected[1] is not None else None) != expected:
            missed.append(f"{name}: expected {expected}, got {first}")
    assert not missed, missed
    assert len(seen) >= 25  # nearly every kind of edit was tried
