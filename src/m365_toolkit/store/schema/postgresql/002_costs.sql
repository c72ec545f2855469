-- Costs in exact integer picodollars (1e-12 USD), so sums add without float error.
-- operation_type is copied from the session when the cost is recorded: reports group by
-- it without a join.
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
