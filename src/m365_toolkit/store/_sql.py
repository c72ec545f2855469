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
    # Costs in exact integer picodollars (1e-12 USD), so SUM() adds without float error.
    # operation_type is copied from the session when the cost is recorded: reports group by
    # it without a join.
    """
    CREATE TABLE costs (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp      TEXT    NOT NULL,
        session_id     TEXT,
        user           TEXT    NOT NULL,
        operation_type TEXT,
        model          TEXT    NOT NULL,
        request_type   TEXT    NOT NULL,
        input_tokens   INTEGER NOT NULL,
        cached_tokens  INTEGER NOT NULL,
        output_tokens  INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        input_cost     INTEGER NOT NULL,
        cached_cost    INTEGER NOT NULL,
        output_cost    INTEGER NOT NULL,
        total_cost     INTEGER NOT NULL,
        price_source   TEXT    NOT NULL,
        metadata       TEXT    NOT NULL
    );
    CREATE INDEX costs_by_time ON costs (timestamp);
    CREATE INDEX costs_by_session ON costs (session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX costs_by_user ON costs (user, timestamp);
    -- Running totals of each session with costs, kept by the statement that adds a cost
    -- (ADD_SESSION_COST, in the same transaction): reading a session's totals on every
    -- tracked request stays one row instead of a scan of all its costs.
    CREATE TABLE cost_sessions (
        session_id       TEXT    PRIMARY KEY,
        requests         INTEGER NOT NULL,
        input_tokens     INTEGER NOT NULL,
        cached_tokens    INTEGER NOT NULL,
        output_tokens    INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        total_cost       INTEGER NOT NULL
    ) WITHOUT ROWID
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

INSERT_COST = (
    "INSERT INTO costs (timestamp, session_id, user, operation_type, model, request_type, "
    "input_tokens, cached_tokens, output_tokens, reasoning_tokens, input_cost, cached_cost, "
    "output_cost, total_cost, price_source, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# sum(), not total(): integer sums stay exact (total() would add in floating point).
COST_TOTALS = (
    "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_tokens), 0), "
    "coalesce(sum(output_tokens), 0), coalesce(sum(reasoning_tokens), 0), "
    "coalesce(sum(total_cost), 0)"
)
SESSION_TOTALS_COLUMNS = (
    "requests, input_tokens, cached_tokens, output_tokens, reasoning_tokens, total_cost"
)
# Parameters: session_id, input_tokens, cached_tokens, output_tokens, reasoning_tokens,
# total_cost of the cost just added.
ADD_SESSION_COST = (
    f"INSERT INTO cost_sessions (session_id, {SESSION_TOTALS_COLUMNS}) "
    "VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (session_id) DO UPDATE SET "
    "requests = requests + 1, input_tokens = input_tokens + ?2, "
    "cached_tokens = cached_tokens + ?3, output_tokens = output_tokens + ?4, "
    "reasoning_tokens = reasoning_tokens + ?5, total_cost = total_cost + ?6"
)
SESSION_COST_TOTALS = f"SELECT {SESSION_TOTALS_COLUMNS} FROM cost_sessions WHERE session_id = ?"
COST_GROUP_KEYS = {
    "model": "model",
    "type": "request_type",
    "operation": "coalesce(operation_type, '(no session)')",
    "user": "user",
    "day": "substr(timestamp, 1, 10)",
}
