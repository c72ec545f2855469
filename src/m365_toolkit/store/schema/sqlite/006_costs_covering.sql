-- The cost reports of a period (totals per model, request type, operation, user or day since
-- a time) read this one index in time order, never the table: costs_by_time made SQLite look
-- up every row of the window in the table, in whatever order the rows were written. The
-- natural-key lookup of an import (timestamp, session, model, tokens) is answered from it too.
CREATE INDEX costs_by_time_covering ON costs (
    timestamp, model, request_type, operation_type, user_name, session_id,
    input_tokens, cached_tokens, output_tokens, reasoning_tokens, total_cost
);
DROP INDEX costs_by_time;
