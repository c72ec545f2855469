"""Store locations: parsing a path, URL or DSN, opening the store it names, and masking any
password in it for messages."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from .. import settings
from ..errors import ConfigError

if TYPE_CHECKING:
    from . import Store


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
        if not scheme and text[:7].lower().startswith(("file:", "sqlite:", "json:")):
            raise ConfigError(
                f"The store location {text[:200]!r} is ambiguous: a URL needs '://'. Write "
                "sqlite:///rel.db or json:///rel.json for a relative path, sqlite:////abs.db "
                "or file:///abs.db for an absolute one, or give the plain path."
            )
        if scheme not in ("", "file", "json", "sqlite"):
            raise ConfigError(
                f"Unknown store scheme {scheme!r} in {_safe(text)!r}; "
                "use sqlite, json, file, postgresql or memory."
            )
        path, _, query = rest.partition("?")
        if scheme:
            path = _url_path(scheme, path)
        options = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
        if scheme in ("", "file"):
            scheme = "json" if path.lower().endswith(".json") else "sqlite"
        if not path:
            raise ConfigError(f"The store location {_safe(text)!r} names no file.")
        return cls(scheme, Path(path), options)


def _url_path(scheme: str, path: str) -> str:
    """The file a ``sqlite:``/``json:``/``file:`` URL names (the part after ``://``).

    ``sqlite:`` and ``json:`` follow SQLAlchemy: an empty host, then the path as written
    (``sqlite:///rel.db`` relative, ``sqlite:////abs.db`` absolute). ``file:`` follows RFC
    8089: ``file:///abs/path`` or ``file://localhost/abs/path``, always absolute.

    Raises:
        ConfigError: The URL names a host, or three slashes precede a folder that exists at
            the file system's root but not here (``json:///tmp/x.json``: relative to
            SQLAlchemy, absolute to a file URL), so either reading could be the wrong one.
    """
    if scheme == "file":
        if path.lower().startswith("localhost/"):
            path = path[len("localhost") :]
        if not path.startswith("/"):
            raise ConfigError(
                f"The store URL 'file://{path[:200]}' names a host ({path.split('/')[0]!r}); "
                "a store file must be local: file:///abs/path or file://localhost/abs/path."
            )
        return "/" + path.lstrip("/")
    if not path.startswith("/"):
        raise ConfigError(
            f"The store URL '{scheme}://{path[:200]}' names a host ({path.split('/')[0]!r}); a "
            f"{scheme} URL has none. Write {scheme}:///{path[:200]} for a path relative to the "
            f"current folder or {scheme}:////abs/path for an absolute one (SQLAlchemy's "
            "convention), or give the plain path."
        )
    path = path[1:]
    if path.startswith("/"):
        return "/" + path.lstrip("/")
    top = path.split("/")[0]
    here, there = Path(top), Path("/", top)
    if "/" in path and top not in ("", ".", "..") and there.is_dir() and not here.exists():
        raise ConfigError(
            f"The store URL '{scheme}:///{path[:200]}' is ambiguous: three slashes give a "
            f"path relative to the current folder ({top}/ does not exist here), but /{top} "
            f"exists. Write {scheme}:////{path[:200]} for /{path[:200]}, or "
            f"{scheme}:///./{path[:200]} for the relative path."
        )
    return path


def open_store(location: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """Open the store at ``location``, creating it (and its folder) if it does not exist.

    Args:
        location: A path ending in ``.json`` (the guide's JSON array file), any other path
            (a SQLite database), or a URL: ``sqlite:///rel.db?synchronous=full`` (three
            slashes and a relative path, four and an absolute one: ``sqlite:////abs.db``),
            ``json:///rel.json``, ``json:////abs.json``, ``file:///abs/path.db`` (a file URL,
            the backend by the extension), ``postgresql://user@host:5432/dbname?sslmode=require``
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
