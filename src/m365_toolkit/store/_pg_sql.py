"""The PostgreSQL schema, its ordered migrations and the statements of the PostgreSQL store.

The tables mirror the SQLite store's, with two differences: times are ``timestamptz`` (read
back as the same fixed-width ISO 8601 text) and the ``user`` column is ``user_name``, since
``user`` is a reserved word in PostgreSQL (``SELECT user`` would silently return the role).
"""

from __future__ import annotations

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

# MIGRATIONS[n] takes a store from schema version n to n + 1. Append; never edit one that
# has shipped. Each runs in the one transaction that also records the new version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id       text   NOT NULL UNIQUE,
        user_name        text   NOT NULL,
        operation_type   text   NOT NULL,
        metadata         text   NOT NULL,
        start_time       timestamptz NOT NULL,
        end_time         timestamptz,
        status           text   NOT NULL,
        duration_seconds double precision,
        host             text,
        pid              bigint
    );
    CREATE INDEX sessions_by_start ON sessions (start_time, id);
    CREATE INDEX sessions_by_user ON sessions (user_name, start_time);
    CREATE INDEX sessions_by_type ON sessions (operation_type, start_time);
    CREATE INDEX sessions_active ON sessions (start_time) WHERE status = 'active';
    -- Every stored record (start, event, completion) is an event. seq is store-wide and,
    -- drawn from a sequence, never reused even after old sessions are deleted.
    CREATE TABLE events (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session     bigint NOT NULL REFERENCES sessions (id),
        timestamp   timestamptz NOT NULL,
        type        text   NOT NULL,
        description text   NOT NULL,
        data        text   NOT NULL
    );
    CREATE INDEX events_by_session ON events (session, seq);
    """,
    # Costs in exact integer picodollars (1e-12 USD); sum() of bigint is numeric, so totals
    # never overflow or round. operation_type is copied from the session when recorded.
    """
    CREATE TABLE costs (
        seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        timestamp        timestamptz NOT NULL,
        session_id       text,
        user_name        text   NOT NULL,
        operation_type   text,
        model            text   NOT NULL,
        request_type     text   NOT NULL,
        input_tokens     bigint NOT NULL,
        cached_tokens    bigint NOT NULL,
        output_tokens    bigint NOT NULL,
        reasoning_tokens bigint NOT NULL,
        input_cost       bigint NOT NULL,
        cached_cost      bigint NOT NULL,
        output_cost      bigint NOT NULL,
        total_cost       bigint NOT NULL,
        price_source     text   NOT NULL,
        metadata         text   NOT NULL
    );
    CREATE INDEX costs_by_time ON costs (timestamp);
    CREATE INDEX costs_by_session ON costs (session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX costs_by_user ON costs (user_name, timestamp);
    -- Running totals of each session with costs, kept by the statement that adds a cost.
    CREATE TABLE cost_sessions (
        session_id       text   PRIMARY KEY,
        requests         bigint NOT NULL,
        input_tokens     bigint NOT NULL,
        cached_tokens    bigint NOT NULL,
        output_tokens    bigint NOT NULL,
        reasoning_tokens bigint NOT NULL,
        total_cost       bigint NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def iso(column: str) -> str:
    """A timestamptz column as the stores' text: ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


SESSION_COLUMNS = (
    "id, session_id, user_name, operation_type, metadata, "
    f"{iso('start_time')}, {iso('end_time')}, status, duration_seconds, host, pid"
)
INSERT_SESSION = (
    "INSERT INTO sessions (session_id, user_name, operation_type, metadata, start_time, "
    "end_time, status, duration_seconds, host, pid) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
INSERT_EVENT = (
    "INSERT INTO events (session, timestamp, type, description, data) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING seq"
)
# Bulk import: a batch of sessions as one array per column, inserted in the order given
# (so their ids ascend in it), skipping ids already stored; then their events by COPY,
# which numbers rows in the order written.
IMPORT_SESSIONS = (
    "INSERT INTO sessions (session_id, user_name, operation_type, metadata, start_time, "
    "end_time, status, duration_seconds, host, pid) "
    "SELECT session_id, user_name, operation_type, metadata, start_time, end_time, status, "
    "duration_seconds, host, pid FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::timestamptz[], %s::timestamptz[], %s::text[], %s::float8[], %s::text[], %s::bigint[]) "
    "WITH ORDINALITY AS batch (session_id, user_name, operation_type, metadata, start_time, "
    "end_time, status, duration_seconds, host, pid, position) ORDER BY position "
    "ON CONFLICT (session_id) DO NOTHING RETURNING id, session_id"
)
COPY_EVENTS = "COPY events (session, timestamp, type, description, data) FROM STDIN"
# FOR SHARE makes a concurrent completion (which locks the row FOR UPDATE) wait for this
# insert, or this insert re-check the status after it: never an event after 'complete'.
APPEND_EVENT = (
    "INSERT INTO events (session, timestamp, type, description, data) "
    "SELECT id, %s, %s, %s, %s FROM sessions WHERE session_id = %s AND status = 'active' "
    "FOR SHARE RETURNING seq"
)
LOCK_SESSION = "SELECT id, status, start_time FROM sessions WHERE session_id = %s FOR UPDATE"
FINISH_SESSION = (
    "UPDATE sessions SET status = %s, end_time = %s, duration_seconds = %s WHERE id = %s"
)
SESSION_STATUS = "SELECT status FROM sessions WHERE session_id = %s"
EVENT_COLUMNS = f"session, seq, {iso('timestamp')}, type, description, data"
STATISTICS = (
    "SELECT operation_type, user_name, status, count(*), coalesce(sum(duration_seconds), 0), "
    "count(duration_seconds) FROM sessions {where} GROUP BY status, operation_type, user_name"
)

COST_COLUMNS = (
    "session_id, user_name, operation_type, model, request_type, input_tokens, cached_tokens, "
    "output_tokens, reasoning_tokens, input_cost, cached_cost, output_cost, total_cost, "
    "price_source, metadata"
)
ENTRY_COLUMNS = f"{iso('timestamp')}, {COST_COLUMNS}"
INSERT_COST = (
    f"INSERT INTO costs (timestamp, {COST_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
SESSION_TOTALS_COLUMNS = (
    "requests, input_tokens, cached_tokens, output_tokens, reasoning_tokens, total_cost"
)
# The cost and its session's running totals in one statement (so one atomic commit), which
# returns the totals as they are after it, whatever other writers do meanwhile.
ADD_SESSION_COST = f"""
    WITH added AS ({INSERT_COST} RETURNING session_id, input_tokens, cached_tokens,
                    output_tokens, reasoning_tokens, total_cost)
    INSERT INTO cost_sessions AS t (session_id, {SESSION_TOTALS_COLUMNS})
    SELECT session_id, 1, input_tokens, cached_tokens, output_tokens, reasoning_tokens,
           total_cost FROM added
    ON CONFLICT (session_id) DO UPDATE SET
        requests = t.requests + 1,
        input_tokens = t.input_tokens + excluded.input_tokens,
        cached_tokens = t.cached_tokens + excluded.cached_tokens,
        output_tokens = t.output_tokens + excluded.output_tokens,
        reasoning_tokens = t.reasoning_tokens + excluded.reasoning_tokens,
        total_cost = t.total_cost + excluded.total_cost
    RETURNING {SESSION_TOTALS_COLUMNS}
"""
_COST_NAMES = f"timestamp, {COST_COLUMNS}"
_COST_TYPES = (
    "timestamptz", "text", "text", "text", "text", "text", "bigint", "bigint", "bigint",
    "bigint", "bigint", "bigint", "bigint", "bigint", "text", "text",
)  # fmt: skip
# Bulk import: a batch of records (no two with one natural key) as one array per column;
# those whose natural key is not stored yet are added in the order given, and the running
# totals of their sessions raised by their sums, in one statement. Returns how many it added.
IMPORT_COSTS = f"""
    WITH batch AS (
        SELECT * FROM unnest({", ".join(f"%s::{kind}[]" for kind in _COST_TYPES)})
        WITH ORDINALITY AS b ({_COST_NAMES}, position)
    ), added AS (
        INSERT INTO costs ({_COST_NAMES})
        SELECT {_COST_NAMES} FROM batch b WHERE NOT EXISTS (
            SELECT FROM costs c WHERE c.timestamp = b.timestamp
            AND c.session_id IS NOT DISTINCT FROM b.session_id AND c.model = b.model
            AND c.request_type = b.request_type AND c.input_tokens = b.input_tokens
            AND c.cached_tokens = b.cached_tokens AND c.output_tokens = b.output_tokens
            AND c.reasoning_tokens = b.reasoning_tokens)
        ORDER BY position
        RETURNING session_id, input_tokens, cached_tokens, output_tokens, reasoning_tokens,
                  total_cost
    ), totals AS (
        INSERT INTO cost_sessions AS t (session_id, {SESSION_TOTALS_COLUMNS})
        SELECT session_id, count(*), sum(input_tokens), sum(cached_tokens), sum(output_tokens),
               sum(reasoning_tokens), sum(total_cost)
        FROM added WHERE session_id IS NOT NULL GROUP BY session_id
        ON CONFLICT (session_id) DO UPDATE SET
            requests = t.requests + excluded.requests,
            input_tokens = t.input_tokens + excluded.input_tokens,
            cached_tokens = t.cached_tokens + excluded.cached_tokens,
            output_tokens = t.output_tokens + excluded.output_tokens,
            reasoning_tokens = t.reasoning_tokens + excluded.reasoning_tokens,
            total_cost = t.total_cost + excluded.total_cost
    )
    SELECT count(*) FROM added
"""
COST_TOTALS = (
    "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_tokens), 0), "
    "coalesce(sum(output_tokens), 0), coalesce(sum(reasoning_tokens), 0), "
    "coalesce(sum(total_cost)::numeric, 0)"
)
SESSION_COST_TOTALS = (
    f"SELECT session_id, {SESSION_TOTALS_COLUMNS} FROM cost_sessions WHERE session_id = ANY(%s)"
)
# Groups order as SQLite's do (byte order, "C"), whatever the database's collation.
COST_GROUP_KEYS = {
    "model": "model",
    "type": "request_type",
    "operation": "coalesce(operation_type, '(no session)')",
    "user": "user_name",
    "day": "to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
COST_REPORT = (
    'SELECT {key} COLLATE "C" AS grp, ' + COST_TOTALS + " FROM costs {where} GROUP BY grp "
    "ORDER BY coalesce(sum(total_cost)::numeric, 0) DESC, grp"
)
