"""Sealing takes verify's fast path (``store/_leaves.py``) for the records a SQL store writes;
every leaf it chains is still the hash of the general path's bytes for the record rebuilt
from its row (RFC 8785 through ``rfc8785``, or the plain ``json.dumps`` path where that is
proven the same), on every shape a store accepts: non-ASCII keys and text, hostile text,
floats, integers beyond 2**53, decimals as strings, a session with one event."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m365_toolkit.sessions.model import Event, Status
from m365_toolkit.store import Store, open_store
from m365_toolkit.store._canonical import canonical
from m365_toolkit.store._records import outcome, outcome_text
from m365_toolkit.store.chain import ChainRow
from m365_toolkit.store.sql_unsealed import BATCH
from m365_toolkit.store.sqlite import ROWS_PER_INSERT
from tests.store.test_contract import T0, complete, cost, event, new_session

HOSTILE = '"\\\n\t\x01\x1f\x7f\u2028\u2029</script>é€\U0001f600'
SHAPES: list[dict[str, Any]] = [
    {},
    {"tenant": "contoso", "run": 3},
    {"é": 1, "z": 2, "\ue000": 3, "\U0001f600": 4},  # UTF-16 and code points disagree
    {"ratio": 0.1, "whole": 2.0, "tiny": 1e-7, "huge": 1.5e300, "neg": -0.0},
    {"big": 2**60, "edge": 2**53, "safe": 2**53 - 1, "low": -(2**64)},
    {"price": "0.0015", "total": "12345678901234567890.000000000001"},
    {"text": HOSTILE, HOSTILE: [HOSTILE, None, True, False, [], {}]},
    {"nested": {"b": [1, {"a": [2.5, "x"]}], "a": {"é": None}}},
]


def write_shapes(store: Store) -> None:
    for n, shape in enumerate(SHAPES):
        start = T0 + timedelta(minutes=n)
        session = new_session(start, metadata=shape, user=f"user{n}{HOSTILE}")
        store.create(session)
        hostile = Event(start, HOSTILE, HOSTILE, shape)
        store.append_event(session.session_id, hostile)
        store.costs.add(cost(session.session_id, start, model=f"m{HOSTILE}"))
        if n % 2:
            end = start + timedelta(seconds=n * 0.37)
            store.finish(session.session_id, Status.SUCCESS, end, [complete(end, "success")])
    alone = new_session(T0 + timedelta(hours=1), metadata={"x": 1.5})
    alone.mark_finished(Status.ERROR, T0 + timedelta(hours=1, seconds=1), 1.0)
    store.import_sessions([alone])  # its one event closes it: the start carries the outcome
    store.costs.add(cost(None, T0))  # a cost of no session


def general_leaf(record: dict[str, Any]) -> bytes:
    return hashlib.sha256(b"\x00" + canonical(record)).digest()


def test_every_sealed_leaf_is_the_general_paths_hash(sql_location):
    with open_store(sql_location) as store:
        store.seal_every = None  # type: ignore[attr-defined]
        write_shapes(store)
        sealed = store.seal()
        seen: list[tuple[ChainRow, Any]] = []
        result = store.verify(sink=lambda row, record: seen.append((row, record)))
    assert result.intact, result.breaks
    assert sealed.sealed == len(seen) == 3 * len(SHAPES) + len(SHAPES) // 2 + 2
    for row, record in seen:
        assert row.leaf == general_leaf(record), (row, record)
    kinds = [row.kind for row, _ in seen]
    assert kinds.count("start") == len(SHAPES) + 1 and kinds.count("complete") == len(SHAPES) // 2
    assert sum(row.outcome is not None for row, _ in seen) == len(SHAPES) // 2 + 1


def test_sealing_in_batches_chains_every_record_once_in_sequence_order(tmp_path):
    with open_store(tmp_path / "sessions.db") as store:
        store.seal_every = None  # type: ignore[attr-defined]
        for n in range(BATCH // 2 + 7):  # more events and more costs than one batch reads
            session = new_session(T0 + timedelta(seconds=n), metadata={"n": n * 0.5})
            store.create(session)
            store.append_event(session.session_id, event(T0, "step", n=n))
            store.costs.add(cost(session.session_id))
            store.costs.add(cost(None))
        assert store.seal().sealed == 4 * (BATCH // 2 + 7)
        assert store.verify().intact
    conn = sqlite3.connect(tmp_path / "sessions.db")
    refs = [ref for (ref,) in conn.execute("SELECT ref FROM chain ORDER BY pos")]
    assert refs == sorted(refs) == list(range(1, len(refs) + 1))


def test_a_range_put_back_is_not_chained_twice(tmp_path):
    with open_store(tmp_path / "sessions.db") as store:
        write_shapes(store)
        size = store.seal().size
    conn = sqlite3.connect(tmp_path / "sessions.db", isolation_level=None)
    conn.execute("UPDATE chain_meta SET sealed_through = 3")
    conn.close()
    with open_store(tmp_path / "sessions.db") as store:
        again = store.seal()
        assert (again.sealed, again.size) == (0, size)
        assert store.verify().intact


def test_an_event_whose_session_row_is_gone_is_left_unchained(tmp_path):
    with open_store(tmp_path / "sessions.db") as store:
        store.seal_every = None  # type: ignore[attr-defined]
        kept, gone = new_session(), new_session(T0 + timedelta(seconds=1))
        store.create(kept), store.create(gone)
        conn = sqlite3.connect(tmp_path / "sessions.db", isolation_level=None)
        conn.execute("DELETE FROM sessions WHERE session_id = ?", (gone.session_id,))
        conn.close()
        assert store.seal().sealed == 1
        result = store.verify()
    assert [b.kind.value for b in result.breaks] == ["INSERTED"]


@settings(max_examples=1500)
@given(
    st.text(st.characters(codec="utf-8"))
    | st.sampled_from(["success", "error", "cancelled", "active"])
    | st.none(),
    st.text() | st.sampled_from(["2026-11-02T09:00:02.000000+00:00"]) | st.none(),
    st.floats() | st.integers(min_value=-(2**60), max_value=2**60) | st.text() | st.none(),
)
def test_an_outcome_written_out_directly_is_the_canonical_text(status, end_time, duration):
    expected = canonical(outcome(status, end_time, duration)).decode("utf-8")
    assert outcome_text(status, end_time, duration) == expected


@pytest.mark.parametrize(
    "count", [0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, 2 * ROWS_PER_INSERT + 5]
)
def test_sqlite_inserts_many_rows_in_their_order(tmp_path, count):
    with open_store(tmp_path / "sessions.db") as store:
        d = store.dialect  # type: ignore[attr-defined]
        rows = [(n, f"r{n}", None if n % 3 else b"\x00\xff") for n in range(count)]
        with d.transaction() as conn:
            conn.execute("CREATE TABLE bulk (n INTEGER, t TEXT, b BLOB)")
            d.insert_rows(conn, "bulk", ("n", "t", "b"), rows)
            assert conn.execute("SELECT n, t, b FROM bulk ORDER BY rowid").fetchall() == rows
