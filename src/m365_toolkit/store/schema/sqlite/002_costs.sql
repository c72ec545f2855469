-- Costs in exact integer picodollars (1e-12 USD), so sums add without float error.
-- operation_type is copied from the session when the cost is recorded: reports group by
-- it without a join.
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
) WITHOUT ROWID;
