"""A team store: sessions in a PostgreSQL database, shared by every process that names it.

The only module that imports psycopg (an optional dependency) and turns its errors into the
toolkit's. Reads are retried once on a lost connection; writes never are (a write whose
connection broke may have been committed), but a connection that sat idle is probed before
it is used, so connections closed by a server restart are replaced before a write is sent.

The tables are the SQLite store's, with times as ``timestamptz`` (read back as the same
fixed-width ISO 8601 text).
"""

from __future__ import annotations

import os
import re
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from ..errors import ConfigError, SchemaError, StoreError, ValidationError
from ._location import _passwords_in, _safe
from ._pg_schema import SCHEMA_VERSION, migrate
from .dialect import Connection as AnyConnection
from .dialect import Dialect
from .sql import SQLStore
from .sql_chain import advisory_locks

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        "PostgreSQL stores need psycopg 3 and psycopg_pool: "
        "pip install 'm365-security-toolkit[postgres]'."
    ) from exc

Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

CHAIN_LOCK = 0x4348414E  # "CHAN": with the schema's hash, the sealer's advisory lock key
_STREAM_ROWS = 2000  # rows fetched per round trip by stream()
_CONNECT_TIMEOUT = 10  # seconds; libpq's default is to wait forever for an unreachable host
# Pools inherited through fork(). A child never closes them: that would end the parent's
# connections, whose sockets it shares. It opens a pool of its own instead.
_inherited: list[ConnectionPool[Connection]] = []


class _Lost(Exception):
    """The connection broke during a call (server restart, network, idle timeout)."""


class PostgresDialect(Dialect):
    """A pool of connections to one store's database and schema; see :class:`PostgresStore`."""

    name = "postgresql"
    placeholder = "%s"
    next_seq = "nextval('store_sequence')"
    # A concurrent completion (which locks the row FOR UPDATE) waits for an event's insert,
    # or the insert re-checks the status after it: never an event after 'complete'.
    share_lock = " FOR SHARE"
    update_lock = " FOR UPDATE"
    # Groups order as SQLite's do (byte order), whatever the database's collation.
    bytewise = ' COLLATE "C"'
    # Numbers are taken before commits, in no order: the lock protocol is in sql_chain.py.
    high_water = "SELECT last_value - (NOT is_called)::int FROM store_sequence"
    seal_lock, write_guard, guard_condition = advisory_locks(CHAIN_LOCK)

    def __init__(
        self,
        url: str,
        *,
        min_size: int | str = 1,
        max_size: int | str = 8,
        timeout: float | str = 30.0,
        probe_after: float | str = 2.0,
    ) -> None:
        self.location = _safe(url)
        self._url = url
        self._passwords = _passwords_in(url)
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(
                f"{self.location!r} is not a valid PostgreSQL location: {self._clean(exc)}."
            ) from None
        self._passwords |= {str(params[k]) for k in ("password", "sslpassword") if params.get(k)}
        # libpq splits an unencoded "@" or "/" of a password into the host or database name
        # and quotes those back ("failed to resolve host 'w0rd@db'"): mask the pieces too.
        self._passwords |= {
            piece
            for password in list(self._passwords)
            for piece in re.split(r"[@:/?#]", password)
            if len(piece) >= 3
        }
        self._connect: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._connect["connect_timeout"] = _CONNECT_TIMEOUT
        try:
            self._min, self._max = int(min_size), int(max_size)
            self._timeout, self._probe_after = float(timeout), float(probe_after)
        except ValueError:
            raise ConfigError(
                "min_size and max_size must be whole numbers, timeout and probe_after seconds."
            ) from None
        if not 1 <= self._min <= self._max:
            raise ConfigError(f"Need 1 <= min_size <= max_size, got {self._min}, {self._max}.")
        self._returned: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        self._prepare()
        self._pid = os.getpid()
        self._pool = self._open_pool()

    # -- connections -------------------------------------------------------------------------

    def _open_pool(self) -> ConnectionPool[Connection]:
        pool: ConnectionPool[Connection] = ConnectionPool(
            self._url,
            min_size=self._min,
            max_size=self._max,
            kwargs=self._connect,
            timeout=self._timeout,
            check=self._check,
            open=False,
            name=f"m365-toolkit {self.location}",
        )
        pool.open(wait=False)
        return pool

    def _pooled(self) -> ConnectionPool[Connection]:
        if self._pid != os.getpid():  # a forked child: see _inherited
            _inherited.append(self._pool)
            self._pid, self._pool = os.getpid(), self._open_pool()
        return self._pool

    def _stamp(self, conn: Connection) -> None:
        """Note when a connection goes back to the pool (not as the pool's ``reset`` callback:
        with one, psycopg_pool returns every connection through a worker thread)."""
        self._returned[conn] = time.monotonic()

    def _check(self, conn: Connection) -> None:
        """Probe a connection that sat idle; if it is dead the pool takes another."""
        returned = self._returned.get(conn)
        if returned is not None and time.monotonic() - returned > self._probe_after:
            conn.execute("")

    def _clean(self, exc: BaseException) -> str:
        """A driver message without the password, fit for our own messages."""
        text = _safe(str(exc).strip().rstrip("."))  # a conninfo the driver quotes back
        for password in sorted(self._passwords, key=len, reverse=True):
            for secret in {password, quote(password, safe="")}:
                text = text.replace(secret, "***")
        return text

    @contextmanager
    def mapped(self, *, writing: bool = False) -> Iterator[None]:
        """Turn driver errors into the toolkit's, naming the store and never the password."""
        try:
            yield
        except _Lost as lost:
            cause = self._clean(lost.__cause__ or lost)
            if writing:
                raise StoreError(
                    f"The session store {self.location!r} lost its connection to PostgreSQL "
                    f"during a write ({cause}), so the change may or may not have been "
                    "recorded. It was not retried, lest it be recorded twice: look the session "
                    "up before repeating it.",
                    self.location,
                ) from lost.__cause__
            raise StoreError(
                f"The session store {self.location!r} lost its connection to PostgreSQL twice "
                f"while reading ({cause}).",
                self.location,
            ) from lost.__cause__
        except PoolTimeout as exc:
            raise StoreError(
                f"The session store {self.location!r} got no connection to PostgreSQL within "
                f"{self._timeout:g} s: the server is unreachable or every connection is busy.",
                self.location,
            ) from exc
        except psycopg.DataError as exc:
            if "NUL" not in str(exc):
                raise StoreError(
                    f"The session store {self.location!r} refused a value: {self._clean(exc)}.",
                    self.location,
                ) from exc
            raise ValidationError(
                "PostgreSQL cannot store the NUL character (\\x00) in text; remove it from the "
                "session's user, operation type, event type or description."
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"The session store {self.location!r} failed: {self._clean(exc)}.", self.location
            ) from exc

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection; a driver error that broke it is raised as :class:`_Lost`."""
        with self._pooled().connection() as conn:
            try:
                yield conn
            except psycopg.OperationalError as exc:
                if conn.broken and not isinstance(exc, PoolTimeout):
                    raise _Lost() from exc
                raise
            finally:
                self._stamp(conn)

    @contextmanager
    def transaction(self) -> Iterator[AnyConnection]:
        """One transaction, committed when the block ends; never retried."""
        with self.mapped(writing=True), self.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def statement(self) -> Iterator[AnyConnection]:
        """A pooled connection in autocommit mode, for one write statement; never retried."""
        with self.mapped(writing=True), self.connection() as conn:
            yield conn

    def read(self, work: Callable[[AnyConnection], T], *, sorting: bool = False) -> T:
        """Run ``work``; if the connection breaks, once more on another (reads repeat safely)."""
        with self.mapped():
            try:
                with self.connection() as conn:
                    return work(conn)
            except _Lost:
                pass
            with self.connection() as conn:
                return work(conn)

    def stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """Through a server-side cursor, so a large result is never held in memory at once."""
        with (
            self.mapped(),
            self.connection() as conn,
            conn.transaction(),
            conn.cursor(name="m365_stream") as cursor,
        ):
            cursor.itersize = _STREAM_ROWS
            cursor.execute(sql, params)
            yield from cursor

    # -- SQL ---------------------------------------------------------------------------------

    def iso(self, column: str) -> str:
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""

    def day(self, column: str) -> str:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def any_of(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)

    def time(self, moment: datetime) -> Any:
        return moment

    def read_time(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    # -- bulk paths --------------------------------------------------------------------------

    def reserve(self, conn: AnyConnection, count: int) -> list[int]:
        rows = conn.execute(
            "SELECT nextval('store_sequence') FROM generate_series(1, %s)", (count,)
        ).fetchall()
        return sorted(int(row[0]) for row in rows)

    def insert_rows(
        self,
        conn: AnyConnection,
        table: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """By COPY, the fastest way in."""
        assert isinstance(conn, psycopg.Connection)
        with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def insert_new_sessions(
        self, conn: AnyConnection, statement: str, rows: list[tuple[Any, ...]]
    ) -> dict[str, int]:
        """In one statement: the rows as one array per column, inserted in their order."""
        if not rows:
            return {}
        columns = [list(column) for column in zip(*rows, strict=True)]
        found = conn.execute(_IMPORT_SESSIONS, columns).fetchall()
        return {session_id: int(ref) for ref, session_id in found}

    def stored_costs(
        self,
        conn: AnyConnection,
        keys: list[tuple[Any, ...]],
        find: Callable[[tuple[Any, ...]], bool],
    ) -> set[tuple[Any, ...]]:
        """In one query over the keys as one array per column."""
        if not keys:
            return set()
        columns = [list(column) for column in zip(*keys, strict=True)]
        rows = conn.execute(_STORED_COSTS, columns).fetchall()
        return {keys[int(row[0]) - 1] for row in rows}

    def temporary(self, conn: AnyConnection, name: str, select: str, params: Sequence[Any]) -> None:
        conn.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}", params)

    def _prepare(self) -> None:
        """Check the schema is a toolkit store of a known version; create or migrate it."""
        try:
            conn = psycopg.connect(self._url, **self._connect)
        except psycopg.Error as exc:
            raise StoreError(
                f"Cannot connect to the session store {self.location!r}: {self._clean(exc)}.",
                self.location,
            ) from None  # the driver's message may quote the connection string
        with self.mapped(), conn:
            try:
                migrate(conn, self.location)
            except psycopg.Error as exc:
                raise SchemaError(
                    f"Creating or migrating the session store {self.location!r} to schema "
                    f"version {SCHEMA_VERSION} failed: {self._clean(exc)}.",
                    self.location,
                ) from exc

    def close(self) -> None:
        """Close the pool and its connections (not a pool inherited through fork)."""
        if self._pid == os.getpid():
            self._pool.close()


_IMPORT_SESSIONS = (
    "INSERT INTO sessions (session_id, user_name, operation_type, metadata, start_time, "
    "end_time, status, duration_seconds, host, pid, process) "
    "SELECT session_id, user_name, operation_type, metadata, start_time, end_time, status, "
    "duration_seconds, host, pid, process FROM unnest(%s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::float8[], %s::text[], "
    "%s::bigint[], %s::text[]) "
    "WITH ORDINALITY AS batch (session_id, user_name, operation_type, metadata, start_time, "
    "end_time, status, duration_seconds, host, pid, process, position) ORDER BY position "
    "ON CONFLICT (session_id) DO NOTHING RETURNING id, session_id"
)
# The positions (from 1) of the cost natural keys that are stored.
_STORED_COSTS = """
    SELECT k.position FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[],
        %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
        WITH ORDINALITY AS k (timestamp, session_id, model, request_type, input_tokens,
                              cached_tokens, output_tokens, reasoning_tokens, position)
    WHERE EXISTS (SELECT FROM costs c WHERE c.timestamp = k.timestamp
        AND c.session_id IS NOT DISTINCT FROM k.session_id AND c.model = k.model
        AND c.request_type = k.request_type AND c.input_tokens = k.input_tokens
        AND c.cached_tokens = k.cached_tokens AND c.output_tokens = k.output_tokens
        AND c.reasoning_tokens = k.reasoning_tokens)
"""


class PostgresStore(SQLStore):
    """Sessions in a PostgreSQL database, shared by every process that names it.

    Tables live in the first schema of the connection's ``search_path`` (set it with
    ``?options=-csearch_path%3Dname`` in the URL). Every call commits before it returns.

    Args:
        url: A libpq URL, ``postgresql://user@host:5432/dbname?sslmode=require``. Query
            parameters go to libpq unchanged.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most; callers beyond wait for one.
        timeout: Seconds to wait for a free connection before giving up.
        probe_after: Seconds a pooled connection may sit idle before it is checked with an
            empty query when next taken, so that connections a server restart or an idle
            timeout closed are replaced before a write is sent on them.
    """

    dialect: PostgresDialect

    def __init__(
        self,
        url: str,
        *,
        min_size: int | str = 1,
        max_size: int | str = 8,
        timeout: float | str = 30.0,
        probe_after: float | str = 2.0,
    ) -> None:
        super().__init__(
            PostgresDialect(
                url, min_size=min_size, max_size=max_size, timeout=timeout, probe_after=probe_after
            )
        )
