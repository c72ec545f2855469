"""Reading import files: the guide's JSON array of records, and JSON lines, as UTF-8 text.

Every way a file can be unreadable is one error naming the file and where in it (``record N``
or ``line N``): UTF-16 and other encodings, invalid JSON, nesting too deep, integers of
thousands of digits, an element that is not an object. Shared by ``import_file`` (every
format) and ``SessionManager.import_json`` (the guide's session log).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CorruptStoreError, ValidationError
from .checks import plain_json

T = TypeVar("T")


def read_array(source: Path) -> list[dict[str, Any]]:
    """The records of a JSON array file, each an object.

    Raises:
        CorruptStoreError: The file cannot be read, is not UTF-8 JSON, or is not an array of
            objects; the message names the file (and the record).
    """
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {exc.strerror or exc}.", str(source)
        ) from exc
    records = parse(decode(raw, source, "the file"), source, "the file")
    if not isinstance(records, list):
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: it is a JSON {json_kind(records)}, not an array "
            "of sessions or cost entries.",
            str(source),
        )
    for index, item in enumerate(records, 1):
        if not isinstance(item, dict):
            raise CorruptStoreError(
                f"Cannot import {str(source)!r}: record {index} is a JSON {json_kind(item)}, "
                "not an object (a session or a cost entry).",
                str(source),
            )
    return records


def numbered(records: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each record with where it is: ``record 1``, ``record 2``, ..."""
    return ((f"record {index}", record) for index, record in enumerate(records, 1))


def read_each(
    records: Iterable[tuple[str, dict[str, Any]]],
    read: Callable[[dict[str, Any]], T],
    source: Path,
) -> Iterator[T]:
    """Each record read as a session or cost record; the first bad one stops the import
    (which then stores nothing) with an error naming it, the field and what was wrong."""
    for where, record in records:
        try:
            # Every string must be storable by every backend, and nesting bounded, before
            # the record is read: the same file is accepted or refused alike on each store.
            plain_json(record)
            yield read(record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise ValidationError(f"Cannot import {str(source)!r}: {where}: {exc}") from None
        except RecursionError:
            raise ValidationError(
                f"Cannot import {str(source)!r}: {where}: it nests too deeply to be read."
            ) from None


def json_lines(lines: Iterable[bytes], source: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each non-blank line as a JSON object, read and decoded one line at a time."""
    for number, line in enumerate(lines, 1):
        where = f"line {number}"
        text = decode(line[3:] if number == 1 and line.startswith(_BOM) else line, source, where)
        if not text.strip():
            continue
        record = parse(text, source, where)
        if not isinstance(record, dict):
            raise CorruptStoreError(
                f"Cannot import {str(source)!r}: {where} is a JSON {json_kind(record)}, not an "
                "object (a session or a cost entry).",
                str(source),
            )
        yield where, record


_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode(raw: bytes, source: Path, where: str) -> str:
    """UTF-8 text (a BOM is allowed): UTF-16 and other encodings are refused by name."""
    if raw.startswith(_UTF16_BOMS) or (len(raw) > 1 and b"\x00" in raw[:2]):
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {where} is UTF-16 text (as PowerShell's Out-File "
            "writes); save it as UTF-8, e.g. with Out-File -Encoding utf8.",
            str(source),
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {where} is not UTF-8 text (byte {exc.start} is "
            f"{raw[exc.start : exc.start + 1]!r}).",
            str(source),
        ) from None


def parse(text: str, source: Path, where: str) -> Any:
    """JSON text as its value; every way it can fail is one error naming ``where``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {where} is not valid JSON ({exc}).", str(source)
        ) from None
    except RecursionError:
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {where} nests too deeply to be read.", str(source)
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {where}: {exc}", str(source)
        ) from None


def json_kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def is_cost_entry(record: dict[str, Any]) -> bool:
    """Whether a record is an entry of a cost log rather than a session."""
    return {"timestamp", "model", "cost"} <= record.keys() and "start_time" not in record
