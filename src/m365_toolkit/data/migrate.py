"""Copying every session, event and cost record from one store to another, verified."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..costs.model import CostRecord
from ..errors import ConfigError, StoreError
from ..sessions.model import Session
from ..store import SCAN_BATCH, ImportResult, Store, StoreCounts
from .migration_chain import anchor

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stage is ``"sessions"`` or ``"costs"``."""

# -- migrate ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    """What :func:`migrate` copied and skipped, the counts of both stores afterwards, and what
    of the source the target lacks (``missing``: empty when the copy is whole)."""

    sessions: ImportResult
    costs: ImportResult
    source: StoreCounts
    target: StoreCounts
    missing: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        """The target holds every session, event and cost record of the source."""
        return not self.missing

    def check(self) -> None:
        """Raise if the target lacks anything of the source.

        Raises:
            StoreError: Sessions, events or cost records of the source are not in the target.
        """
        if self.missing:
            shown = "; ".join(self.missing[:5])
            more = f" (and {len(self.missing) - 5} more)" if len(self.missing) > 5 else ""
            raise StoreError(
                f"The target lacks records of the source after the copy: {shown}{more}. Was "
                "either store written meanwhile?"
            )


def migrate(
    source: Store,
    target: Store,
    *,
    batch: int = SCAN_BATCH,
    progress: Progress | None = None,
) -> Migration:
    """Copy every session with its events, then every cost record, from ``source`` to
    ``target``, ``batch`` records per transaction.

    Sessions already in the target (by id) and cost records already there (by natural key)
    are skipped, so a second run copies nothing, and a run after an interrupted one copies
    only what is missing. Events get the target's own sequence numbers. The target may hold
    other sessions already (several local stores consolidated into one team store). At the
    end the copy is verified: into an empty target, by the counts; otherwise every session,
    event and cost record of the source is looked up in the target by id (and natural key).
    Nothing should write to either store meanwhile. The target's chain then names the
    source's chain head (:mod:`.migration_chain`; ``store verify --source``).

    Raises:
        ConfigError: Both name the same store.
    """
    if source.location == target.location:
        raise ConfigError(f"Cannot migrate {source.location!r} onto itself; name another target.")
    report = progress or (lambda stage, done, total: None)
    totals, before = source.counts(), target.counts()
    imported = skipped = done = 0
    report("sessions", 0, totals.sessions)
    for sessions in source.scan(batch=batch):
        result = target.import_sessions(Session.from_dict(record) for record in sessions)
        imported, skipped = imported + result.imported, skipped + result.skipped
        done += len(sessions)
        report("sessions", done, totals.sessions)
    sessions_result = ImportResult(imported, skipped)
    imported = skipped = done = 0
    report("costs", 0, totals.costs)
    entries = source.costs.entries()
    while chunk := [CostRecord.from_entry(entry) for entry in islice(entries, batch)]:
        result = target.costs.import_records(chunk)
        imported, skipped = imported + result.imported, skipped + result.skipped
        done += len(chunk)
        report("costs", done, totals.costs)
    anchor(source, target)  # the copy's chain names the source's head
    after_source, after_target = source.counts(), target.counts()
    if before == StoreCounts(0, 0, 0):  # the target holds the copy alone: counts tell
        missing = _count_differences(after_source, after_target)
    else:
        missing = _missing_in(source, target, batch)
    return Migration(
        sessions_result, ImportResult(imported, skipped), after_source, after_target, missing
    )


def _count_differences(source: StoreCounts, target: StoreCounts) -> tuple[str, ...]:
    return tuple(
        f"{name} {getattr(source, name)} in the source but {getattr(target, name)} in the target"
        for name in ("sessions", "events", "costs")
        if getattr(source, name) != getattr(target, name)
    )


def _missing_in(source: Store, target: Store, batch: int) -> tuple[str, ...]:
    """What of the source the target lacks, looked up by session id and cost natural key."""
    missing: list[str] = []
    for sessions in source.scan(batch=batch):
        for record in sessions:
            found = target.get(record["session_id"])
            if found is None:
                missing.append(f"session {record['session_id']}")
                continue
            lacking = Counter(map(_event_key, record["events"])) - Counter(
                map(_event_key, found["events"])
            )
            if lacking:
                missing.append(f"{lacking.total()} event(s) of session {record['session_id']}")
    held = {CostRecord.from_entry(entry).natural_key for entry in target.costs.entries()}
    for entry in source.costs.entries():
        key = CostRecord.from_entry(entry).natural_key
        if key not in held:
            missing.append(f"cost record {key[0]} {key[2]} of session {key[1]}")
    return tuple(missing)


def _event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["timestamp"], event["type"], event["description"])
