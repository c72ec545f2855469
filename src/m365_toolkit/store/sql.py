"""One SQL store over a :class:`~.dialect.Dialect`: every query and every write, once.

SQLite and PostgreSQL hold the same tables under the same names. Each stored record is
written by :meth:`SQLStore._append` (one) or :meth:`SQLStore._append_many` (a bulk import),
the one append path: the next number of the store-wide sequence, then the listeners.
Records are sealed into the tamper-evident chain (:mod:`.sql_chain`) off that path: every
:attr:`SQLStore.seal_every` records this object writes, and before verify, prune and close.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._util.closing import Closing
from .._util.system import identity_json
from .._util.values import to_json
from ..errors import CorruptStoreError, InvalidTransition, SessionNotFound, StoreError
from ..sessions.model import Event, Session, Status, completion_event, duration_between
from ..sessions.query import SessionQuery, statistics_from_groups
from . import SCAN_BATCH, Finished, ImportResult, PruneResult, StoreCounts
from ._journal import Journal, Listener, Record, RecordKind, record_maker
from ._notes import NoteMaker
from ._rows import (
    Damage,
    attach_events,
    no_gc,
    read_timelines,
    session_dicts,
    timelines,
    warn_damaged,
)
from ._rules import check_batch, duplicate_session
from ._statements import Statements
from .chain import SealResult, Sink, Verification
from .dialect import Connection, Dialect
from .sql_chain import SQLChain
from .sql_import import import_sessions

log = logging.getLogger("m365_toolkit.store")
SEAL_EVERY = 256  # about 2.5 ms of sealing per seal: amortised, and a short unprotected tail
_ACTIVE = Status.ACTIVE.value
_TEXT = {status: status.value for status in Status}  # without the enum's property, per write


class SQLStore(Closing):
    """Sessions, events and costs in a SQL database; see :class:`~m365_toolkit.store.Store`."""

    seal_every: int | None = SEAL_EVERY  # records this object writes between seals; None: never

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.location = dialect.location
        self._journal = Journal()
        self.sql = Statements(dialect)
        from .sql_costs import SQLCostLog  # the cost log shares this store's dialect

        self._costs = SQLCostLog(self)
        self._chain = SQLChain(self)
        self._unsealed = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def files(self) -> list[Path]:
        """The database's files, its companions included (none for PostgreSQL)."""
        return self.dialect.files()

    def close(self) -> None:
        """Seal what this object wrote (see :meth:`_wrote`), then release the connections."""
        try:
            self._wrote(0, at_least=1)
        finally:
            self.dialect.close()

    # -- the chain ---------------------------------------------------------------------------

    def seal(self, note: NoteMaker | None = None) -> SealResult:
        """Add every record not chained yet to the chain, in sequence order (then ``note``)."""
        self._unsealed = 0
        return self._chain.seal(note)

    def verify(self, *, links_at: Collection[int] = (), sink: Sink | None = None) -> Verification:
        """Seal, then check the whole chain and the columns derived from it."""
        self._unsealed = 0
        return self._chain.verify(links_at, sink)

    def _wrote(self, count: int, *, at_least: int | None = None) -> None:
        """After a commit: seal once this object wrote ``seal_every`` (or ``at_least``)
        records; a failed seal is logged, not raised, and left to a later one."""
        self._unsealed += count
        due = at_least if at_least is not None else self.seal_every
        if due is not None and self._unsealed >= due:
            try:
                self._chain.seal()
                self._unsealed = 0
            except StoreError as exc:
                log.warning("Sealing %s failed; retried later: %s", self.location, exc)

    def _guard(self, conn: Connection) -> None:  # first in a write: see sql_chain.py
        if self.dialect.write_guard:
            conn.execute(self.dialect.write_guard)

    @property
    def costs(self) -> Any:
        """The ``costs`` table of this database."""
        return self._costs

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every record this store object commits, in order."""
        return self._journal.listen(listener)

    # -- the append path ---------------------------------------------------------------------

    def _append(
        self,
        conn: Connection,
        written: list[Record] | None,
        statement: str,
        params: Sequence[Any],
        record: Callable[[int], Record] | None,
    ) -> int | None:
        """Insert one record with the next sequence number (``statement`` takes it from
        ``dialect.next_seq`` and returns it); ``None`` if the statement inserted nothing.
        ``record`` makes the record for the listeners (``None`` when nobody listens)."""
        row = conn.execute(statement, params).fetchone()
        if row is None:
            return None
        seq = int(row[0])
        if written is not None and record is not None:
            written.append(record(seq))
        return seq

    def _append_many(
        self,
        conn: Connection,
        written: list[Record] | None,
        table: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        records: Sequence[Callable[[int], Record]],
    ) -> list[int]:
        """Insert many records (the rows without their first column, ``seq``) with the next
        numbers of the sequence, in their order."""
        if not rows:
            return []
        seqs = self.dialect.reserve(conn, len(rows))
        self.dialect.insert_rows(
            conn, table, columns, [(seq, *row) for seq, row in zip(seqs, rows, strict=True)]
        )
        if written is not None:
            written.extend(make(seq) for make, seq in zip(records, seqs, strict=True))
        return seqs  # ``records`` is empty when nobody listens

    # -- writes ------------------------------------------------------------------------------

    def create(self, session: Session) -> list[int]:
        d = self.dialect
        with self._journal.transaction() as written, d.transaction() as conn:
            self._guard(conn)
            row = self._session_row(session)
            found = conn.execute(self.sql.insert_session, row).fetchone()
            if found is None:
                raise duplicate_session(session.session_id, self.location)
            ref = int(found[0])
            seqs = []
            for position, event in enumerate(session.events):
                kind: RecordKind = "start" if position == 0 else "event"
                # The start event's time is the session's: its text is in the row already.
                at = row[4] if event.timestamp is session.start_time else None
                seq = self._append(
                    conn, written, self.sql.insert_event, self._event_row(ref, event, at),
                    record_maker(session, event, kind) if written is not None else None,
                )  # fmt: skip
                assert seq is not None
                seqs.append(seq)
        self._wrote(len(seqs))
        return seqs

    def append_event(self, session_id: str, event: Event) -> int:
        d = self.dialect
        params = (d.time(event.timestamp), event.type, event.description,
                  to_json(event.data), session_id)  # fmt: skip
        with self._journal.transaction() as written, d.statement() as conn:
            seq = self._append(
                conn, written, self.sql.append_event, params,
                record_maker(session_id, event, "event") if written is not None else None,
            )  # fmt: skip
        if seq is not None:
            self._wrote(1)
            return seq
        status = d.read(lambda conn: conn.execute(self.sql.status, (session_id,)).fetchone())
        if status is None:
            raise SessionNotFound(session_id, self.location)
        raise InvalidTransition(session_id, status[0], "add an event to")

    def finish(
        self, session_id: str, status: Status, end_time: datetime, events: Sequence[Event]
    ) -> Finished:
        d, events = self.dialect, events or [completion_event(status, end_time)]  # chained
        with self._journal.transaction() as written, d.transaction() as conn:
            self._guard(conn)
            row = conn.execute(self.sql.lock_session, (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(session_id, self.location)
            ref, current, start = row
            if current != _ACTIVE:
                raise InvalidTransition(session_id, current, "complete")
            started = d.read_time(start)
            end_time = max(end_time, started)  # a clock that stepped back: never end before start
            duration = duration_between(started, end_time)
            text = _TEXT[status]
            seqs = []
            for position, event in enumerate(events):
                make = (
                    None if written is None
                    else record_maker(session_id, event, "event") if position < len(events) - 1
                    else record_maker(session_id, event, "complete", status=text,
                                      end_time=end_time, duration_seconds=duration)
                )  # fmt: skip
                seq = self._append(
                    conn, written, self.sql.insert_event, self._event_row(ref, event), make
                )
                assert seq is not None
                seqs.append(seq)
            conn.execute(self.sql.finish, (text, d.time(end_time), duration, ref))
        self._wrote(len(seqs))
        return Finished(end_time, duration, seqs)

    def import_sessions(self, sessions: Iterable[Session]) -> ImportResult:
        return import_sessions(self, sessions)

    def prune(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        """Sealed first: the chain keeps each pruned record's leaf, marked ``pruned``."""
        d = self.dialect
        with d.transaction() as conn:
            d.temporary(
                conn, "pruned",
                self.sql.q("SELECT id, session_id FROM sessions WHERE start_time < ? "
                        "AND status <> 'active'"),
                (d.time(before),),
            )  # fmt: skip
            sessions, events, costs = conn.execute(
                "SELECT (SELECT count(*) FROM pruned), "
                "(SELECT count(*) FROM events WHERE session IN (SELECT id FROM pruned)), "
                "(SELECT count(*) FROM costs WHERE session_id IN (SELECT session_id FROM pruned))"
            ).fetchone()
            if not dry_run:
                self._chain.prune_in(conn, before, (sessions, events, costs))
                for statement in (
                    "DELETE FROM events WHERE session IN (SELECT id FROM pruned)",
                    "DELETE FROM costs WHERE session_id IN (SELECT session_id FROM pruned)",
                    "DELETE FROM cost_sessions WHERE session_id IN (SELECT session_id FROM pruned)",
                    "DELETE FROM sessions WHERE id IN (SELECT id FROM pruned)",
                ):
                    conn.execute(statement)
        return PruneResult(int(sessions), int(events), int(costs), dry_run)

    def _session_row(self, session: Session) -> tuple[Any, ...]:
        time, process = self.dialect.time, session.process
        return (
            session.session_id, session.user, session.operation_type, to_json(session.metadata),
            time(session.start_time), time(session.end_time) if session.end_time else None,
            _TEXT[session.status], session.duration_seconds, session.host, session.pid,
            identity_json(process) if process is not None else None,
        )  # fmt: skip

    def _event_row(self, ref: int, event: Event, at: Any = None) -> tuple[Any, ...]:
        """An event's row; ``at``: its time as a parameter, if already made."""
        return (ref, self.dialect.time(event.timestamp) if at is None else at, event.type,
                event.description, to_json(event.data))  # fmt: skip

    # -- reads -------------------------------------------------------------------------------

    def get(self, session_id: str) -> dict[str, Any] | None:
        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(self.sql.get, (session_id,)).fetchone()
            if row is None:
                return None
            events = conn.execute(self.sql.timeline, (row[0],)).fetchall()
            damaged: list[Damage] = []
            bad_events: dict[int, tuple[str, str]] = {}
            found = session_dicts([row], damaged)
            found = attach_events(found, timelines(events, bad_events), bad_events, damaged)
            if damaged:
                raise damaged[0].error(self.location)
            return found[0][1]

        return self.dialect.read(work)

    def history(self, query: SessionQuery) -> list[dict[str, Any]]:
        d = self.dialect
        where, params = self.sql.where(query)
        statement = self.sql.history(where)

        def work(conn: Connection) -> tuple[list[dict[str, Any]], list[Damage]]:
            damaged: list[Damage] = []
            rows = conn.execute(statement, (*params, d.limit(query.limit)))
            found = session_dicts(rows.fetchall(), damaged)  # the rows freed once read
            if query.with_events and found:
                # By the ids found, not the query again: sessions started meanwhile stay out.
                ids = d.array([ref for ref, _ in found])
                events = conn.execute(self.sql.timelines, (ids,))
                bad_events: dict[int, tuple[str, str]] = {}
                found = attach_events(found, read_timelines(events, bad_events), bad_events,
                                      damaged)  # fmt: skip
            return [session for _, session in found], damaged

        with no_gc():  # rows and dicts by the thousand, none of them in a cycle
            sessions, damaged = d.read(work)
        if damaged:  # (an empty loop would allocate its iterator, and start a collection)
            warn_damaged(damaged, self.location)
        return sessions

    def statistics(self, since: datetime | None) -> dict[str, Any]:
        where, params = self.sql.where(SessionQuery(since=since))
        statement = self.sql.statistics(where)
        groups = self.dialect.read(lambda conn: conn.execute(statement, params).fetchall())
        return statistics_from_groups(groups)

    def scan(
        self, since: datetime | None = None, batch: int = SCAN_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        check_batch(batch)
        start = "AND start_time >= ?" if since is not None else ""
        params = [self.dialect.time(since)] if since is not None else []
        statement = self.sql.q(
            f"SELECT {self.sql.session_columns} FROM sessions WHERE id > ? {start} "
            "ORDER BY id LIMIT ?"
        )

        def work(
            conn: Connection, *, after: int
        ) -> tuple[int | None, list[tuple[int, dict[str, Any]]], list[Damage]]:
            rows = conn.execute(statement, (after, *params, batch)).fetchall()
            if not rows:
                return None, [], []
            damaged: list[Damage] = []
            first, last = rows[0][0], rows[-1][0]
            found = session_dicts(rows, damaged)  # (which may empty ``rows``)
            # A range on the index rather than a list: no limit on parameters.
            events = conn.execute(self.sql.scan_events, (first, last))
            bad_events: dict[int, tuple[str, str]] = {}
            found = attach_events(found, read_timelines(events, bad_events), bad_events, damaged)
            if isinstance(last, bool) or not isinstance(last, int):  # only a damaged schema
                raise CorruptStoreError(
                    f"The session store {self.location!r} is corrupt: its row ids are not "
                    "numbers. It was left untouched; restore it from a backup.",
                    self.location,
                )
            return last, found, damaged

        after = 0
        while True:
            # A connection per batch, none held while the caller works on one.
            last, found, damaged = self.dialect.read(functools.partial(work, after=after))
            warn_damaged(damaged, self.location)
            if last is None:
                return
            after = last
            if found:
                yield [session for _, session in found]

    def counts(self) -> StoreCounts:
        row = self.dialect.read(
            lambda conn: conn.execute(
                "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM events), "
                "(SELECT count(*) FROM costs)"
            ).fetchone()
        )
        return StoreCounts(*map(int, row))
