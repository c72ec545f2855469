"""The guide's JSON array file as a store: atomic rewrites under an inter-process lock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .._system import format_time, parse_time, process_alive
from ..errors import (
    ConfigError,
    CorruptStoreError,
    InvalidTransition,
    SessionNotFound,
    StoreError,
    ValidationError,
)
from ..query import SessionQuery, statistics_from_groups
from ..sessions import Event, Session, Status
from . import Finished, ImportResult
from ._filelock import FileLock


class JsonStore:
    """Sessions in one JSON array file, in the guide's storage format.

    Every write reads the file, changes it and replaces it whole (temporary file, fsync,
    rename) while holding a lock file beside it, so readers never see half a file and
    concurrent writers never lose each other's records. Each write costs time in proportion
    to the file's size: for large or busy audit trails use the SQLite store.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self.location = str(self.path)
        if self.path.is_dir():
            raise ConfigError(f"The store path {self.location!r} is a folder; name a file.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        self._read()  # report a corrupt file now, not at the first write
        self._remove_leftovers()

    def close(self) -> None:
        """Nothing to release: the file is opened per call."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JsonStore({self.location!r})"

    # -- file --------------------------------------------------------------------------------

    def _read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptStoreError(
                f"Cannot read the session store {self.location!r}: {exc}. It was left untouched.",
                self.location,
            ) from exc
        if not text.strip():
            return []
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptStoreError(
                f"The session store {self.location!r} is not valid JSON ({exc}). It was left "
                "untouched; repair it or name another store.",
                self.location,
            ) from exc
        if not isinstance(data, list) or not all(
            isinstance(item, dict) and "session_id" in item for item in data
        ):
            raise CorruptStoreError(
                f"The session store {self.location!r} is not a JSON array of sessions. It was "
                "left untouched; name another store.",
                self.location,
            )
        return data

    def _temporary(self, pid: int) -> Path:
        return self.path.with_name(f".{self.path.name}.{pid}.tmp")

    def _remove_leftovers(self) -> None:
        """Delete temporary files of writers that were killed mid-write (never the store)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            pid = leftover.name[len(self.path.name) + 2 : -len(".tmp")]
            if pid.isdigit() and not process_alive(int(pid)):
                leftover.unlink(missing_ok=True)

    def _write(self, sessions: list[dict[str, Any]]) -> None:
        body = ",\n".join(json.dumps(session, ensure_ascii=False) for session in sessions)
        temporary = self._temporary(os.getpid())
        try:
            with temporary.open("w", encoding="utf-8") as file:
                file.write(f"[\n{body}\n]\n" if sessions else "[]\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
            _fsync_folder(self.path.parent)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StoreError(
                f"Cannot write the session store {self.location!r}: {exc}.", self.location
            ) from exc

    @contextmanager
    def _update(self) -> Iterator[_Snapshot]:
        with self._lock.held():
            snapshot = _Snapshot(self._read())
            yield snapshot
            self._write(snapshot.sessions)

    # -- writes ------------------------------------------------------------------------------

    def create(self, session: Session) -> list[int]:
        with self._update() as snapshot:
            if snapshot.find(session.session_id) is not None:
                raise ValidationError(
                    f"A session with id {session.session_id!r} already exists in {self.location!r}."
                )
            record = session.to_dict()
            record.pop("cost", None)
            record["events"] = [snapshot.stamp(event) for event in session.events]
            snapshot.sessions.append(record)
            return [event["seq"] for event in record["events"]]

    def append_event(self, session_id: str, event: Event) -> int:
        with self._update() as snapshot:
            record = self._active(snapshot, session_id, "add an event to")
            stamped = snapshot.stamp(event)
            record.setdefault("events", []).append(stamped)
            return int(stamped["seq"])

    def finish(
        self, session_id: str, status: Status, end_time: datetime, events: Sequence[Event]
    ) -> Finished:
        with self._update() as snapshot:
            record = self._active(snapshot, session_id, "complete")
            stamped = [snapshot.stamp(event) for event in events]
            record.setdefault("events", []).extend(stamped)
            start = parse_time(record["start_time"])
            duration = max(0.0, round((end_time - start).total_seconds(), 6))
            record.update(
                status=status.value, end_time=format_time(end_time), duration_seconds=duration
            )
        return Finished(end_time, duration, [event["seq"] for event in stamped])

    def _active(self, snapshot: _Snapshot, session_id: str, action: str) -> dict[str, Any]:
        record = snapshot.find(session_id)
        if record is None:
            raise SessionNotFound(session_id, self.location)
        if record.get("status", "active") != Status.ACTIVE.value:
            raise InvalidTransition(session_id, record["status"], action)
        return record

    def import_sessions(self, sessions: Iterable[Session]) -> ImportResult:
        imported = skipped = 0
        with self._update() as snapshot:
            for session in sessions:
                if snapshot.find(session.session_id) is not None:
                    skipped += 1
                    continue
                record = session.to_dict()
                record["events"] = [snapshot.stamp(event) for event in session.events]
                snapshot.sessions.append(record)
                snapshot.index[session.session_id] = record
                imported += 1
        return ImportResult(imported, skipped)

    # -- reads -------------------------------------------------------------------------------

    def get(self, session_id: str) -> dict[str, Any] | None:
        return _Snapshot(self._read()).find(session_id)

    def history(self, query: SessionQuery) -> list[dict[str, Any]]:
        matches = [
            (start, record)
            for record in self._read()
            if (start := _start(record)) is not None and _matches(record, start, query)
        ]
        matches.sort(key=lambda pair: pair[0], reverse=True)
        found = [record for _, record in matches[: query.limit]]
        if not query.with_events:
            for record in found:
                record.pop("events", None)
        return found

    def statistics(self, since: datetime | None) -> dict[str, Any]:
        groups: dict[tuple[str, str, str], list[Any]] = {}
        query = SessionQuery(since=since, with_events=False)
        for record in self._read():
            start = _start(record)
            if start is None or not _matches(record, start, query):
                continue
            key = (
                str(record.get("operation_type") or "general"),
                str(record.get("user") or "unknown"),
                str(record.get("status") or "active"),
            )
            group = groups.setdefault(key, [0, 0.0, 0])
            group[0] += 1
            duration = record.get("duration_seconds")
            if duration is not None:
                group[1] += float(duration)
                group[2] += 1
        return statistics_from_groups([(*key, *group) for key, group in groups.items()])


class _Snapshot:
    """The file's sessions, read under the lock, with the next sequence number."""

    def __init__(self, sessions: list[dict[str, Any]]) -> None:
        self.sessions = sessions
        self.index = {record["session_id"]: record for record in sessions}
        self.next_seq = 1 + max(
            (event.get("seq") or 0 for record in sessions for event in record.get("events") or ()),
            default=0,
        )

    def find(self, session_id: str) -> dict[str, Any] | None:
        return self.index.get(session_id)

    def stamp(self, event: Event) -> dict[str, Any]:
        record = event.to_dict()
        record["seq"] = self.next_seq
        self.next_seq += 1
        return record


def _start(record: dict[str, Any]) -> datetime | None:
    try:
        return parse_time(record["start_time"])
    except (KeyError, ValueError):
        return None


def _matches(record: dict[str, Any], start: datetime, query: SessionQuery) -> bool:
    return (
        (query.operation_type is None or record.get("operation_type") == query.operation_type)
        and (query.user is None or record.get("user") == query.user)
        and (query.status is None or record.get("status", "active") == query.status)
        and (query.since is None or start >= query.since)
        and (query.until is None or start < query.until)
    )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
