"""The chained records: what each kind of stored record contributes to its leaf.

A record is a small JSON object, ``{"v": 1, "kind": ..., ...its fields}``: the session's
immutable fields ride on its start record, its outcome on the record that closes it, and a
cost record carries every column of its row, money as exact decimal strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from json import encoder as _encoder
from typing import Any

from .._util.system import format_time
from ..costs.model import CostRecord, to_pico
from ._canonical import canonical, decode
from .chain import FORMAT

_string = _encoder.encode_basestring  # the escaping of ``_canonical``'s encoder


def outcome(status: Any, end_time: Any, duration: Any) -> dict[str, Any]:
    """A session's outcome as chained. The duration is its exact decimal text (Python's
    shortest round-trip form of the double), like money: every record then takes the fast
    encoding path, and the text reads back as the very same double."""
    seconds = repr(float(duration)) if isinstance(duration, (int, float)) else duration
    return {"status": status, "end_time": end_time, "duration_seconds": seconds}


def outcome_text(status: Any, end_time: Any, duration: Any) -> str:
    """A session's outcome as kept beside the chain row that closes it (canonical JSON).
    The columns as a store writes them (ASCII text, a float) are written out directly, keys
    in their order: the very text :func:`canonical` gives, without building the value."""
    if (type(duration) is float and type(status) is str and type(end_time) is str
            and status.isascii() and end_time.isascii()):  # fmt: skip
        return (
            f'{{"duration_seconds":"{duration!r}","end_time":{_string(end_time)},'
            f'"status":{_string(status)}}}'
        )
    return canonical(outcome(status, end_time, duration)).decode("utf-8")


def event_record(
    kind: str,
    session_id: str,
    event: tuple[Any, Any, Any, Any],
    session: Mapping[str, Any] | None = None,
    outcome: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The chained record of an event row.

    Args:
        kind: ``start``, ``event`` or ``complete``.
        session_id: The session it belongs to.
        event: Its timestamp (the stores' UTC text), type, description and data (a value).
        session: For ``start``, the session's immutable fields (user, operation_type,
            metadata, start_time, host, pid, process).
        outcome: For the record that closes a session, its status, end time and duration.
    """
    timestamp, event_type, description, data = event
    record: dict[str, Any] = {
        "v": FORMAT, "kind": kind, "session_id": session_id, "timestamp": timestamp,
        "type": event_type, "description": description, "data": data,
    }  # fmt: skip
    if session is not None:
        record["session"] = dict(session)
    if outcome is not None:
        record["outcome"] = dict(outcome)
    return record


def session_fields(
    user: Any, operation_type: Any, metadata: Any, start_time: Any, host: Any, pid: Any,
    process: Any,
) -> dict[str, Any]:  # fmt: skip
    """The immutable fields of a session, as its start record carries them (as stored:
    a value edited behind the store's back may be of any JSON type)."""
    return {
        "user": user, "operation_type": operation_type, "metadata": metadata,
        "start_time": start_time, "host": host, "pid": pid, "process": process,
    }  # fmt: skip


def cost_record(
    timestamp: str, session_id: str | None, user: str, operation_type: str | None, model: str,
    request_type: str, tokens: tuple[int, int, int, int], pico: tuple[int, int, int, int],
    source: str, metadata: Any,
) -> dict[str, Any]:  # fmt: skip
    """The chained record of a cost row; money as exact decimal strings of picodollars
    (JCS numbers stop being exact at 2**53, which is only about $9,007 in picodollars)."""
    return {
        "v": FORMAT, "kind": "cost", "timestamp": timestamp, "session_id": session_id,
        "user": user, "operation_type": operation_type, "model": model,
        "request_type": request_type,
        "tokens": dict(zip(("input", "cached_input", "output", "reasoning"), tokens, strict=True)),
        "cost_pusd": {
            name: str(amount) if type(amount) is int else repr(amount)
            for name, amount in zip(("input", "cached_input", "output", "total"), pico, strict=True)
        },
        "price_source": source, "metadata": metadata,
    }  # fmt: skip


def cost_record_of(record: CostRecord) -> dict[str, Any]:
    """The chained record of a :class:`CostRecord` (the memory and JSON stores)."""
    usage, cost = record.usage, record.cost
    return cost_record(
        format_time(record.timestamp), record.session_id, record.user, record.operation_type,
        record.model, record.request_type,
        (usage.input, usage.cached_input, usage.output, usage.reasoning),
        (to_pico(cost.input), to_pico(cost.cached_input), to_pico(cost.output),
         to_pico(cost.total)),
        cost.source, record.metadata,
    )  # fmt: skip


def loads(text: str | None) -> Any:
    """A stored JSON column as a value (``None`` stays ``None``)."""
    if text is None:
        return None
    return {} if text == "{}" else json.loads(text)


class Decoded:
    """Stored JSON columns of one record, decoded, remembering whether all were plain.

    The other columns of a record are strings, whole numbers within 2**53 and ``None`` as
    the stores write them; a value changed behind the store's back to another type takes the
    fast path too, which cannot hide it: ``json.dumps`` gives distinct values distinct text,
    so its bytes differ from those sealed for the value it replaced.
    """

    __slots__ = ("plain",)

    def __init__(self) -> None:
        self.plain = True

    def __call__(self, text: str | None) -> Any:
        if text is None:
            return None
        value, plain = decode(text)
        self.plain = self.plain and plain
        return value
