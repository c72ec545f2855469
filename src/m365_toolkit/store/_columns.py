"""The fast path of reading rows: whole columns checked and decoded at once, in C.

A history of 20,000 events spent most of its time in Python code run once per row: unpack
the row, build its dict, decode its JSON, check its types. Here each check runs over a whole
column inside one C call: ``str.join`` refuses anything but text; ``sum`` refuses anything
but numbers, and its result is an int only if no float was among them;
``map(datetime.fromisoformat, ...)`` fails on any text that is no ISO 8601 timestamp. Every
JSON text of a column is decoded by one parser call, and only the dicts are built in Python,
one per row, from their zipped columns.

Each function returns ``None`` as soon as one value fails a check (or cannot be decoded):
the caller then reads the rows one by one (:mod:`._rows`), which names the damaged ones.
The checks are those of :func:`._rows.session_problem` and :func:`._rows.event_problem` for
the values a database driver returns (text, integers, floats, bytes, ``None``).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial
from itertools import compress, islice
from operator import is_not, ne
from typing import Any

from ..sessions.event import Status

_STATUSES = frozenset(status.value for status in Status)
_FAILED = (TypeError, ValueError, OverflowError, RecursionError)
_consume = deque[Any](maxlen=0).extend  # runs an iterator to its end, in C
_given = partial(is_not, None)
_fromiso = datetime.fromisoformat
_DICT = frozenset((dict,))


def sessions(rows: list[Sequence[Any]]) -> list[tuple[int, dict[str, Any]]] | None:
    """Session rows (``SESSION_COLUMNS``) as ``(row id, the guide's session dict)``, or
    ``None`` if one of them is damaged (``rows`` is left as it was; otherwise emptied, as
    by :func:`timelines`)."""
    if not rows:
        return []
    try:
        (refs, ids, users, operations, metadata, starts, ends, statuses, durations, hosts,
         pids, processes) = zip(*rows, strict=True)  # fmt: skip
        "".join(ids), "".join(users), "".join(operations), "".join(starts)
        "".join(filter(_given, ends)), "".join(filter(_given, hosts))
        _consume(map(_fromiso, starts))
        _consume(map(_fromiso, filter(_given, ends)))
        seconds = tuple(filter(_given, durations))
        values = _objects(metadata)
        # A NaN or an infinity makes the sum NaN or infinite; then the minimum tells the sign.
        if (
            values is None
            or not _integers(refs)
            or not _integers(filter(_given, pids))
            or not _STATUSES.issuperset(statuses)
            or (seconds and not (0 <= sum(seconds, 0.0) < math.inf and min(seconds) >= 0))
        ):
            return None
    except _FAILED:
        return None
    del metadata  # its texts freed with the rows: their memory serves the dicts
    rows.clear()
    columns = (ids, users, operations, values, starts, ends, statuses, durations, hosts, pids)
    shared = _process_copies(processes)
    if shared is None:
        found = [
            {"session_id": session_id, "user": user, "operation_type": operation,
             "metadata": meta, "start_time": start, "end_time": end, "status": status,
             "duration_seconds": duration, "host": host, "pid": pid}
            for session_id, user, operation, meta, start, end, status, duration, host, pid
            in zip(*columns, strict=True)
        ]  # fmt: skip
        _add_processes(found, processes)
    else:  # every session has one: built in with the rest, not added (which grows each dict)
        found = [
            {"session_id": session_id, "user": user, "operation_type": operation,
             "metadata": meta, "start_time": start, "end_time": end, "status": status,
             "duration_seconds": duration, "host": host, "pid": pid, "process": process}
            for session_id, user, operation, meta, start, end, status, duration, host, pid,
            process in zip(*columns, shared, strict=True)
        ]  # fmt: skip
    return list(zip(refs, found, strict=True))


def _process_copies(processes: tuple[Any, ...]) -> list[dict[str, Any]] | None:
    """Each session's process identity, decoded, a copy of its own per session, when every
    session has one of plain values (the common case; each distinct text decoded once);
    ``None`` otherwise, for :func:`_add_processes`."""
    decoded: dict[str, dict[str, Any]] = {}
    for text in set(processes):
        try:
            value = json.loads(text)
        except _FAILED:  # None (no identity) is a TypeError
            return None
        if type(value) is not dict or not all(map(_scalar, value.values())):
            return None
        decoded[text] = value
    return list(map(dict.copy, map(decoded.__getitem__, processes)))


def _add_processes(found: list[dict[str, Any]], processes: tuple[Any, ...]) -> None:
    """Each session's ``process`` (the JSON text of its process identity), decoded. Most
    sessions share one of a few identities: each text is decoded once, and every session
    gets a copy of its own. A text that is not JSON leaves the key out, as if never stored."""
    decoded: dict[Any, Any] = {}
    for text in set(processes):
        if text is None:
            continue
        try:
            decoded[text] = value = json.loads(text)
        except _FAILED:
            continue
        if type(value) is not dict or not all(map(_scalar, value.values())):
            decoded[text] = None  # nested values: decoded once per session, shared by none
    for session, text in zip(found, processes, strict=True):
        if text is None or text not in decoded:
            continue
        value = decoded[text]
        session["process"] = dict(value) if value is not None else json.loads(text)


def _scalar(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool)


def _integers(values: Iterable[Any]) -> bool:
    """Whether every value is an integer (a driver's: never a bool). Their sum is an int
    unless one of them is a float; text or bytes fail to add."""
    return type(sum(values, 0)) is int


def timelines(rows: list[Sequence[Any]]) -> dict[Any, list[dict[str, Any]]] | None:
    """Event rows (``EVENT_COLUMNS``, ordered by session) as each session row id's list of
    the guide's event dicts, or ``None`` if one of them is damaged (``rows`` is left as it
    was). Otherwise ``rows`` is emptied once its columns are checked: the memory of the row
    tuples then serves the dicts."""
    if not rows:
        return {}
    try:
        refs, seqs, stamps, types, descriptions, data = zip(*rows, strict=True)
        "".join(types), "".join(descriptions)
        _consume(map(_fromiso, stamps))
        values = _objects(data)
        if values is None or not _integers(seqs):
            return None
        # The rows come ordered by session, so each session's events are one run of rows:
        # these are the rows where the next run starts.
        starts = list(compress(range(1, len(refs)), map(ne, refs, islice(refs, 1, None))))
    except _FAILED:
        return None
    del data  # its texts freed with the rows, before the dicts are made
    rows.clear()
    events = [
        {"timestamp": timestamp, "type": kind, "description": description, "data": value,
         "seq": seq}
        for timestamp, kind, description, value, seq
        in zip(stamps, types, descriptions, values, seqs, strict=True)
    ]  # fmt: skip
    found = {}
    start = 0
    for end in starts:
        found[refs[start]] = events[start:end]
        start = end
    found[refs[start]] = events[start:]
    return found


def _objects(texts: tuple[Any, ...]) -> list[Any] | None:
    """JSON texts decoded, in one parser call; ``None`` unless each is one JSON object."""
    values: list[Any] = json.loads("[" + ",".join(texts) + "]")
    if len(values) != len(texts) or not _DICT.issuperset(map(type, values)):
        return None  # text like `1,2` parses as two values
    return values
