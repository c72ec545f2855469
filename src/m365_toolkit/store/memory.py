"""The in-memory store: the reference implementation of the Store protocol.

Nothing outlives the object; use it in tests and examples. Sessions are kept in the guide's
storage format, cost records as :class:`~m365_toolkit.costs.model.CostRecord`. The JSON
store is this logic with its state loaded from and saved to files (see :mod:`.jsonfile`).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._util.closing import Closing
from .._util.system import format_time, parse_time
from ..costs.model import CostRecord
from ..errors import InvalidTransition, SessionNotFound, StoreError
from ..sessions.model import Event, Session, Status, completion_event, duration_between
from ..sessions.query import SessionQuery, statistics_from_groups
from . import SCAN_BATCH, Finished, ImportResult, PruneResult, StoreCounts
from ._journal import Journal, Listener, Record, RecordKind
from ._rules import check_batch, duplicate_session

if TYPE_CHECKING:
    from ._notes import NoteMaker
    from .chain import SealResult, Sink, Verification
    from .memory_chain import ChainState
    from .memory_costs import MemoryCostLog

Entry = dict[str, Any]
log = logging.getLogger("m365_toolkit.store")


class MemoryState:
    """What a memory store holds, as plain data.

    Attributes:
        sessions: Session records in the guide's format, each event with its ``seq``.
        costs: ``(seq, record)`` pairs, oldest first (``seq`` is ``None`` for a record
            read from a cost log of the original toolkit).
        last_seq: The highest sequence number ever given, deleted records included.
    """

    def __init__(
        self,
        sessions: list[Entry] | None = None,
        costs: list[tuple[int | None, CostRecord]] | None = None,
        last_seq: int = 0,
    ) -> None:
        self.sessions = sessions if sessions is not None else []
        self.costs = costs if costs is not None else []
        self.index = {record["session_id"]: record for record in self.sessions}
        self.raw_entries: list[Entry] = []  # the cost log's entries as read, for the JSON store
        # Records of a JSON store that damage made unreadable: left out of every read, and
        # written back as they were, so that no write loses them.
        self.damaged: list[Any] = []
        self.damaged_entries: list[Any] = []
        self.last_seq = max(
            last_seq,
            max(
                (e.get("seq") or 0 for r in self.sessions for e in r.get("events") or ()), default=0
            ),
            max((seq or 0 for seq, _ in self.costs), default=0),
        )

    def next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq


class MemoryStore(Closing):
    """Sessions, events and costs in this process's memory, safe across threads."""

    seal_every: int | None = 256
    """Seal after this many records written by this object; ``None``: only when asked."""

    def __init__(self, location: str = "memory:") -> None:
        self.location = location
        self._journal = Journal()
        self._lock = threading.RLock()
        self._state = MemoryState()
        from .memory_chain import ChainState
        from .memory_costs import MemoryCostLog  # the cost log works on this store's state

        self._costs = MemoryCostLog(self)
        self._chain_state = ChainState.new()
        self._unsealed = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    @property
    def costs(self) -> MemoryCostLog:
        """The cost records kept with these sessions."""
        return self._costs

    def files(self) -> list[Path]:
        """None: everything is in memory."""
        return []

    def close(self) -> None:
        """Seal what this object wrote (the JSON store keeps its chain in a file)."""
        if self._unsealed:
            self.seal()

    # -- the chain (memory_chain.py) ---------------------------------------------------------

    @contextmanager
    def _chain_writing(self) -> Iterator[ChainState]:
        """The chain to change; only inside :meth:`_writing`, whose lock covers it."""
        yield self._chain_state

    def seal(self, note: NoteMaker | None = None) -> SealResult:
        """Add every record not chained yet to the chain, in sequence order (then ``note``)."""
        from . import memory_chain

        self._unsealed = 0
        with self._writing(sessions=False) as state, self._chain_writing() as chain:
            return memory_chain.seal(state, chain, note)

    def verify(self, *, links_at: Collection[int] = (), sink: Sink | None = None) -> Verification:
        """Seal, then check the whole chain and the columns derived from it."""
        from . import memory_chain

        self._unsealed = 0
        with self._writing(sessions=False) as state, self._chain_writing() as chain:
            memory_chain.seal(state, chain, auto=False)
            return memory_chain.verify(state, chain, links_at, sink)

    def _wrote(self, count: int) -> None:
        """After a write: seal once this object has written ``seal_every`` records. The
        write is stored: a failed seal is logged, never raised, and tried again later."""
        self._unsealed += count
        if self.seal_every is not None and self._unsealed >= self.seal_every:
            try:
                self.seal()
            except StoreError as exc:
                self._unsealed = count
                log.warning("Sealing %s failed; retried later: %s", self.location, exc)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every record this store object commits, in order."""
        return self._journal.listen(listener)

    # -- state: the JSON store loads and saves it around these ------------------------------

    @contextmanager
    def _reading(self, *, sessions: bool = True, costs: bool = False) -> Iterator[MemoryState]:
        """The state to read; ``sessions`` and ``costs`` say which parts the reader needs."""
        with self._lock:
            yield self._state

    @contextmanager
    def _writing(self, *, sessions: bool = True, costs: bool = False) -> Iterator[MemoryState]:
        """The state to change; ``sessions`` and ``costs`` say which parts the change needs."""
        with self._lock:
            yield self._state

    # -- the append path ---------------------------------------------------------------------

    def _append(
        self, state: MemoryState, written: list[Record] | None, record: Entry | CostRecord,
        kind: RecordKind, session: Entry | None = None,
    ) -> int:  # fmt: skip
        """Number one record with the next sequence number and keep it: an event (dict) onto
        ``session``'s timeline, or a cost record."""
        seq = state.next_seq()
        if isinstance(record, CostRecord):
            state.costs.append((seq, record))
            if written is not None:
                written.append(
                    Record(seq, "cost", record.session_id, record.timestamp, cost=record)
                )
            return seq
        assert session is not None
        record["seq"] = seq
        session.setdefault("events", []).append(record)
        if written is not None:
            fields: dict[str, Any] | None = None
            if kind == "start":
                fields = {k: v for k, v in session.items() if k != "events"}
            elif kind == "complete":
                fields = {
                    "status": session["status"],
                    "end_time": parse_time(session["end_time"]),
                    "duration_seconds": session["duration_seconds"],
                }
            event = Event.from_dict(record)
            written.append(Record(seq, kind, session["session_id"], event.timestamp, event, fields))
        return seq

    # -- writes ------------------------------------------------------------------------------

    def create(self, session: Session) -> list[int]:
        with self._journal.transaction() as written, self._writing() as state:
            if session.session_id in state.index:
                raise duplicate_session(session.session_id, self.location)
            record = _stored(session)
            state.sessions.append(record)
            state.index[session.session_id] = record
            seqs = [
                self._append(
                    state, written, event.to_dict(), "start" if i == 0 else "event", record
                )
                for i, event in enumerate(session.events)
            ]
        self._wrote(len(seqs))
        return seqs

    def append_event(self, session_id: str, event: Event) -> int:
        with self._journal.transaction() as written, self._writing() as state:
            record = self._active(state, session_id, "add an event to")
            seq = self._append(state, written, event.to_dict(), "event", record)
        self._wrote(1)
        return seq

    def finish(
        self, session_id: str, status: Status, end_time: datetime, events: Sequence[Event]
    ) -> Finished:
        events = events or [completion_event(status, end_time)]  # its outcome is chained
        with self._journal.transaction() as written, self._writing() as state:
            record = self._active(state, session_id, "complete")
            started = parse_time(record["start_time"])
            end_time = max(end_time, started)  # a clock that stepped back: never end before start
            duration = duration_between(started, end_time)
            record.update(
                status=status.value, end_time=format_time(end_time), duration_seconds=duration
            )
            seqs = [
                self._append(
                    state,
                    written,
                    event.to_dict(),
                    "complete" if i == len(events) - 1 else "event",
                    record,
                )  # fmt: skip
                for i, event in enumerate(events)
            ]
        self._wrote(len(seqs))
        return Finished(end_time, duration, seqs)

    def _active(self, state: MemoryState, session_id: str, action: str) -> Entry:
        record = state.index.get(session_id)
        if record is None:
            raise SessionNotFound(session_id, self.location)
        if record.get("status", "active") != Status.ACTIVE.value:
            raise InvalidTransition(session_id, record["status"], action)
        return record

    def import_sessions(self, sessions: Iterable[Session]) -> ImportResult:
        imported = skipped = added = 0
        pending = list(sessions)  # all read before any is stored: a bad one stores nothing
        with self._journal.transaction() as written, self._writing() as state:
            for session in pending:
                if session.session_id in state.index:
                    skipped += 1
                    continue
                record = _stored(session)
                state.sessions.append(record)
                state.index[session.session_id] = record
                last = len(session.events) - 1
                for position, event in enumerate(session.events):
                    kind: RecordKind = (
                        "start" if position == 0
                        else "complete" if position == last and not session.is_active
                        else "event"
                    )  # fmt: skip
                    self._append(state, written, event.to_dict(), kind, record)
                    added += 1
                imported += 1
        self._wrote(added)
        return ImportResult(imported, skipped)

    def prune(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        """Sealed first: the chain keeps each pruned record's leaf, marked ``pruned``."""
        from . import memory_chain

        with self._writing(costs=True) as state:
            doomed = [record for record in state.sessions if _prunable(record, before)]
            ids = {record["session_id"] for record in doomed}
            costs = sum(1 for _, cost in state.costs if cost.session_id in ids)
            if not dry_run and doomed:
                gone = {e["seq"] for r in doomed for e in r.get("events") or () if "seq" in e}
                gone |= {seq for seq, cost in state.costs if cost.session_id in ids and seq}
                with self._chain_writing() as chain:
                    counts = (len(doomed), _event_count(doomed), costs)
                    memory_chain.prune(state, chain, gone, before, counts)
                state.sessions[:] = [r for r in state.sessions if r["session_id"] not in ids]
                for session_id in ids:
                    del state.index[session_id]
                state.costs[:] = [pair for pair in state.costs if pair[1].session_id not in ids]
        return PruneResult(len(doomed), _event_count(doomed), costs, dry_run)

    # -- reads -------------------------------------------------------------------------------

    def get(self, session_id: str) -> dict[str, Any] | None:
        with self._reading() as state:
            record = state.index.get(session_id)
            return _copy(record) if record is not None else None

    def history(self, query: SessionQuery) -> list[dict[str, Any]]:
        with self._reading() as state:
            matches = [
                (start, record)
                for record in state.sessions
                if (start := _start(record)) is not None and _matches(record, start, query)
            ]
            matches.sort(key=lambda pair: pair[0], reverse=True)
            found = [_copy(record, query.with_events) for _, record in matches[: query.limit]]
        return found

    def statistics(self, since: datetime | None) -> dict[str, Any]:
        groups: dict[tuple[str, str, str], list[Any]] = {}
        query = SessionQuery(since=since, with_events=False)
        with self._reading() as state:
            for record in state.sessions:
                start = _start(record)
                if start is None or not _matches(record, start, query):
                    continue
                key = (
                    str(record.get("operation_type") or "general"),
                    str(record.get("user") or "unknown"),
                    str(record.get("status") or "active"),
                )
                group = groups.setdefault(key, [0, 0.0, 0])
                group[0] += 1
                duration = record.get("duration_seconds")
                if duration is not None:
                    group[1] += float(duration)
                    group[2] += 1
        return statistics_from_groups([(*key, *group) for key, group in groups.items()])

    def scan(
        self, since: datetime | None = None, batch: int = SCAN_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        """The sessions are read once, then handed out in batches."""
        check_batch(batch)
        query = SessionQuery(since=since)
        with self._reading() as state:
            records = [
                _copy(record)
                for record in state.sessions
                if since is None
                or ((start := _start(record)) is not None and _matches(record, start, query))
            ]
        for first in range(0, len(records), batch):
            yield records[first : first + batch]

    def counts(self) -> StoreCounts:
        with self._reading(costs=True) as state:
            return StoreCounts(len(state.sessions), _event_count(state.sessions), len(state.costs))


def _stored(session: Session) -> Entry:
    record = session.to_dict()
    record.pop("cost", None)
    record["events"] = []
    return record


def _copy(record: Entry, with_events: bool = True) -> dict[str, Any]:
    if not with_events:
        record = {key: value for key, value in record.items() if key != "events"}
        return copy.deepcopy(record)
    found = copy.deepcopy(record)
    found.setdefault("events", [])
    return found


def _prunable(record: Entry, before: datetime) -> bool:
    if record.get("status", "active") == Status.ACTIVE.value:
        return False
    start = _start(record)
    return start is not None and start < before


def _event_count(records: Iterable[Entry]) -> int:
    return sum(len(record.get("events") or ()) for record in records)


def _start(record: Entry) -> datetime | None:
    try:
        return parse_time(record["start_time"])
    except (KeyError, ValueError):
        return None


def _matches(record: Entry, start: datetime, query: SessionQuery) -> bool:
    return (
        (query.operation_type is None or record.get("operation_type") == query.operation_type)
        and (query.user is None or record.get("user") == query.user)
        and (query.status is None or record.get("status", "active") == query.status)
        and (query.since is None or start >= query.since)
        and (query.until is None or start < query.until)
    )
