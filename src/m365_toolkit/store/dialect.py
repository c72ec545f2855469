"""What differs between the SQL databases a store runs on; everything else is in ``sql.py``.

A dialect owns the connections and transactions and maps driver errors to the toolkit's.
Statements are written once, with ``?`` placeholders, in :mod:`.sql`; a dialect supplies the
few pieces of SQL that differ (the next sequence number, how a time reads back as text, a
list parameter, row locks) and the bulk paths.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Connection(Protocol):
    """The part of a DB-API connection the store uses."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


class Dialect(ABC):
    """One database's connections, transactions, SQL variants and bulk paths.

    Attributes:
        name: ``sqlite`` or ``postgresql``: the folder of its schema files.
        location: The store's location for messages (never a password).
        placeholder: The driver's parameter marker.
        next_seq: An SQL expression that yields the next number of the store-wide sequence
            in an ``INSERT``.
        share_lock: Added to a ``SELECT`` whose rows must stay as read until the statement's
            transaction ends (e.g. " FOR SHARE"); empty where writers are serialised anyway.
        update_lock: The same for rows the transaction will update (e.g. " FOR UPDATE").
        bytewise: Added after a text expression so that it sorts by bytes.
        high_water: A query of the highest number the store-wide sequence has given.
        seal_lock: Run first in the sealing transaction, to wait out every writer that holds
            a number it has not committed yet (empty where writers are serialised anyway).
        write_guard: Run first in each write transaction, before it takes a number: the
            shared side of ``seal_lock``.
        guard_condition: ``write_guard`` as a condition, for a one-statement write.
    """

    name: str
    location: str
    placeholder = "?"
    next_seq: str
    share_lock = ""
    update_lock = ""
    bytewise = ""
    high_water: str
    seal_lock = ""
    write_guard = ""
    guard_condition = ""

    # -- SQL that differs --------------------------------------------------------------------

    def iso(self, column: str) -> str:
        """A time column as the stores' text, ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``."""
        return column

    @abstractmethod
    def day(self, column: str) -> str:
        """A time column as its UTC day, ``YYYY-MM-DD``."""

    @abstractmethod
    def any_of(self, column: str) -> str:
        """``column`` equals one of the values of one :meth:`array` parameter."""

    @abstractmethod
    def array(self, values: Sequence[Any]) -> Any:
        """A list of values as the one parameter of :meth:`any_of`."""

    @abstractmethod
    def time(self, moment: datetime) -> Any:
        """A time as a statement parameter."""

    @abstractmethod
    def read_time(self, value: Any) -> datetime:
        """A time column's value as an aware datetime."""

    def limit(self, limit: int | None) -> Any:
        """A ``LIMIT`` parameter; ``None`` means no limit."""
        return limit

    # -- connections and transactions --------------------------------------------------------

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction that takes its locks up front, committed when the block ends,
        rolled back if it raises; driver errors mapped."""

    @abstractmethod
    def statement(self) -> AbstractContextManager[Connection]:
        """A connection for one write statement committed on its own; driver errors mapped."""

    @abstractmethod
    def read(self, work: Callable[[Connection], T], *, sorting: bool = False) -> T:
        """Run ``work`` on a connection for reading; ``sorting`` for a large GROUP BY."""

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """The rows of a query, fetched a few thousand at a time."""

    def files(self) -> list[Path]:
        """The database's files, its companions included (none for a server)."""
        return []

    @abstractmethod
    def close(self) -> None:
        """Release every connection."""

    # -- the bulk paths ----------------------------------------------------------------------

    @abstractmethod
    def reserve(self, conn: Connection, count: int) -> list[int]:
        """The next ``count`` numbers of the store-wide sequence, ascending."""

    @abstractmethod
    def insert_rows(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert many rows at once, in their order."""

    @abstractmethod
    def insert_new_sessions(
        self, conn: Connection, statement: str, rows: list[tuple[Any, ...]]
    ) -> dict[str, int]:
        """Insert, in their order, the session rows whose ids are not stored yet with
        ``statement`` (one row's ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``); return
        the row id of each inserted, by session id."""

    def stored_costs(
        self, conn: Connection, keys: list[tuple[Any, ...]], find: Callable[[tuple[Any, ...]], bool]
    ) -> set[tuple[Any, ...]]:
        """Which of these cost natural keys are stored; ``find`` looks one up (a dialect may
        look all up at once instead)."""
        return {key for key in keys if find(key)}

    @abstractmethod
    def temporary(self, conn: Connection, name: str, select: str, params: Sequence[Any]) -> None:
        """Fill the temporary table ``name`` with the rows of ``select`` for this transaction."""
