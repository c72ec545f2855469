"""Every statement of the SQL store, written once with ``?`` placeholders and built for a
dialect: the store runs them, and the benchmarks' bare baselines run the very same text."""

from __future__ import annotations

import functools
from typing import Any

from ..sessions.event import Status
from ..sessions.query import SessionQuery
from .dialect import Dialect

SESSION_FIELDS = (
    "session_id", "user_name", "operation_type", "metadata", "start_time", "end_time",
    "status", "duration_seconds", "host", "pid", "process",
)  # fmt: skip
EVENT_FIELDS = ("seq", "session", "timestamp", "type", "description", "data")
COST_FIELDS = (
    "seq", "timestamp", "session_id", "user_name", "operation_type", "model", "request_type",
    "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "input_cost",
    "cached_cost", "output_cost", "total_cost", "price_source", "metadata",
)  # fmt: skip
TOTALS = "requests, input_tokens, cached_tokens, output_tokens, reasoning_tokens, total_cost"
# Exact integer sums (SQLite's total() would add in floating point).
SUMS = (
    "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cached_tokens), 0), "
    "coalesce(sum(output_tokens), 0), coalesce(sum(reasoning_tokens), 0), "
    "coalesce(sum(total_cost), 0)"
)
# Parameters: session_id, requests, input, cached, output, reasoning tokens, total cost.
ADD_TO_TOTALS = (
    f"INSERT INTO cost_sessions (session_id, {TOTALS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET "
    + ", ".join(f"{c} = cost_sessions.{c} + excluded.{c}" for c in TOTALS.split(", "))
    + f" RETURNING {TOTALS}"
)
GROUP_KEYS = {
    "model": "model",
    "type": "request_type",
    "operation": "coalesce(operation_type, '(no session)')",
    "user": "user_name",
    "session": "coalesce(session_id, '(no session)')",
}


class Statements:
    """The statements of a store in one dialect (``q`` builds any other statement)."""

    def __init__(self, dialect: Dialect) -> None:
        d = dialect
        q = self.q = functools.partial(_sql, dialect.placeholder)
        self._time = dialect.time
        self.session_columns = (
            "id, session_id, user_name, operation_type, metadata, "
            f"{d.iso('start_time')}, {d.iso('end_time')}, status, duration_seconds, host, pid, "
            "process"
        )
        self.event_columns = f"session, seq, {d.iso('timestamp')}, type, description, data"
        self.insert_session = q(
            f"INSERT INTO sessions ({', '.join(SESSION_FIELDS)}) VALUES "
            f"({', '.join('?' * len(SESSION_FIELDS))}) "
            "ON CONFLICT (session_id) DO NOTHING RETURNING id"
        )
        self.insert_event = q(
            f"INSERT INTO events ({', '.join(EVENT_FIELDS)}) "
            f"VALUES ({d.next_seq}, ?, ?, ?, ?, ?) RETURNING seq"
        )
        self.append_event = q(
            f"INSERT INTO events ({', '.join(EVENT_FIELDS)}) "
            f"SELECT {d.next_seq}, id, ?, ?, ?, ? FROM sessions "
            f"WHERE session_id = ? AND status = 'active'{d.guard_condition}{d.share_lock} "
            "RETURNING seq"
        )
        self.lock_session = q(
            f"SELECT id, status, start_time FROM sessions WHERE session_id = ?{d.update_lock}"
        )
        self.finish = q(
            "UPDATE sessions SET status = ?, end_time = ?, duration_seconds = ? WHERE id = ?"
        )
        self.status = q("SELECT status FROM sessions WHERE session_id = ?")
        self.get = q(f"SELECT {self.session_columns} FROM sessions WHERE session_id = ?")
        self.timeline = q(f"SELECT {self.event_columns} FROM events WHERE session = ? ORDER BY seq")
        self.timelines = q(
            f"SELECT {self.event_columns} FROM events WHERE {d.any_of('session')} "
            "ORDER BY session, seq"
        )
        self.scan_events = q(
            f"SELECT {self.event_columns} FROM events WHERE session BETWEEN ? AND ? "
            "ORDER BY session, seq"
        )
        self.insert_cost = q(
            f"INSERT INTO costs ({', '.join(COST_FIELDS)}) VALUES "
            f"({d.next_seq}, {', '.join('?' * (len(COST_FIELDS) - 1))}) RETURNING seq"
        )
        self.add_to_totals = q(ADD_TO_TOTALS)
        self.cost_entry_columns = f"{d.iso('timestamp')}, {', '.join(COST_FIELDS[2:])}"
        self.session_totals = q(
            f"SELECT session_id, {TOTALS} FROM cost_sessions WHERE {d.any_of('session_id')}"
        )
        # By the time index; the session test matches a missing session id too.
        self.find_cost = q(
            "SELECT 1 FROM costs WHERE timestamp = ? AND (session_id = ? OR "
            "(session_id IS NULL AND ? IS NULL)) AND model = ? AND request_type = ? "
            "AND input_tokens = ? AND cached_tokens = ? AND output_tokens = ? "
            "AND reasoning_tokens = ? LIMIT 1"
        )
        self.cost_groups = {**GROUP_KEYS, "day": d.day("timestamp")}

    def where(self, query: SessionQuery) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause of a history or statistics query, and its parameters."""
        time = self._time
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("operation_type = ?", query.operation_type),
            ("user_name = ?", query.user),
            ("start_time >= ?", time(query.since) if query.since is not None else None),
            ("start_time < ?", time(query.until) if query.until is not None else None),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if query.status is not None:
            # A literal (from the enum, never user text) lets the planner use the partial index.
            clauses.append(f"status = '{Status(query.status).value}'")
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def history(self, where: str) -> str:
        """Sessions matching ``where`` (parameters, then the limit), newest first."""
        return self.q(
            f"SELECT {self.session_columns} FROM sessions {where} "
            "ORDER BY start_time DESC, id DESC LIMIT ?"
        )

    def statistics(self, where: str) -> str:
        """Counts and duration sums by status, operation type and user."""
        # Grouped by status first: no index starts with it, so SQLite reads the window through
        # sessions_by_start instead of walking all of sessions_by_type to skip a sort.
        return self.q(
            "SELECT operation_type, user_name, status, count(*), "
            "coalesce(sum(duration_seconds), 0), count(duration_seconds) "
            f"FROM sessions {where} GROUP BY status, operation_type, user_name"
        )


@functools.cache
def _sql(placeholder: str, statement: str) -> str:
    """A statement written with ``?`` placeholders, in the driver's own."""
    return statement if placeholder == "?" else statement.replace("?", placeholder)
