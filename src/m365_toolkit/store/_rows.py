"""Rows of the SQL backends as the guide's dicts: shared by the SQLite and PostgreSQL stores.

Both backends select the same columns in the same order, with timestamps already formatted
as ISO 8601 text and JSON values as text, so one decoder serves both.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..costs.model import CostTotals, from_pico, usd


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic dicts from rows.

    Each batch of new containers would otherwise trigger collections that find nothing to
    free; on a history of 20,000 events that is a tenth of the time.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _decode_all(records: list[dict[str, Any]], key: str) -> None:
    """Replace each record's JSON text under ``key`` by its value, in one parser call.

    One ``json.loads`` of a joined array costs far less than one call per row, which
    dominates reading thousands of rows.
    """
    if records:
        values = json.loads("[" + ",".join([record[key] for record in records]) + "]")
        for record, value in zip(records, values, strict=True):
            record[key] = value


def session_dicts(rows: Iterable[Sequence[Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Session rows (``SESSION_COLUMNS``) as ``(row id, the guide's session dict)``."""
    sessions, pending = [], []
    for (
        ref,
        session_id,
        user,
        operation_type,
        metadata,
        start,
        end,
        status,
        duration,
        host,
        pid,
        process,
    ) in rows:
        session = {
            "session_id": session_id,
            "user": user,
            "operation_type": operation_type,
            "metadata": metadata,
            "start_time": start,
            "end_time": end,
            "status": status,
            "duration_seconds": duration,
            "host": host,
            "pid": pid,
        }
        if process is not None:
            session["process"] = json.loads(process)
        if metadata == "{}":
            session["metadata"] = {}
        else:
            pending.append(session)
        sessions.append((ref, session))
    _decode_all(pending, "metadata")
    return sessions


def event_dicts(rows: Iterable[Sequence[Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Event rows (``EVENT_COLUMNS``) as ``(session row id, the guide's event dict)``."""
    events, pending = [], []
    for ref, seq, timestamp, event_type, description, data in rows:
        event = {
            "timestamp": timestamp,
            "type": event_type,
            "description": description,
            "data": data,
            "seq": seq,
        }
        if data == "{}":
            event["data"] = {}
        else:
            pending.append(event)
        events.append((ref, event))
    _decode_all(pending, "data")
    return events


def attach_events(
    sessions: list[tuple[int, dict[str, Any]]], events: list[tuple[int, dict[str, Any]]]
) -> None:
    """Give each ``(row id, session)`` its ``events`` from ``(session row id, event)`` pairs
    grouped by session; events of other sessions are left out."""
    timelines: dict[int, list[dict[str, Any]]] = {}
    for ref, session in sessions:
        session["events"] = timelines[ref] = []
    current: int | None = None
    timeline: list[dict[str, Any]] | None = None
    for session_ref, event in events:
        if session_ref != current:  # rows come grouped by session: look up once per group
            current, timeline = session_ref, timelines.get(session_ref)
        if timeline is not None:
            timeline.append(event)


def cost_totals(row: Sequence[Any]) -> CostTotals:
    """``requests, input, cached, output, reasoning tokens, total picodollars`` as totals."""
    requests, input_tokens, cached, output, reasoning, cost = row
    return CostTotals(
        int(requests), int(input_tokens), int(cached), int(output), int(reasoning),
        from_pico(int(cost)),
    )  # fmt: skip


def cost_entry(row: Sequence[Any]) -> dict[str, Any]:
    """A cost row (the backends' entry columns) in the cost log's entry format."""
    (timestamp, session_id, user, operation_type, model, request_type, input_tokens, cached,
     output, reasoning, input_cost, cached_cost, output_cost, total_cost, source,
     metadata) = row  # fmt: skip
    return {
        "timestamp": timestamp,
        "session_id": session_id,
        "user": user,
        "operation_type": operation_type,
        "model": model,
        "request_type": request_type,
        "tokens": {
            "input": input_tokens,
            "cached_input": cached,
            "output": output,
            "reasoning": reasoning,
            "total": input_tokens + output,
        },
        "cost": {
            "input": usd(from_pico(input_cost)),
            "cached_input": usd(from_pico(cached_cost)),
            "output": usd(from_pico(output_cost)),
            "total": usd(from_pico(total_cost)),
        },
        "price_source": source,
        "metadata": json.loads(metadata),
    }
