"""The storage protocol and :func:`open_store`, which picks a backend from a location.

A store keeps sessions in the guide's storage format. Every write is committed before it
returns, and every stored record (session start, event, completion, cost record) gets the
next number of one store-wide sequence through the store's one append path, which hands
each committed record to the store's listeners (see :mod:`._journal`).

Backends: ``sql.SQLStore`` over a dialect (``sqlite.py``, the default, and ``postgres.py``),
``memory.MemoryStore`` (the reference implementation) and ``jsonfile.JsonStore`` (the memory
store loaded from and saved to the guide's JSON file).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from ..costs.model import CostGroup, CostRecord, CostTotals
from ..sessions.model import Event, Session, Status
from ..sessions.query import SessionQuery

if TYPE_CHECKING:
    from ._journal import Record
    from ._notes import NoteMaker
    from .chain import SealResult, Sink, Verification


@dataclass(frozen=True, slots=True)
class Finished:
    """What the store recorded when it completed a session."""

    end_time: datetime
    duration_seconds: float
    seqs: list[int]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """How many sessions an import added, and how many it skipped as already stored."""

    imported: int
    skipped: int


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What :meth:`Store.prune` removed, or with ``dry_run`` would remove."""

    sessions: int
    events: int
    costs: int
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """How many sessions, events and cost records a store holds."""

    sessions: int
    events: int
    costs: int


SCAN_BATCH = 500


class CostLog(Protocol):
    """Where priced LLM requests are kept, linked to sessions by id."""

    location: str

    def add(self, record: CostRecord) -> CostTotals:
        """Store a record; return its session's totals afterwards (zeros without a session)."""
        ...

    def total(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        user: str | None = None,
        session_id: str | None = None,
    ) -> Decimal:
        """The cost of the records that match every filter given."""
        ...

    def report(
        self, group_by: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[CostGroup]:
        """Totals per model, type, operation, user or day, most expensive first."""
        ...

    def summary(
        self, group_bys: Sequence[str], since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, list[CostGroup]]:
        """``{group_by: report(group_by, since, until)}`` for each grouping, from one pass
        over the records (the dashboard's four breakdowns)."""
        ...

    def by_session(self, session_ids: Sequence[str]) -> dict[str, CostTotals]:
        """Totals of each of these sessions that has costs."""
        ...

    def entries(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every record, oldest first, in the cost log's entry format."""
        ...

    def import_records(self, records: Iterable[CostRecord]) -> ImportResult:
        """Add records whose natural key (:attr:`CostRecord.natural_key`) the log does not
        hold yet, keeping the per-session totals; importing the same records twice adds
        nothing the second time."""
        ...

    def files(self) -> list[Path]:
        """The files the records are kept in (see :meth:`Store.files`)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """What a storage backend provides. Reads return the guide's session dicts."""

    location: str

    @property
    def costs(self) -> CostLog:
        """The cost records that belong with these sessions."""
        ...

    def create(self, session: Session) -> list[int]:
        """Store a new session with its events; return the events' sequence numbers."""
        ...

    def append_event(self, session_id: str, event: Event) -> int:
        """Add an event to an active session; return its sequence number."""
        ...

    def finish(
        self, session_id: str, status: Status, end_time: datetime, events: Sequence[Event]
    ) -> Finished:
        """Record ``events`` and complete an active session, all at once."""
        ...

    def get(self, session_id: str) -> dict[str, Any] | None:
        """One session with its events, or ``None``."""
        ...

    def history(self, query: SessionQuery) -> list[dict[str, Any]]:
        """Sessions matching ``query``, newest first."""
        ...

    def statistics(self, since: datetime | None) -> dict[str, Any]:
        """Counts and the average duration of sessions started since ``since``."""
        ...

    def import_sessions(self, sessions: Iterable[Session]) -> ImportResult:
        """Add sessions whose ids the store does not hold yet."""
        ...

    def scan(
        self, since: datetime | None = None, batch: int = SCAN_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        """Every session (started at or after ``since``) with its events, in lists of at most
        ``batch``, in the order they were stored.

        SQL stores read one batch per query (keyset pagination on the session row id), so a
        caller that handles one list at a time holds one batch in memory, whatever the size of
        the store. Sessions written while a scan runs may or may not be seen.
        """
        ...

    def prune(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        """Delete the finished sessions started before ``before``, with their events, their
        cost records and their cost totals; never an active session. Sequence numbers of
        deleted records are never given out again. ``dry_run`` only counts."""
        ...

    def counts(self) -> StoreCounts:
        """How many sessions, events and cost records the store holds."""
        ...

    def listen(self, listener: Callable[[Record], None]) -> Callable[[], None]:
        """Call ``listener`` with every record this store object commits from now on, in
        sequence order, once each; return a function that removes it. A listener that raises
        is logged; the record stays stored."""
        ...

    def seal(self, note: NoteMaker | None = None) -> SealResult:
        """Add every stored record not chained yet to the store's tamper-evident chain, in
        sequence order, in one transaction (see :mod:`.chain`), then the ``note`` if one is
        given (a checkpoint, a migration anchor: see :mod:`._notes`). Stores seal on their
        own every few hundred records they write, and before verify, prune and close."""
        ...

    def verify(self, *, links_at: Collection[int] = (), sink: Sink | None = None) -> Verification:
        """Seal, then walk the whole chain beside the records it names, and check the
        mutable columns (status, end time, duration, cost totals) against it; report the
        links at the positions ``links_at`` (to hold against checkpoints); hand each chain
        row with its rebuilt record to ``sink`` (an export)."""
        ...

    def files(self) -> list[Path]:
        """The files this store keeps its records in, and the ones beside them that it keeps
        (journal, lock and sequence files): none for a server or memory store. Outputs
        (exports, reports) must never be written over them."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


from ._location import StoreLocation, _safe, default_location, open_store  # noqa: E402

__all__ = [
    "SCAN_BATCH",
    "CostLog",
    "Finished",
    "ImportResult",
    "PruneResult",
    "Store",
    "StoreCounts",
    "StoreLocation",
    "_safe",
    "default_location",
    "open_store",
]
