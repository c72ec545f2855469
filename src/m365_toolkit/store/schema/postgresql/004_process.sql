-- What tells a session's process apart from a later one with the same pid (JSON: boot,
-- PID namespace, start time), so that only sessions whose process provably ended are reaped.
ALTER TABLE sessions ADD COLUMN process text;
