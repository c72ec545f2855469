"""The PostgreSQL store's database: connection pool, schema migrations, error mapping.

The only place that imports psycopg (an optional dependency) and turns its errors into the
toolkit's. Reads are retried once on a lost connection; writes never are (a write whose
connection broke may have been committed), but a connection that sat idle is probed before
it is used, so connections closed by a server restart are replaced before a write is sent.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..errors import ConfigError, CorruptStoreError, SchemaError, StoreError, ValidationError
from . import _safe
from ._pg_sql import (
    CREATE_VERSION_TABLE,
    LOCK_MIGRATIONS,
    MIGRATION_LOCK,
    MIGRATIONS,
    READ_STATE,
    READ_VERSION,
    SCHEMA_VERSION,
    SET_VERSION,
)

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.errors import UniqueViolation
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigError(
        "PostgreSQL stores need psycopg 3 and psycopg_pool: "
        "pip install 'm365-security-toolkit[postgres]'."
    ) from exc

__all__ = ["Connection", "Database", "UniqueViolation"]

Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

_CONNECT_TIMEOUT = 10  # seconds; libpq's default is to wait forever for an unreachable host
# Pools inherited through fork(). A child never closes them: that would end the parent's
# connections, whose sockets it shares. It opens a pool of its own instead.
_inherited: list[ConnectionPool[Connection]] = []


class _Lost(Exception):
    """The connection broke during a call (server restart, network, idle timeout)."""


class Database:
    """A pool of connections to one store's database and schema; see :class:`PostgresStore`."""

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
        self._password = _url_password(url)
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(
                f"{self.location!r} is not a valid PostgreSQL location: {self._clean(exc)}."
            ) from None
        self._password = str(params.get("password") or self._password)
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
        text = str(exc).strip().rstrip(".")
        if self._password:
            for secret in {self._password, quote(self._password, safe="")}:
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
    def write(self) -> Iterator[Connection]:
        """One transaction, committed when the block ends; never retried."""
        with self.mapped(writing=True), self.connection() as conn, conn.transaction():
            yield conn

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work``; if the connection breaks, once more on another (reads repeat safely)."""
        with self.mapped():
            try:
                with self.connection() as conn:
                    return work(conn)
            except _Lost:
                pass
            with self.connection() as conn:
                return work(conn)

    def _prepare(self) -> None:
        """Check the schema is a toolkit store of a known version; create or migrate it.

        Processes starting together on an empty database serialise on an advisory lock held
        by the migrating transaction; each re-reads the version under it.
        """
        try:
            conn = psycopg.connect(self._url, **self._connect)
        except psycopg.Error as exc:
            raise StoreError(
                f"Cannot connect to the session store {self.location!r}: {self._clean(exc)}.",
                self.location,
            ) from None  # the driver's message may quote the connection string
        with self.mapped(), conn:
            if self._version(conn) == SCHEMA_VERSION:
                return
            try:
                with conn.transaction():
                    conn.execute(LOCK_MIGRATIONS, (MIGRATION_LOCK,))
                    version = self._version(conn)
                    conn.execute(CREATE_VERSION_TABLE)
                    for script in MIGRATIONS[version:]:
                        conn.execute(script)
                    conn.execute(SET_VERSION, (SCHEMA_VERSION,))
            except psycopg.Error as exc:
                raise SchemaError(
                    f"Creating or migrating the session store {self.location!r} to schema "
                    f"version {SCHEMA_VERSION} failed: {self._clean(exc)}.",
                    self.location,
                ) from exc

    def _version(self, conn: Connection) -> int:
        schema, versioned, has_sessions = _one(conn.execute(READ_STATE))
        if schema is None:
            raise ConfigError(
                f"The search_path of {self.location!r} names no schema that exists; create "
                "it (CREATE SCHEMA ...) or fix the options=-csearch_path=... of the URL."
            )
        if not versioned:
            if has_sessions:
                raise CorruptStoreError(
                    f"Schema {schema!r} of {self.location!r} has a sessions table that the "
                    "toolkit did not create. It was left untouched; name another schema.",
                    self.location,
                )
            return 0
        row = conn.execute(READ_VERSION).fetchone()
        version = int(row[0]) if row is not None else 0
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"The session store {self.location!r} has schema version {version}, newer than "
                f"this toolkit understands ({SCHEMA_VERSION}); upgrade m365-security-toolkit.",
                self.location,
            )
        return version

    def close(self) -> None:
        """Close the pool and its connections (not a pool inherited through fork)."""
        if self._pid == os.getpid():
            self._pool.close()


def _url_password(url: str) -> str:
    """The password in a URL, before libpq has read it (for masking its errors)."""
    try:
        parts = urlsplit(url)
        if parts.password:
            return unquote(parts.password)
        return dict(parse_qsl(parts.query)).get("password", "")
    except ValueError:
        return ""


def _one(cursor: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None
    return row
