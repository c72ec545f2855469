"""The PostgreSQL store's schema: version table and advisory-locked, ordered migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, CorruptStoreError, SchemaError
from ._schema import migrations

if TYPE_CHECKING:  # psycopg is imported, or reported missing, by postgres.py
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]
SCHEMA_VERSION = len(migrations("postgresql"))

# Both halves of the advisory lock key: this constant and the hash of the schema migrated, so
# stores in different schemas of one database migrate without waiting for each other.
MIGRATION_LOCK = 0x4D333635  # "M365"

VERSION_TABLE = "toolkit_schema_version"
CREATE_VERSION_TABLE = f"""
    CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        version  integer NOT NULL
    )
"""
SET_VERSION = (
    f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s) "
    "ON CONFLICT (only_row) DO UPDATE SET version = excluded.version"
)
# One statement, so one snapshot. Tables are looked up in the current schema only (a store
# in another schema further down the search_path must not count as this one), and through
# pg_class, which a query reads as of its own snapshot: a name lookup (to_regclass) may
# answer from this backend's cache, which can still say "no such table" after another
# process created it while we waited for the migration lock.
READ_STATE = f"""
    SELECT current_schema(),
           EXISTS (SELECT FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = current_schema() AND c.relname = '{VERSION_TABLE}'),
           EXISTS (SELECT FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = current_schema() AND c.relname = 'sessions')
"""
READ_VERSION = f"SELECT version FROM {VERSION_TABLE}"
LOCK_MIGRATIONS = "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))"


def migrate(conn: Connection, location: str) -> None:
    """Check the schema is a toolkit store of a known version; create or migrate it.

    Processes starting together on an empty database serialise on an advisory lock held
    by the migrating transaction; each re-reads the version under it.
    """
    if _version(conn, location) == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute(LOCK_MIGRATIONS, (MIGRATION_LOCK,))
        version = _version(conn, location)
        conn.execute(CREATE_VERSION_TABLE)
        for migration in migrations("postgresql")[version:]:
            conn.execute(migration.script)
        conn.execute(SET_VERSION, (SCHEMA_VERSION,))


def _version(conn: Connection, location: str) -> int:
    schema, versioned, has_sessions = _one(conn.execute(READ_STATE))
    if schema is None:
        raise ConfigError(
            f"The search_path of {location!r} names no schema that exists; create "
            "it (CREATE SCHEMA ...) or fix the options=-csearch_path=... of the URL."
        )
    if not versioned:
        if has_sessions:
            raise CorruptStoreError(
                f"Schema {schema!r} of {location!r} has a sessions table that the "
                "toolkit did not create. It was left untouched; name another schema.",
                location,
            )
        return 0
    row = conn.execute(READ_VERSION).fetchone()
    version = int(row[0]) if row is not None else 0
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"The session store {location!r} has schema version {version}, newer than "
            f"this toolkit understands ({SCHEMA_VERSION}); upgrade m365-security-toolkit.",
            location,
        )
    return version


def _one(cursor: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None
    return row
