"""Verify's fast path: a walked row's canonical bytes, assembled straight from its columns.

:func:`~._canonical.canonical` of a rebuilt record costs a dictionary per record, a decode
of every JSON column into values, a walk over them to prove them plain and an encoder built
per call. On the rows the stores write, the result is always the same text assembled from
the columns: :class:`Leaves` writes that text directly, with the keys in their sorted
order, strings escaped by the very function the fast path's encoder uses and each JSON
column reduced once to its canonical text (kept in a bounded memo: a process's metadata, an
empty object and repeated event data come back many times).

It only answers where its text is provably the one ``canonical(record)`` gives: every column
of the type the stores write (text, whole numbers; ``None`` where a column may be null) and
every JSON column *plain* (:mod:`._canonical`): decoded without a float, ``NaN`` or
``Infinity`` and without an integer of more than 15 characters (all within 2**53), from ASCII
text without a ``\\u`` escape (so no key can be non-ASCII). Anything else (a column damaged
behind the store's back, a non-ASCII or non-plain value) gets ``None``, and the caller
rebuilds the record and takes the general path, which decides as it always did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json import encoder as _encoder
from typing import Any

from ._canonical import _dumps
from .chain import FORMAT

MEMO = 4096  # JSON texts remembered per walk; then the memo starts over
_END = f',"v":{FORMAT}}}'


class _NotPlain(Exception):
    """Raised by the decoder's hooks: the text holds a value that is not plain."""


def _refuse(_text: str) -> Any:
    raise _NotPlain


def _small_int(text: str) -> int:
    if len(text) > 15:  # may reach 2**53: left to the general path
        raise _NotPlain
    return int(text)


# The decoder's C scanner, called directly (``decode`` adds two regular expression matches
# for surrounding space): a text with any around it is left to the general path.
_decoder: Any = json.JSONDecoder(parse_float=_refuse, parse_int=_small_int, parse_constant=_refuse)
_scan = _decoder.scan_once
_string = _encoder.encode_basestring  # the escaping of ``_canonical``'s encoder


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# ``_canonical``'s fast encoder without its per-call set-up: the same C encoder, options and
# string escaping, so the same text. No circular check: these values come from the decoder.
_make = getattr(_encoder, "c_make_encoder", None)
_c_encode: Any = (
    None if _make is None else _make(None, _not_json, _string, None, ":", ",", True, False, False)
)


def _plain_text(value: Any) -> str:
    if _c_encode is None:  # pragma: no cover - an interpreter without json's C speedups
        return _dumps(value)
    return "".join(_c_encode(value, 0))


def _text(value: Any) -> str:
    """A text column as JSON; anything else is left to the general path."""
    if type(value) is str:
        return _string(value)
    if value is None:
        return "null"
    raise _NotPlain


class Leaves:
    """Canonical bytes of the records of walked rows (one instance per walk)."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[str, str] = {"{}": "{}"}

    def json(self, text: Any) -> str:
        """The canonical text of a stored JSON column's value (raises :class:`_NotPlain`
        unless it is plain, see the module docstring)."""
        if type(text) is not str:
            if text is None:
                return "null"
            raise _NotPlain
        memo = self._memo
        found = memo.get(text)
        if found is not None:
            return found
        if not text.isascii() or "\\u" in text:
            raise _NotPlain
        try:
            value, end = _scan(text, 0)
        except (StopIteration, ValueError, RecursionError) as exc:
            raise _NotPlain from exc
        if end != len(text):
            raise _NotPlain
        found = _plain_text(value)
        if len(memo) >= MEMO:
            memo.clear()
        memo[text] = found
        return found

    def event(self, kind: str, outcome: Any, columns: Sequence[Any]) -> bytes | None:
        """An event record's bytes (``kind`` start, event or complete; ``outcome`` the text
        kept beside its chain row; ``columns`` the walk's event then session columns)."""
        _, session_id, timestamp, event_type, description = columns[:5]
        if (type(session_id) is not str or type(timestamp) is not str
                or type(event_type) is not str or type(description) is not str):  # fmt: skip
            return None  # damaged (or its session gone): the general path says how
        try:
            parts = ['{"data":', self.json(columns[5]), ',"description":', _string(description),
                     ',"kind":"', kind, '"']  # fmt: skip
            if outcome is not None:
                closed = self.json(outcome)
                if closed[0] != "{":  # not an object: the general path says what it is
                    return None
                parts += (',"outcome":', closed)
            if kind == "start":
                user, operation, metadata, start, host, pid, process = columns[6:13]
                if pid is not None and type(pid) is not int:
                    return None
                parts += (
                    ',"session":{"host":', _text(host), ',"metadata":', self.json(metadata),
                    ',"operation_type":', _text(operation),
                    ',"pid":', "null" if pid is None else str(pid),
                    ',"process":', self.json(process), ',"start_time":', _text(start),
                    ',"user":', _text(user), "}",
                )  # fmt: skip
            parts += (',"session_id":', _string(session_id), ',"timestamp":', _string(timestamp),
                      ',"type":', _string(event_type), _END)  # fmt: skip
            return "".join(parts).encode("utf-8")
        except (_NotPlain, UnicodeEncodeError):
            return None

    def cost(self, columns: Sequence[Any]) -> bytes | None:
        """A cost record's bytes (``columns``: the walk's cost columns, ``k.seq`` first)."""
        (_, timestamp, session_id, user, operation, model, request, *numbers, source,
         metadata) = columns  # fmt: skip
        for number in numbers:
            if type(number) is not int:
                return None
        tokens_in, cached, tokens_out, reasoning, cost_in, cost_cached, cost_out, total = numbers
        try:
            return "".join((
                '{"cost_pusd":{"cached_input":"', str(cost_cached), '","input":"', str(cost_in),
                '","output":"', str(cost_out), '","total":"', str(total),
                '"},"kind":"cost","metadata":', self.json(metadata), ',"model":', _text(model),
                ',"operation_type":', _text(operation), ',"price_source":', _text(source),
                ',"request_type":', _text(request), ',"session_id":', _text(session_id),
                ',"timestamp":', _text(timestamp), ',"tokens":{"cached_input":', str(cached),
                ',"input":', str(tokens_in), ',"output":', str(tokens_out),
                ',"reasoning":', str(reasoning), "},", '"user":', _text(user), _END,
            )).encode("utf-8")  # fmt: skip
        except (_NotPlain, UnicodeEncodeError):
            return None
