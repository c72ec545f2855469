-- Sessions and their timelines. Every stored record (start, event, completion) is an event.
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
