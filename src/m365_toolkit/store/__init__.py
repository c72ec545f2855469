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

import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable
from urllib.parse import parse_qsl, unquote

from .. import settings
from ..costs.model import CostGroup, CostRecord, CostTotals
from ..errors import ConfigError
from ..sessions.model import Event, Session, Status
from ..sessions.query import SessionQuery

if TYPE_CHECKING:
    from ._journal import Record
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

    def seal(self) -> SealResult:
        """Add every stored record not chained yet to the store's tamper-evident chain, in
        sequence order, in one transaction (see :mod:`.chain`). Stores seal on their own
        every few hundred records they write, and before verify, prune and close."""
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


def default_location() -> str:
    """``M365_TOOLKIT_STORE`` if set, else ``output/sessions/sessions.db`` under the cwd."""
    return settings.store() or str(settings.DEFAULT_STORE)


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A parsed store location: which backend, which file (or server URL), which options.

    For a PostgreSQL store ``url`` holds the whole URL, query included (libpq reads it), and
    ``path`` is empty (``Path()``).
    """

    scheme: str
    path: Path
    options: dict[str, str]
    url: str = ""

    @property
    def key(self) -> str:
        """Equal for two locations that name the same store."""
        if self.url and "://" not in self.url:  # a key/value DSN, in any order or spacing
            pairs = sorted(_dsn_pairs(self.url).items())
            return f"{self.scheme}:" + " ".join(f"{k}={v}" for k, v in pairs if k not in _SECRETS)
        if self.url:  # without the password, and postgres:// the same as postgresql://
            return f"{self.scheme}:{_safe(self.url, mask='').partition('://')[2]}"
        return f"{self.scheme}:{self.path.expanduser().absolute()}"

    @classmethod
    def parse(cls, location: str | os.PathLike[str] | None = None) -> StoreLocation:
        """Read a path or URL; ``None`` means :func:`default_location`.

        Raises:
            ConfigError: The location cannot name a store.
        """
        text = os.fspath(location) if location is not None else default_location()
        if not text.strip():
            raise ConfigError("The store location is empty; give a file path or a store URL.")
        scheme, _, rest = text.partition("://") if "://" in text else ("", "", text)
        scheme = scheme.lower()
        if not scheme and _is_dsn(text):  # host=db user=x password=y dbname=z, as libpq reads
            return cls("postgresql", Path(), {}, text.strip())
        if scheme == "memory" or text == "memory:":
            return cls("memory", Path(), {})
        if scheme in ("postgresql", "postgres"):
            if not rest.strip("/"):
                raise ConfigError(f"The store location {_safe(text)!r} names no server.")
            return cls("postgresql", Path(), {}, text.strip())
        path, _, query = rest.partition("?")
        if scheme and path.startswith("/"):  # sqlite:///rel.db, sqlite:////abs.db (SQLAlchemy)
            path = path[1:]
        options = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
        if scheme in ("", "file"):
            scheme = "json" if path.lower().endswith(".json") else "sqlite"
        if scheme not in ("json", "sqlite"):
            raise ConfigError(
                f"Unknown store scheme {scheme!r} in {_safe(text)!r}; "
                "use sqlite, json, postgresql or memory."
            )
        if not path:
            raise ConfigError(f"The store location {_safe(text)!r} names no file.")
        return cls(scheme, Path(path), options)


def open_store(location: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """Open the store at ``location``, creating it (and its folder) if it does not exist.

    Args:
        location: A path ending in ``.json`` (the guide's JSON array file), any other path
            (a SQLite database), or a URL: ``sqlite:///path.db?synchronous=full``,
            ``json:///path.json``, ``postgresql://user@host:5432/dbname?sslmode=require``
            (query parameters go to libpq), or ``memory:`` (a store that lives in this object
            only). ``None`` means :func:`default_location`.
        options: Backend options, e.g. ``synchronous="full"`` for SQLite, ``max_size=4``
            (connections in the pool) for PostgreSQL.

    Raises:
        ConfigError: The location cannot name a store, or psycopg is missing for a
            PostgreSQL one.
        StoreError: The store exists but cannot be used (corrupt, newer schema, server
            unreachable, ...).
    """
    parsed = StoreLocation.parse(location)
    if parsed.scheme == "memory":
        from .memory import MemoryStore

        if options:
            raise ConfigError(f"The memory store takes no options, got {sorted(options)}.")
        return MemoryStore()
    if parsed.scheme == "postgresql":
        from .postgres import PostgresStore

        unknown = set(options) - {"min_size", "max_size", "timeout", "probe_after"}
        if unknown:
            raise ConfigError(
                f"Unknown PostgreSQL store option(s) {sorted(unknown)}; use min_size, "
                "max_size, timeout or probe_after."
            )
        return PostgresStore(parsed.url, **options)
    merged: dict[str, Any] = {**parsed.options, **options}
    if parsed.scheme == "json":
        from .jsonfile import JsonStore

        if merged:
            raise ConfigError(f"The JSON store takes no options, got {sorted(merged)}.")
        return JsonStore(parsed.path)
    from .sqlite import SQLiteStore

    unknown = set(merged) - {"synchronous", "busy_timeout"}
    if unknown:
        raise ConfigError(
            f"Unknown SQLite store option(s) {sorted(unknown)}; use synchronous or busy_timeout."
        )
    return SQLiteStore(parsed.path, **merged)


def _safe(location: str, mask: str = "***") -> str:
    """A location with any password in it masked (or dropped, with ``mask=""``).

    Masks the password of a URL's user info (even one with unencoded ``@ : / ? #``), the
    ``password`` and ``sslpassword`` query parameters, and the same keys of a libpq
    key/value string (``host=db password=x``). Every message and log line that names a
    store location goes through here.
    """
    scheme, sep, rest = location.partition("://")
    if not sep:
        return _DSN_PASSWORD.sub(rf"\g<1>{mask}" if mask else "", location)
    at = _userinfo_end(rest)
    if at >= 0 and ":" in rest[:at]:
        user = rest[:at].split(":", 1)[0]
        host = rest[at + 1 :]
        rest = f"{user}:{mask}@{host}" if mask else f"{user}@{host}"
    if mask:
        return _QUERY_PASSWORD.sub(rf"\g<1>{mask}", f"{scheme}://{rest}")
    # Dropped with its separator, the next parameter taking the "?" if it was first.
    rest = _QUERY_PASSWORD.sub(lambda m: m[0][0], rest)
    rest = re.sub(r"([?&])[?&]+", r"\1", rest).rstrip("?&")
    return f"{scheme}://{rest}"


def _userinfo_end(rest: str) -> int:
    """Where the user info of a URL (after ``://``) ends: its last "@", or -1.

    libpq wants "@", ":", "/", "?" and "#" of a password percent-encoded, but people paste
    them as they are, and a message must hide them anyway. The user info ends at the last
    "@" before the query; a password holding "?" has no "@" before its "?", and then ends at
    the last "@" of all, unless that one lies past a "/" (an "@" in the path or query).
    """
    query = rest.find("?")
    at = rest.rfind("@", 0, query if query >= 0 else len(rest))
    if at >= 0 or query < 0:
        return at
    at = rest.rfind("@")
    return at if at >= 0 and "/" not in rest[:at] else -1


def _is_dsn(text: str) -> bool:
    """Whether ``text`` is a libpq key/value connection string naming at least one of its
    usual keywords (so ``a=b.db`` stays a file name)."""
    pairs = _dsn_pairs(text)
    return bool(pairs) and not _DSN_KEYWORDS.isdisjoint(pairs)


def _passwords_in(location: str) -> set[str]:
    """The passwords (``password``, ``sslpassword``) a location holds, as libpq will read
    them, for masking a driver's messages that may quote them."""
    found: set[str] = set()
    scheme, sep, rest = location.partition("://")
    if not sep:
        for key, value in _dsn_pairs(location).items():
            if key in _SECRETS and value:
                found.add(re.sub(r"\\(.)", r"\1", value[1:-1]) if value[0] == "'" else value)
        return found
    at = _userinfo_end(rest)
    if at >= 0 and ":" in rest[:at]:
        found.add(unquote(rest[:at].split(":", 1)[1]))
    for key, value in parse_qsl(rest.partition("?")[2]):
        if key.lower() in _SECRETS and value:
            found.add(value)
    return {secret for secret in found if secret}


def _dsn_pairs(text: str) -> dict[str, str]:
    """The keys and values of a libpq key/value string; empty if ``text`` is not one."""
    pairs: dict[str, str] = {}
    position = 0
    for match in _DSN_PAIR.finditer(text):
        if match.start() != position:
            return {}
        pairs[match["key"].lower()] = match["value"]
        position = match.end()
    return pairs if position == len(text) else {}


_SECRETS = frozenset({"password", "sslpassword"})
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&#]*", re.IGNORECASE)
_DSN_PASSWORD = re.compile(
    r"((?<![\w.])(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE
)
_DSN_PAIR = re.compile(r"\s*(?P<key>[A-Za-z_]+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|[^\s']*)\s*")
_DSN_KEYWORDS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service",
        "sslmode", "sslpassword", "options", "application_name", "connect_timeout",
        "target_session_attrs",
    }
)  # fmt: skip
