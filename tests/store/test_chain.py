"""The tamper-evident chain on every store: an intact store verifies; edits made behind the
store's back (sqlite3, psycopg, the JSON files, the memory state) are each named with the
right position and class."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from m365_toolkit.sessions.model import Status
from m365_toolkit.store import Store, open_store
from tests.integrity.tamper import Tamper, tamper_for
from tests.store.test_contract import T0, complete, cost, event, new_session


def a_trail(store: Store, tamper: Tamper) -> tuple[str, str, str]:
    """Three sessions, sealed. Chain positions (sequence numbers):

    a: start 0 (1), event 1 (2), cost 2 (3), event 3 (4), complete 4 (5), error;
    b: start 5 (6), event 6 (7), still active; numbers 8-10 unused; c: start 7 (11).
    """
    a = new_session(metadata={"tenant": "contoso"})
    store.create(a)
    store.append_event(a.session_id, event(T0 + timedelta(seconds=1), "first step", n=1))
    store.costs.add(cost(a.session_id))
    store.append_event(a.session_id, event(T0 + timedelta(seconds=2), "second step"))
    end = T0 + timedelta(seconds=3)
    store.finish(a.session_id, Status.ERROR, end, [complete(end, "error")])
    b = new_session(T0 + timedelta(seconds=10))
    store.create(b)
    store.append_event(b.session_id, event(T0 + timedelta(seconds=11), "b step"))
    tamper.skip_numbers(3)
    c = new_session(T0 + timedelta(seconds=20))
    store.create(c)
    store.seal()
    return a.session_id, b.session_id, c.session_id


def test_an_untouched_store_verifies_with_every_record_chained_once(store, location):
    a_trail(store, tamper_for(store, location))
    result = store.verify()
    assert result.intact, result.breaks
    assert (result.size, result.valid, result.unsealed) == (8, 8, 0)
    assert result.first is None and not result.keyed
    assert store.seal().sealed == 0  # sealing again adds nothing


TAMPERS = {
    "edited description": (lambda t, a, b: t.edit_description(2, "nothing happened"),
                           "EDITED", 1, 2, "a", {"EDITED": 1}),
    "edited metadata": (lambda t, a, b: t.edit_metadata(a, {"tenant": "fabrikam"}),
                        "EDITED", 0, 1, "a", {"EDITED": 1}),
    # A deleted record's session is gone with it: the chain row names only its number.
    "deleted event": (lambda t, a, b: t.delete_event(4), "DELETED", 3, 4, None, {"DELETED": 1}),
    "inserted event": (lambda t, a, b: t.insert_event(b, 9),
                       "INSERTED", None, 9, "b", {"INSERTED": 1}),
    "reordered events": (lambda t, a, b: t.swap_events(2, 4),
                         "REORDERED", 1, 2, "a", {"REORDERED": 2}),
    "flipped status": (lambda t, a, b: t.set_status(a, "success"),
                       "DERIVED-MISMATCH", 4, 5, "a", {"DERIVED-MISMATCH": 1}),
    "broken link": (lambda t, a, b: t.break_link(5), "LINK-BROKEN", 5, 6, "b",
                    {"LINK-BROKEN": 1}),
    "edited cost": (lambda t, a, b: t.edit_cost(3), "EDITED", 2, 3, "a", {"EDITED": 1}),
}  # fmt: skip


@pytest.mark.parametrize("name", TAMPERS)
def test_an_edit_behind_the_stores_back_is_named_with_its_position_and_class(store, location, name):
    tamper = tamper_for(store, location)
    a, b, _ = a_trail(store, tamper)
    edit, kind, pos, seq, session, counts = TAMPERS[name]
    edit(tamper, a, b)
    result = store.verify()
    assert not result.intact
    first = result.first
    assert first is not None
    assert (first.kind.value, first.pos, first.seq) == (kind, pos, seq)
    assert first.session_id == {"a": a, "b": b, None: None}[session]
    assert result.counts == counts


def test_the_chain_of_a_pruned_store_still_verifies_and_keeps_the_leaves(store, location):
    old = new_session(T0 - timedelta(days=400))
    store.create(old)
    store.costs.add(cost(old.session_id, T0 - timedelta(days=400)))
    store.finish(old.session_id, Status.SUCCESS, T0 - timedelta(days=400), [complete(T0)])
    a_trail(store, tamper_for(store, location))
    assert store.prune(T0 - timedelta(days=30)).sessions == 1
    result = store.verify()
    assert result.intact, result.breaks
    # The old session's start, cost and completion (positions 0-2) keep their leaves; the
    # prune record that names them is chained last.
    assert (result.size, result.pruned, result.valid) == (12, 3, 12)
    export: list[tuple[int, str, dict | None]] = []
    store.verify(sink=lambda row, record: export.append((row.pos, row.kind, record)))
    pos, kind, record = export[-1]
    assert (pos, kind) == (11, "prune")
    assert record is not None
    assert (record["positions"], record["sessions"], record["events"]) == ([[0, 2]], 1, 2)
    assert record["before"].startswith(str((T0 - timedelta(days=30)).date()))


def test_a_record_deleted_under_a_forged_pruned_mark_is_caught(store, location):
    tamper = tamper_for(store, location)
    a_trail(store, tamper)
    tamper.mark_pruned(1)  # position 1 is the event numbered 2: marked, then deleted
    tamper.delete_event(2)
    result = store.verify()
    first = result.first
    assert first is not None and (first.kind.value, first.pos) == ("DELETED", 1)
    assert "no prune record names them" in first.detail


def test_concurrent_writers_leave_a_chain_with_every_record_once(store):
    store.seal_every = 5  # type: ignore[attr-defined]  # seal often, while others write
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                session = new_session()
                store.create(session)
                store.append_event(session.session_id, event(T0))
                store.costs.add(cost(session.session_id))
                store.finish(session.session_id, Status.SUCCESS, T0, [complete(T0)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    result = store.verify()
    assert result.intact, result.breaks
    counts = store.counts()
    assert result.size == counts.events + counts.costs == 4 * 10 * 4


def test_records_written_by_a_store_object_are_sealed_when_it_closes(location):
    with open_store(location) as store:
        store.seal_every = None  # type: ignore[attr-defined]
        store.create(new_session())
        if location == "memory:":
            assert store.verify().size == 1
            return
    with open_store(location) as again:
        assert again.seal().sealed == 0
        assert again.verify().size == 1


def test_a_session_finished_without_events_after_a_seal_still_verifies(store):
    session = new_session()
    store.create(session)
    store.append_event(session.session_id, event(T0 + timedelta(seconds=1)))
    store.seal()  # its last event is chained before the session closes
    finished = store.finish(session.session_id, Status.SUCCESS, T0 + timedelta(seconds=2), [])
    result = store.verify()
    assert result.intact, result.breaks
    timeline = store.get(session.session_id)["events"]
    assert [e["type"] for e in timeline][-1] == "complete"
    assert timeline[-1]["seq"] == finished.seqs[-1]
