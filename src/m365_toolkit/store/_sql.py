"""The SQLite schema and its ordered migrations."""

from __future__ import annotations

APPLICATION_ID = 0x4D333635  # "M365": marks a SQLite file as a toolkit store

# MIGRATIONS[n] takes a store from schema version n to n + 1. Append; never edit one that
# has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id               INTEGER PRIMARY KEY,
        session_id       TEXT    NOT NULL UNIQUE,
        user             TEXT    NOT NULL,
        operation_type   TEXT    NOT NULL,
        metadata         TEXT    NOT NULL,
        start_time       TEXT    NOT NULL,
        end_time         TEXT,
        status           TEXT    NOT NULL,
        duration_seconds REAL,
        host             TEXT,
        pid              INTEGER
    );
    CREATE INDEX sessions_by_start ON sessions (start_time);
    CREATE INDEX sessions_by_user ON sessions (user, start_time);
    CREATE INDEX sessions_by_type ON sessions (operation_type, start_time);
    CREATE INDEX sessions_active ON sessions (start_time) WHERE status = 'active';
    -- Every stored record (start, event, completion) is an event. seq is store-wide and,
    -- being AUTOINCREMENT, never reused even after old sessions are deleted.
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        session     INTEGER NOT NULL REFERENCES sessions (id),
        timestamp   TEXT    NOT NULL,
        type        TEXT    NOT NULL,
        description TEXT    NOT NULL,
        data        TEXT    NOT NULL
    );
    CREATE INDEX events_by_session ON events (session, seq);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

SESSION_COLUMNS = (
    "id, session_id, user, operation_type, metadata, start_time, end_time, status, "
    "duration_seconds, host, pid"
)
INSERT_SESSION = (
    "INSERT INTO sessions (session_id, user, operation_type, metadata, start_time, end_time, "
    "status, duration_seconds, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT = (
    "INSERT INTO events (session, timestamp, type, description, data) VALUES (?, ?, ?, ?, ?)"
)
APPEND_EVENT = (
    "INSERT INTO events (session, timestamp, type, description, data) "
    "SELECT id, ?, ?, ?, ? FROM sessions WHERE session_id = ? AND status = 'active'"
)
EVENT_COLUMNS = "session, seq, timestamp, type, description, data"
# Grouped by status first: no index starts with it, so SQLite reads the window through
# sessions_by_start instead of walking all of sessions_by_type to skip a sort (3x slower).
STATISTICS = (
    "SELECT operation_type, user, status, count(*), total(duration_seconds), "
    "count(duration_seconds) FROM sessions {where} GROUP BY status, operation_type, user"
)
