"""The append path's bookkeeping: the records a store writes, and after-commit listeners.

Every stored record — a session's start, each event, its completion, each cost record —
is written by its store's one append method, which gives it the next number of the
store-wide sequence. Once the transaction that wrote records has committed, the store
hands them to its :class:`Journal`, which delivers them to each listener:

- every committed record exactly once, in sequence order, in the process that wrote it
  (records of other processes are theirs to deliver);
- a listener that raises is logged and never loses, rolls back or blocks a record: the
  records are stored before any listener sees them, and no writer ever waits for another
  writer's delivery.

Concurrent writers of one process may commit out of sequence order (PostgreSQL hands out
numbers before the commit). A committed batch therefore waits until every transaction that
was still open when it committed has ended, since one of those may hold a lower number;
whichever writer ends last delivers.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..costs.model import CostRecord
from ..sessions.model import Event, Session, with_seq

log = logging.getLogger("m365_toolkit.store")

RecordKind = Literal["start", "event", "complete", "cost"]


@dataclass(frozen=True, slots=True, init=False)
class Record:
    """One stored record, as listeners see it after its commit.

    Attributes:
        seq: Its number in the store-wide sequence.
        kind: ``start`` (a session's first event), ``event``, ``complete`` (a session's last
            event) or ``cost``.
        session_id: The session it belongs to (``None`` for a cost of no session).
        timestamp: When it happened.
        event: The event, for every kind but ``cost``.
        session: For ``start``, the session as stored (the guide's format, without events);
            for ``complete``, its ``status``, ``end_time`` (a datetime) and
            ``duration_seconds``.
        cost: The cost record, for ``cost``.
    """

    seq: int
    kind: RecordKind
    session_id: str | None
    timestamp: datetime
    event: Event | None = None
    session: Mapping[str, Any] | None = None
    cost: CostRecord | None = None

    def __init__(
        self,
        seq: int,
        kind: RecordKind,
        session_id: str | None,
        timestamp: datetime,
        event: Event | None = None,
        session: Mapping[str, Any] | None = None,
        cost: CostRecord | None = None,
    ) -> None:
        # Set through the slots, as Event does: a frozen dataclass's own __init__ costs
        # twice as much, once per record a listener hears.
        _set_seq(self, seq)
        _set_kind(self, kind)
        _set_session_id(self, session_id)
        _set_timestamp(self, timestamp)
        _set_event(self, event)
        _set_session(self, session)
        _set_cost(self, cost)


_set_seq, _set_kind, _set_session_id, _set_timestamp, _set_event, _set_session, _set_cost = (
    Record.__dict__[name].__set__
    for name in ("seq", "kind", "session_id", "timestamp", "event", "session", "cost")
)

Listener = Callable[[Record], None]


@dataclass(order=True)
class _Batch:
    first: int
    records: list[Record] = field(compare=False)
    waits_for: frozenset[int] = field(compare=False)


class _Unheard:
    """The transaction of a journal nobody listens to."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_UNHEARD = _Unheard()


class _Heard:
    """One transaction whose records go to the listeners once it has committed."""

    __slots__ = ("_journal", "_records", "_token")

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._records: list[Record] = []
        with journal._state:
            self._token = token = next(journal._tokens)
            journal._open.add(token)

    def __enter__(self) -> list[Record]:
        return self._records

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._journal._end(self._token, self._records if exc_type is None else [])


class Journal:
    """After-commit listeners of one store; see the module docstring."""

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._state = threading.Lock()
        self._delivering = threading.Lock()
        self._tokens = itertools.count()
        self._open: set[int] = set()
        self._ready: list[_Batch] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every record this store commits from now on.

        Returns:
            A function that removes the listener again.
        """
        with self._state:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._state:
                self._listeners = tuple(item for item in self._listeners if item is not listener)

        return remove

    def transaction(self) -> AbstractContextManager[list[Record] | None]:
        """Around one write transaction: the block adds the records it wrote to the list it
        gets, or gets ``None`` when nobody listens (then it builds no records at all).

        Leave the block only after the commit; if it raises, the records are dropped.
        """
        if not self._listeners:  # the common case: one attribute read, nothing to build
            return _UNHEARD
        return _Heard(self)

    def _end(self, token: int, records: list[Record]) -> None:
        with self._state:
            self._open.discard(token)
            if not records:
                if not self._ready:  # nothing waited for this transaction to end
                    return
                alone = False
            elif not self._open and not self._ready and self._delivering.acquire(blocking=False):
                # The common case, one writer: nothing open may hold a lower number and
                # nothing waits, so these records go out now, with no batch to queue.
                alone = True
            else:
                alone = False
                records.sort(key=_seq)
                heapq.heappush(self._ready, _Batch(records[0].seq, records, frozenset(self._open)))
        if alone:
            try:
                if len(records) > 1:
                    records.sort(key=_seq)
                for record in records:
                    self._deliver(record)
            finally:
                self._delivering.release()
            if not self._ready:  # a batch queued meanwhile found us delivering: ours to send
                return
        self._drain()

    def _next(self) -> _Batch | None:
        """The lowest ready batch, if nothing still open may come before it."""
        with self._state:
            if self._ready and not self._ready[0].waits_for & self._open:
                return heapq.heappop(self._ready)
            return None

    def _drain(self) -> None:
        while self._delivering.acquire(blocking=False):
            try:
                while (batch := self._next()) is not None:
                    for record in batch.records:
                        self._deliver(record)
            finally:
                self._delivering.release()
            with self._state:  # a batch added while we were releasing is ours to deliver
                if not self._ready or self._ready[0].waits_for & self._open:
                    return

    def _deliver(self, record: Record) -> None:
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                log.exception(
                    "A store listener failed on record %s; the record is stored.", record.seq
                )


def _seq(record: Record) -> int:
    return record.seq


def record_maker(
    session: Session | str, event: Event, kind: RecordKind, **extra: Any
) -> Callable[[int], Record]:
    """What makes the record of an event once its number is known (made only when a
    listener will hear it, so a write nobody listens to builds nothing)."""
    if isinstance(session, str):
        session_id, fields = session, extra or None
    else:
        session_id = session.session_id
        fields = session.to_dict(events=False) if kind == "start" else extra or None
    timestamp = event.timestamp
    return lambda seq: Record(seq, kind, session_id, timestamp, with_seq(event, seq), fields)
