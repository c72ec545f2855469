"""Moving data: streaming export, import of session and cost files, copying between stores.

Everything goes through the :class:`~m365_toolkit.store.Store` protocol (every backend),
reading batch by batch (:meth:`Store.scan`): memory stays flat however large the store."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import IO, Any, TypeVar

from .._util.atomic import atomic_text_file, refuse_store_files
from .._util.importfile import is_cost_entry, json_lines, numbered, read_array, read_each
from .._util.values import csv_cell
from ..costs.model import CostRecord
from ..errors import CorruptStoreError, ValidationError
from ..sessions.model import Session
from ..store import SCAN_BATCH, Store

T = TypeVar("T")
EXPORT_FORMATS = ("json", "jsonl", "csv")
IMPORT_FORMATS = ("auto", "json", "jsonl", "costs")
CSV_COLUMNS = (
    "session_id", "user", "operation_type", "status", "start_time", "end_time",
    "duration_seconds", "host", "pid", "metadata", "events",
)  # fmt: skip


# -- export ----------------------------------------------------------------------------------


def export_sessions(
    store: Store,
    out: IO[str],
    fmt: str = "json",
    *,
    since: datetime | None = None,
    batch: int = SCAN_BATCH,
) -> int:
    """Write every session (started at or after ``since``) to ``out``; return how many.

    Formats: ``json`` is the guide's storage format (a JSON array of sessions with their
    events), ``jsonl`` one such session per line, ``csv`` one row per session without its
    events (``metadata`` as JSON text, ``events`` as their number; text cells that a
    spreadsheet would run as a formula get a leading ``'``, see
    :func:`~m365_toolkit._util.values.csv_cell`). Sessions come in the
    order they were stored, one batch in memory at a time.

    Raises:
        ValidationError: ``fmt`` is not one of :data:`EXPORT_FORMATS`.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(f"Cannot export as {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}.")
    count = 0
    # RFC 4180 line ends: the csv module quotes a cell holding a character of the line
    # terminator only, so with "\n" alone a bare "\r" in a value would split its row.
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    elif fmt == "json":
        out.write("[")
    for sessions in store.scan(since, batch):
        for session in sessions:
            if writer is not None:
                writer.writerow(_csv_row(session))
            elif fmt == "jsonl":
                out.write(json.dumps(session, ensure_ascii=False) + "\n")
            else:
                out.write(("\n" if count == 0 else ",\n") + json.dumps(session, ensure_ascii=False))
            count += 1
    if fmt == "json":
        out.write("\n]\n" if count else "]\n")
    return count


def export_to_file(
    store: Store,
    path: str | os.PathLike[str],
    fmt: str = "json",
    *,
    since: datetime | None = None,
    batch: int = SCAN_BATCH,
) -> int:
    """:func:`export_sessions` into ``path``, replaced only once the export is whole.

    Raises:
        StoreError: The file cannot be written.
    """
    refuse_store_files(path, store.files())
    with atomic_text_file(Path(path)) as out:
        return export_sessions(store, out, fmt, since=since, batch=batch)


def _csv_row(session: dict[str, Any]) -> list[Any]:
    # Text cells are neutralised so a spreadsheet never runs one as a formula.
    return [
        *(csv_cell(session.get(column)) for column in CSV_COLUMNS[:-2]),
        csv_cell(json.dumps(session.get("metadata") or {}, ensure_ascii=False)),
        len(session.get("events") or ()),
    ]


# -- import ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileImport:
    """What :func:`import_file` did: which records (``sessions`` or ``costs``) it read, how
    many it added and how many it skipped as already stored."""

    records: str
    imported: int
    skipped: int


def import_file(
    store: Store, path: str | os.PathLike[str], fmt: str = "auto", *, batch: int = SCAN_BATCH
) -> FileImport:
    """Import sessions or cost records from a file; records already stored are skipped, so
    importing a file twice adds nothing the second time.

    Formats: ``json`` (the guide's session log, a JSON array of sessions), ``jsonl`` (one
    session or one cost entry per line, read as a stream), ``costs`` (a cost log: a JSON array
    of entries as the original toolkit wrote them). ``auto`` picks ``jsonl`` for ``.jsonl`` and
    ``.ndjson`` files, else reads the JSON array and tells sessions from cost entries.
    Sessions are matched by id; cost records by :attr:`CostRecord.natural_key`.

    A file is imported whole or not at all: one transaction, so a bad record anywhere
    stores nothing. ``batch`` is kept for callers of earlier releases and not used.

    Raises:
        CorruptStoreError: The file cannot be read in that format.
        ValidationError: A record in it lacks a required field or holds an invalid value;
            the message names the record (``record N`` or ``line N``) and the field.
    """
    source = Path(path)
    if fmt not in IMPORT_FORMATS:
        raise ValidationError(f"Cannot import {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}.")
    if fmt == "jsonl" or (fmt == "auto" and source.suffix.lower() in (".jsonl", ".ndjson")):
        return _import_lines(store, source)
    records = read_array(source)
    if fmt == "costs" or (fmt == "auto" and records and all(map(is_cost_entry, records))):
        result = store.costs.import_records(
            read_each(numbered(records), CostRecord.from_entry, source)
        )
        return FileImport("costs", result.imported, result.skipped)
    result = store.import_sessions(read_each(numbered(records), Session.from_dict, source))
    return FileImport("sessions", result.imported, result.skipped)


def _import_lines(store: Store, source: Path) -> FileImport:
    try:
        file = source.open("rb")
    except OSError as exc:
        raise CorruptStoreError(
            f"Cannot import {str(source)!r}: {exc.strerror or exc}.", str(source)
        ) from exc
    with file:
        records = json_lines(file, source)
        first = next(records, None)
        if first is None:
            return FileImport("sessions", 0, 0)
        costs = is_cost_entry(first[1])
        stream = chain([first], records)
        if costs:
            result = store.costs.import_records(read_each(stream, CostRecord.from_entry, source))
        else:
            result = store.import_sessions(read_each(stream, Session.from_dict, source))
    return FileImport("costs" if costs else "sessions", result.imported, result.skipped)
