"""The guide's JSON array file as a store: atomic rewrites under an inter-process lock."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_text_file
from .._util.closing import Closing
from .._util.system import format_time, parse_time
from ..errors import InvalidTransition, SessionNotFound, StoreError, ValidationError
from ..sessions.model import Event, Session, Status
from ..sessions.query import SessionQuery, statistics_from_groups
from . import SCAN_BATCH, Finished, ImportResult, PruneResult, StoreCounts
from ._jsonarray import JsonArrayFile
from .jsoncosts import COST_LOG_NAME, JsonCostLog


class JsonStore(Closing):
    """Sessions in one JSON array file, in the guide's storage format.

    Every write reads the file, changes it and replaces it whole (temporary file, fsync,
    rename) while holding a lock file beside it, so readers never see half a file and
    concurrent writers never lose each other's records. Each write costs time in proportion
    to the file's size: for large or busy audit trails use the SQLite store.
    """

    def __init__(self, path: Path) -> None:
        self._file = JsonArrayFile(
            path, "session store", lambda item: isinstance(item, dict) and "session_id" in item
        )
        self.path = self._file.path
        self.location = self._file.location
        # The highest sequence number ever given, kept beside the file once a prune has
        # deleted records: numbering restarts from the file's largest otherwise.
        self._seq_file = self.path.with_name(self.path.name + ".seq")
        self._costs: JsonCostLog | None = None

    @property
    def costs(self) -> JsonCostLog:
        """The cost log beside this file (``gpt5_cost_log.json``), opened on first use."""
        if self._costs is None:
            self._costs = JsonCostLog(self.path.with_name(COST_LOG_NAME))
        return self._costs

    def close(self) -> None:
        """Nothing to release: the file is opened per call."""

    def __repr__(self) -> str:
        return f"JsonStore({self.location!r})"

    def _read(self) -> list[dict[str, Any]]:
        return self._file.read()

    @contextmanager
    def _update(self) -> Iterator[_Snapshot]:
        with self._file.update() as sessions:
            yield _Snapshot(sessions, self._last_seq())

    def _last_seq(self) -> int:
        try:
            return int(self._seq_file.read_text(encoding="utf-8").strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"Cannot read the sequence file {str(self._seq_file)!r} of the session store "
                f"{self.location!r}: {exc}.",
                self.location,
            ) from exc

    def _save_last_seq(self, seq: int) -> None:
        with atomic_text_file(self._seq_file, "sequence file") as file:
            file.write(f"{seq}\n")

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

    def scan(
        self, since: datetime | None = None, batch: int = SCAN_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        """The file is read once (it is parsed whole anyway), then handed out in batches."""
        if batch < 1:
            raise ValidationError(f"batch must be 1 or more, not {batch!r}.")
        query = SessionQuery(since=since)
        records = [
            record
            for record in self._read()
            if since is None
            or ((start := _start(record)) is not None and _matches(record, start, query))
        ]
        for first in range(0, len(records), batch):
            chunk = records[first : first + batch]
            for record in chunk:
                record.setdefault("events", [])
            yield chunk

    def prune(self, before: datetime, *, dry_run: bool = False) -> PruneResult:
        if dry_run:
            doomed = [r for r in self._read() if _prunable(r, before)]
            ids = {record["session_id"] for record in doomed}
            return PruneResult(len(doomed), _event_count(doomed), self.costs.count(ids), True)
        with self._file.update() as sessions:
            doomed = [record for record in sessions if _prunable(record, before)]
            if not doomed:
                return PruneResult(0, 0, 0)
            ids = {record["session_id"] for record in doomed}
            # Keep the numbering going past the records about to be deleted, before they are.
            self._save_last_seq(_Snapshot(sessions, self._last_seq()).next_seq - 1)
            # Costs first: a crash between the two writes leaves sessions a re-run prunes,
            # never costs of sessions that are gone.
            costs = self.costs.remove_sessions(ids)
            sessions[:] = [record for record in sessions if record["session_id"] not in ids]
        return PruneResult(len(doomed), _event_count(doomed), costs)

    def counts(self) -> StoreCounts:
        records = self._read()
        return StoreCounts(len(records), _event_count(records), self.costs.count())


class _Snapshot:
    """The file's sessions, read under the lock, with the next sequence number."""

    def __init__(self, sessions: list[dict[str, Any]], last_seq: int = 0) -> None:
        self.sessions = sessions
        self.index = {record["session_id"]: record for record in sessions}
        newest = max(
            (event.get("seq") or 0 for record in sessions for event in record.get("events") or ()),
            default=0,
        )
        self.next_seq = 1 + max(newest, last_seq)

    def find(self, session_id: str) -> dict[str, Any] | None:
        return self.index.get(session_id)

    def stamp(self, event: Event) -> dict[str, Any]:
        record = event.to_dict()
        record["seq"] = self.next_seq
        self.next_seq += 1
        return record


def _prunable(record: dict[str, Any], before: datetime) -> bool:
    if record.get("status", "active") == Status.ACTIVE.value:
        return False
    start = _start(record)
    return start is not None and start < before


def _event_count(records: Iterable[dict[str, Any]]) -> int:
    return sum(len(record.get("events") or ()) for record in records)


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
