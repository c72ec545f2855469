-- Sessions and their timelines. Every stored record (start, event, completion) is an event.
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
