"""Import into a SQL store: every session of an import in one transaction, batch by batch,
each record on the one append path (and heard by the listeners as it commits)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..sessions.model import Session
from . import ImportResult
from ._journal import Record, RecordKind, record_maker
from ._rules import batches
from ._statements import EVENT_FIELDS

if TYPE_CHECKING:
    from .sql import SQLStore


def import_sessions(store: SQLStore, sessions: Iterable[Session]) -> ImportResult:
    imported = skipped = 0
    d = store.dialect
    # One transaction for all: a bad record anywhere (the iterable raises) stores nothing.
    added = 0
    with store._journal.transaction() as written, d.transaction() as conn:
        store._guard(conn)
        for batch in batches(sessions):
            fresh: dict[str, Session] = {}  # the first of each id, in order
            for session in batch:
                fresh.setdefault(session.session_id, session)
            skipped += len(batch) - len(fresh)
            refs = d.insert_new_sessions(
                conn, store.sql.insert_session, [store._session_row(s) for s in fresh.values()]
            )
            rows: list[tuple[Any, ...]] = []
            records: list[Callable[[int], Record]] = []
            for session_id, session in fresh.items():
                ref = refs.get(session_id)
                if ref is None:
                    continue
                last = len(session.events) - 1
                for position, event in enumerate(session.events):
                    rows.append(store._event_row(ref, event))
                    kind: RecordKind = (
                        "start" if position == 0
                        else "complete" if position == last and not session.is_active
                        else "event"
                    )  # fmt: skip
                    if written is not None:
                        outcome = (
                            {"status": session.status.value, "end_time": session.end_time,
                             "duration_seconds": session.duration_seconds}
                            if kind == "complete" else {}
                        )  # fmt: skip
                        records.append(record_maker(session, event, kind, **outcome))
            added += len(store._append_many(conn, written, "events", EVENT_FIELDS, rows, records))
            imported += len(refs)
            skipped += len(fresh) - len(refs)
    store._wrote(added)
    return ImportResult(imported, skipped)
