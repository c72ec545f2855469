"""The SQLite store's file and schema: is it a toolkit store, of a version this code knows;
create or migrate it, switch it to WAL. A mixin of :class:`~.sqlite.SQLiteDialect`."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, CorruptStoreError, SchemaError, StoreError
from ._filelock import os_reason
from ._schema import migrations

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .dialect import Connection

APPLICATION_ID = 0x4D333635  # "M365": marks a SQLite file as a toolkit store
SCHEMA_VERSION = len(migrations("sqlite"))
_HEADER = b"SQLite format 3\x00"
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")


class SQLiteFile:
    """What :class:`~.sqlite.SQLiteDialect` does to a file before it serves queries.

    The methods that raise ``NotImplementedError`` are the dialect's own.
    """

    path: Path
    location: str
    _timeout: float

    def connect(self) -> sqlite3.Connection:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _connect_read_only(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _mapped(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    # -- the file and its schema -------------------------------------------------------------

    def _check_file(self) -> None:
        try:
            self._check_path()
        except OSError as exc:  # a path under a file, a name too long, no permission, ...
            raise StoreError(
                f"Cannot open the session store {self.location!r}: {os_reason(exc)}.",
                self.location,
            ) from exc

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise ConfigError(f"The store path {self.location!r} is a folder; name a file.")
        if self.path.exists():
            try:
                with self.path.open("rb") as file:
                    header = file.read(len(_HEADER))
            except OSError as exc:
                raise CorruptStoreError(
                    f"Cannot read the session store {self.location!r}: {exc.strerror}.",
                    self.location,
                ) from exc
            if header and header != _HEADER:
                raise CorruptStoreError(
                    f"{self.location!r} is not a SQLite database, so it cannot be a session "
                    "store. It was left untouched; move it away or name another store.",
                    self.location,
                )
            # SQLite also writes the -wal and -shm files beside the store.
            self.read_only = bool(header) and not (
                os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
            )
            return
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(
                f"Cannot create the session store {self.location!r}: this user may not write "
                f"in the folder {str(folder)!r}.",
                self.location,
            )

    def _prepare(self) -> None:
        """Check the file is a toolkit store of a known version; create or migrate it."""
        conn = self.connect()
        with self._mapped():
            if self.read_only:
                if self._version(conn) < SCHEMA_VERSION:
                    raise StoreError(
                        f"The session store {self.location!r} is read-only for this user and "
                        "needs an upgrade to this version's schema; open it once as its owner.",
                        self.location,
                    )
                return
            if self._version(conn) < SCHEMA_VERSION:
                with self.transaction():
                    version = self._version(conn)  # another process may have migrated meanwhile
                    for migration in migrations("sqlite")[version:]:
                        for statement in migration.statements():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._enable_wal(conn)

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching modes takes an exclusive lock and fails at once, without the busy
        # handler, while another process switches too: retry until the busy timeout.
        deadline = time.monotonic() + self._timeout
        while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                busy = (exc.sqlite_errorname or "").startswith(_BUSY)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _version(self, conn: sqlite3.Connection) -> int:
        # One statement, so one snapshot: another process may create the schema meanwhile.
        app_id, version, tables = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id()), "
            "(SELECT user_version FROM pragma_user_version()), "
            "(SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        if app_id != APPLICATION_ID:
            if tables:
                raise CorruptStoreError(
                    f"{self.location!r} is a SQLite database of another application, not a "
                    "session store. It was left untouched; name another store.",
                    self.location,
                )
            return 0
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"The session store {self.location!r} has schema version {version}, newer than "
                f"this toolkit understands ({SCHEMA_VERSION}); upgrade m365-security-toolkit.",
                self.location,
            )
        return int(version)


def _folder_problem(path: Path) -> str:
    folder = path.parent
    if not folder.is_dir():
        return f"its folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"this user may not write in its folder {str(folder)!r}"
    return "SQLite cannot open the file"
