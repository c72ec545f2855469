"""The default store: one SQLite file in WAL mode, shared safely by threads and processes."""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .._util.system import ThisProcess, format_time, parse_time
from ..errors import ConfigError, CorruptStoreError, StoreError
from ._sqlite_file import APPLICATION_ID as APPLICATION_ID  # re-exported: tests and tools
from ._sqlite_file import SCHEMA_VERSION as SCHEMA_VERSION
from ._sqlite_file import SQLiteFile, _folder_problem
from .dialect import Connection, Dialect
from .sql import SQLStore

T = TypeVar("T")

_SYNCHRONOUS = ("normal", "full", "extra")
# Set on every connection, after ``synchronous``. No memory map: an I/O error on a mapped
# file kills the process (SIGBUS) instead of raising an error we can report.
# - a page cache of up to 64 MiB (filled only as pages are read): it holds the indexes a
#   write touches and the pages a history query reads, even on a store of a million sessions;
# - a checkpoint every 4000 WAL pages (16 MB) instead of 1000: on a large store each commit
#   dirties pages all over the file, and fewer, larger checkpoints (each ends with an fsync)
#   write each of them back once.
CONNECTION_PRAGMAS = (
    "PRAGMA cache_size = -65536",
    "PRAGMA wal_autocheckpoint = 4000",
)
# The sorter behind a GROUP BY keeps up to the page cache's size in memory before it spills
# sorted runs to temporary files. On a store connection (64 MiB cache) a report over a million
# costs then holds 64 MiB more and sorts 25% slower than in 2 MiB runs; its full scan evicts
# the cached pages either way.
_SORT_CACHE_KIB = 2048
ROWS_PER_INSERT = 32  # rows to one INSERT of many (32 x 17 cost columns: well under 999 values)
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
from ._sqlite_file import _BUSY  # noqa: E402


class SQLiteDialect(SQLiteFile, Dialect):
    """A SQLite database file: a connection per thread, writers serialised by SQLite.

    Args:
        path: The database file; it and its folder are created if missing.
        synchronous: ``"normal"`` (default) keeps every commit through a process crash;
            ``"full"`` also through a power loss, at some cost in speed.
        busy_timeout: Seconds to wait for another writer before giving up.
    """

    name = "sqlite"
    # The counter row moves on in the same statement (the schema's *_take_seq triggers).
    next_seq = "(SELECT last + 1 FROM store_sequence)"
    high_water = "SELECT last FROM store_sequence"

    def __init__(
        self, path: Path, *, synchronous: str = "normal", busy_timeout: float | str = 60.0
    ) -> None:
        if not isinstance(synchronous, str) or synchronous.lower() not in _SYNCHRONOUS:
            raise ConfigError(
                f"synchronous={synchronous!r:.40} is not valid; use one of "
                f"{', '.join(_SYNCHRONOUS)}."
            )
        self.path = path.expanduser().absolute()
        self.location = str(self.path)
        self._synchronous = synchronous.upper()
        self._timeout = _seconds(busy_timeout)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.read_only = False
        """True when the file cannot be written by this user: queries work, writes fail."""
        self._check_file()
        self._prepare()

    # -- SQL ---------------------------------------------------------------------------------

    def day(self, column: str) -> str:
        return f"substr({column}, 1, 10)"

    def any_of(self, column: str) -> str:
        # One JSON array parameter, whatever its length: no limit on host parameters.
        return f"{column} IN (SELECT value FROM json_each(?))"

    def array(self, values: Sequence[Any]) -> Any:
        return json.dumps(list(values))

    time = staticmethod(format_time)  # the function itself, not a method calling it: per write

    def read_time(self, value: Any) -> datetime:
        return parse_time(value)

    def limit(self, limit: int | None) -> Any:
        return -1 if limit is None else limit

    # -- connections -------------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == ThisProcess.pid:
            return conn
        with self._mapped():
            # A store this user may not write is opened read-only, so it can still be queried
            # (SQLite would otherwise fail on its first attempt to take a write lock or to
            # create the WAL index beside it).
            if self.read_only:
                conn = self._connect_read_only()
            else:
                conn = sqlite3.connect(
                    self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            for pragma in CONNECTION_PRAGMAS:
                conn.execute(pragma)
        local = self._local
        local.conn, local.pid = conn, ThisProcess.pid
        # A write's context managers, made once per connection: they hold no state of their own.
        local.writes = (_Transaction(self, conn, "BEGIN IMMEDIATE"), _Transaction(self, conn, None))
        with self._lock:
            self._connections.append(conn)
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        def open_as(mode: str) -> sqlite3.Connection:
            return sqlite3.connect(
                f"{self.path.as_uri()}?{mode}",
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=True,
            )

        conn = open_as("mode=ro")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            if not (exc.sqlite_errorname or "").startswith("SQLITE_READONLY"):
                raise
            # A WAL store in a folder this user cannot write, with no -shm file beside it:
            # SQLite cannot build the WAL index. No -shm file means no connection has the
            # store open, so the file is at rest and can be read as it is.
            conn.close()
            conn = open_as("immutable=1")
        return conn

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        """Turn driver errors into the toolkit's, naming the store, by SQLite's error name."""
        try:
            yield
        except UnicodeDecodeError as exc:
            # SQLite's own message quoted text of a damaged schema that is not UTF-8.
            raise CorruptStoreError(
                f"The session store {self.location!r} is corrupt (its schema is not valid "
                "UTF-8 text). It was left untouched; restore it from a backup or name another "
                "store.",
                self.location,
            ) from exc
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _error(self, exc: sqlite3.Error) -> StoreError:
        """The toolkit's error for a driver error, by SQLite's error name."""
        name = getattr(exc, "sqlite_errorname", "") or ""
        said = _one_line(exc)
        if name.startswith(_CORRUPT):
            return CorruptStoreError(
                f"The session store {self.location!r} is corrupt ({said}). It was left "
                "untouched; restore it from a backup or name another store.",
                self.location,
            )
        if name.startswith("SQLITE_READONLY"):
            return StoreError(
                f"The session store {self.location!r} is read-only for this user ({said}): "
                "it can be queried, not written.",
                self.location,
            )
        if name.startswith("SQLITE_CANTOPEN"):
            return StoreError(
                f"Cannot open the session store {self.location!r}: {_folder_problem(self.path)}.",
                self.location,
            )
        if name.startswith(_BUSY):
            return StoreError(
                f"The session store {self.location!r} stayed locked by another writer for "
                f"more than {self._timeout:g} s.",
                self.location,
            )
        return StoreError(f"The session store {self.location!r} failed: {said}.", self.location)

    def transaction(self) -> AbstractContextManager[Connection]:
        """Takes the write lock up front (``BEGIN IMMEDIATE``), so it never fails half-way."""
        local = self._local
        if getattr(local, "pid", None) != ThisProcess.pid:
            self.connect()
        begin: _Transaction = local.writes[0]
        return begin

    def statement(self) -> AbstractContextManager[Connection]:
        local = self._local
        if getattr(local, "pid", None) != ThisProcess.pid:
            self.connect()
        alone: _Transaction = local.writes[1]
        return alone

    def read(self, work: Callable[[Connection], T], *, sorting: bool = False) -> T:
        try:
            return self._read(work, sorting=sorting)
        except StoreError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, sqlite3.OperationalError) and _UNDECODABLE in str(cause)):
                raise
        # Damage made some stored text invalid UTF-8, and sqlite3 fails the whole query on
        # it. Read once more handing such text over as bytes, so the row decoders can leave
        # out the damaged rows and name them. Only then: the usual decoding stays in C.
        conn = self.connect()
        conn.text_factory = _text_or_bytes
        try:
            return self._read(work, sorting=sorting)
        finally:
            conn.text_factory = str

    def _read(self, work: Callable[[Connection], T], *, sorting: bool) -> T:
        conn = self.connect()
        with self._mapped():
            if not sorting:
                return work(conn)
            size = int(conn.execute("PRAGMA cache_size").fetchone()[0])
            conn.execute(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
            try:
                return work(conn)
            finally:
                conn.execute(f"PRAGMA cache_size = {size}")

    def stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        with self._mapped():
            yield from self.connect().execute(sql, params)

    def files(self) -> list[Path]:
        name = self.path.name
        return [
            self.path,
            *(self.path.with_name(name + end) for end in ("-wal", "-shm", "-journal")),
        ]

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- bulk paths --------------------------------------------------------------------------

    def reserve(self, conn: Connection, count: int) -> list[int]:
        last = int(
            conn.execute(
                "UPDATE store_sequence SET last = last + ? RETURNING last", (count,)
            ).fetchone()[0]
        )
        return list(range(last - count + 1, last + 1))

    def insert_rows(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Fewer than :data:`ROWS_PER_INSERT` rows by ``executemany``, as one always was;
        more, that many to an ``INSERT`` (a statement step per chunk, not per row: some 10-15%
        less time per row for a seal's chain rows), the rest by ``executemany``."""
        assert isinstance(conn, sqlite3.Connection)
        one = f"({', '.join('?' * len(columns))})"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        whole = len(rows) - len(rows) % ROWS_PER_INSERT
        if whole:
            many = head + ", ".join([one] * ROWS_PER_INSERT)
            for start in range(0, whole, ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                conn.execute(many, list(itertools.chain.from_iterable(chunk)))
        if whole < len(rows):
            conn.executemany(head + one, rows[whole:])

    def insert_new_sessions(
        self, conn: Connection, statement: str, rows: list[tuple[Any, ...]]
    ) -> dict[str, int]:
        refs = {}
        for row in rows:
            found = conn.execute(statement, row).fetchone()
            if found is not None:
                refs[row[0]] = int(found[0])
        return refs

    def temporary(self, conn: Connection, name: str, select: str, params: Sequence[Any]) -> None:
        # A temporary table lives as long as the connection: empty it for this transaction.
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} AS {select} LIMIT 0", params)
        conn.execute(f"DELETE FROM temp.{name}")
        conn.execute(f"INSERT INTO temp.{name} {select}", params)


class _Transaction:
    """``BEGIN`` ... ``COMMIT`` (or one autocommitted statement without ``begin``) on one
    connection, with driver errors mapped. A class, not a generator: it runs on every write;
    it keeps no state between ``__enter__`` and ``__exit__``, so one serves every write of
    its connection."""

    __slots__ = ("_conn", "_dialect", "_begin")

    def __init__(self, dialect: SQLiteDialect, conn: sqlite3.Connection, begin: str | None) -> None:
        self._dialect, self._conn, self._begin = dialect, conn, begin

    def __enter__(self) -> sqlite3.Connection:
        if self._begin is not None:
            try:
                self._conn.execute(self._begin)
            except sqlite3.Error as exc:
                raise self._dialect._error(exc) from exc
        return self._conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if self._begin is not None:
                self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        except sqlite3.Error as error:
            raise self._dialect._error(error) from (exc or error)
        if isinstance(exc, sqlite3.Error):
            raise self._dialect._error(exc) from exc


_UNDECODABLE = "Could not decode to UTF-8"


def _one_line(exc: BaseException) -> str:
    """SQLite's message on one line and short: it may quote a damaged schema or row."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


def _text_or_bytes(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _seconds(value: object) -> float:
    """A ``busy_timeout``: seconds, as a number or the text of one (from a URL query)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]  # checked below, whatever it is
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(
            f"busy_timeout={value!r:.40} is not valid; give a number of seconds of 0 or more, "
            "e.g. ?busy_timeout=30."
        )
    return seconds


class SQLiteStore(SQLStore):
    """Sessions in a SQLite database file; the arguments are :class:`SQLiteDialect`'s."""

    dialect: SQLiteDialect

    def __init__(
        self, path: Path, *, synchronous: str = "normal", busy_timeout: float | str = 60.0
    ) -> None:
        super().__init__(SQLiteDialect(path, synchronous=synchronous, busy_timeout=busy_timeout))
        self.path = self.dialect.path
