-- The cost reports of a period read this index alone (an index-only scan once the table is
-- vacuumed), never the table; the natural-key lookup of an import is answered from it too.
CREATE INDEX costs_by_time_covering ON costs (timestamp) INCLUDE (
    model, request_type, operation_type, user_name, session_id,
    input_tokens, cached_tokens, output_tokens, reasoning_tokens, total_cost
);
DROP INDEX costs_by_time;
