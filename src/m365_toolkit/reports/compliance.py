"""Audit runs as the store and the results files know them; trend, drift and exceptions.

A run is a ``security_audit`` session. Its controls come from its per-control ``progress``
events (the Graph engine records one per control, data ``{control_id, status, severity,
expected, actual}``) when it has them, else from the results file the session names. A
results file on disk that no session names is a run of its own (the PowerShell engine run
outside the toolkit), dated by its controls' time stamps or its modification time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._util.system import parse_time
from .._util.textfile import read_text
from ..errors import SessionsError
from ..m365.audit import REPORTS_SUBDIR, find_results, load_results
from ..sessions.query import SessionQuery
from ..store import Store
from .model import DRIFT_CLASSES, AcceptedException, Compliance, Control, DriftItem, Run

AUDIT_OPERATION = "security_audit"
_CONTROL_KEYS = ("control_id", "controlId", "ControlId")
_ID_PARTS = re.compile(r"[.\s]+")
# CIS Microsoft 365 Foundations Benchmark v4/v5: the first number of a control id.
SECTIONS = {
    "1": "1 Microsoft 365 admin center",
    "2": "2 Microsoft 365 Defender",
    "3": "3 Microsoft Purview",
    "4": "4 Microsoft Intune admin center",
    "5": "5 Microsoft Entra admin center",
    "6": "6 Exchange admin center",
    "7": "7 SharePoint admin center",
    "8": "8 Microsoft Teams admin center",
    "9": "9 Microsoft Fabric",
}


@dataclass(frozen=True, slots=True)
class RunControls:
    """A run with its controls, before the latest two are picked."""

    run: Run
    controls: tuple[Control, ...]


def collect_runs(store: Store, root: Path, *, historical: bool = True) -> list[RunControls]:
    """Every audit run the store and ``root/output/reports/security/`` hold, oldest first.

    Runs without a single control (an audit that failed before its results) are left out.
    With ``historical=False`` only the latest run is kept.
    """
    runs: list[RunControls] = []
    claimed: set[str] = set()
    for record in store.history(SessionQuery(operation_type=AUDIT_OPERATION)):
        found = _session_run(record, root)
        if found is not None:
            runs.append(found)
            if found.run.results_file:
                claimed.add(_key(Path(found.run.results_file)))
    for path in find_results(root / REPORTS_SUBDIR):
        if _key(path) not in claimed:
            found = _file_run(path)
            if found is not None:
                runs.append(found)
    runs.sort(key=lambda item: (item.run.started_at, item.run.run_id))
    return runs[-1:] if not historical else runs


def compliance_section(runs: list[RunControls]) -> Compliance:
    """The latest run's controls, the trend over ``runs`` and the drift from the one before."""
    latest = runs[-1] if runs else None
    previous = runs[-2] if len(runs) > 1 else None
    drift: tuple[DriftItem, ...] = ()
    if latest is not None and previous is not None:
        drift = tuple(compare(previous.controls, latest.controls))
    counts = dict.fromkeys(DRIFT_CLASSES, 0)
    for item in drift:
        counts[item.drift] += 1
    controls = latest.controls if latest else ()
    return Compliance(
        latest=latest.run if latest else None,
        previous=previous.run if previous else None,
        trend=tuple(item.run for item in runs),
        drift=drift,
        drift_counts=counts,
        controls=controls,
        exceptions=tuple(_exception(c) for c in controls if c.status == "Accepted"),
    )


def classify(previous: str | None, current: str | None) -> str:
    """The drift class of a control whose status went from ``previous`` to ``current``.

    ``None`` means the run did not have the control. The classes do not overlap: a change
    to or from ``Error`` is ``error_ok`` whatever the other side is; ``Pass`` to ``Fail`` is
    ``regressed``; any other status to ``Fail`` (Manual, Skipped, an expired acceptance) is
    ``new_failure``; ``Fail`` to ``Pass`` is ``fixed``; every other change is ``changed``.
    """
    if previous is None:
        return "new_control"
    if current is None:
        return "removed_control"
    if previous == current:
        return "still_failing" if current == "Fail" else "unchanged"
    if "Error" in (previous, current):
        return "error_ok"
    if current == "Fail":
        return "regressed" if previous == "Pass" else "new_failure"
    if previous == "Fail" and current == "Pass":
        return "fixed"
    return "changed"


def compare(before: Iterable[Control], after: Iterable[Control]) -> list[DriftItem]:
    """Every control of either run with its drift class, in control id order."""
    old = {c.control_id: c for c in before}
    new = {c.control_id: c for c in after}
    items = []
    for control_id in sorted(old.keys() | new.keys(), key=id_key):
        was, now = old.get(control_id), new.get(control_id)
        either = now or was
        items.append(
            DriftItem(
                control_id=control_id,
                title=either.title if either else "",
                drift=classify(was.status if was else None, now.status if now else None),
                previous_status=was.status if was else None,
                current_status=now.status if now else None,
                actual_changed=bool(was and now and was.actual != now.actual),
            )
        )
    return items


def pass_rate(counts: Mapping[str, int]) -> float | None:
    """Pass / (Pass + Fail) x 100, to two places; ``None`` when neither occurs."""
    judged = counts.get("Pass", 0) + counts.get("Fail", 0)
    return round(counts.get("Pass", 0) / judged * 100, 2) if judged else None


def id_key(control_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort "1.1.2" before "1.1.10"."""
    parts = _ID_PARTS.split(control_id)
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def section_of(control_id: str) -> str:
    """The benchmark section a control id belongs to (its first number)."""
    head = _ID_PARTS.split(control_id.strip(), maxsplit=1)[0]
    return SECTIONS.get(head, head or "unknown")


# -- reading runs ------------------------------------------------------------------------------


def _session_run(record: Mapping[str, Any], root: Path) -> RunControls | None:
    events = record.get("events") or []
    per_control = [
        e["data"]
        for e in events
        if e.get("type") == "progress"
        and isinstance(e.get("data"), dict)
        and any(k in e["data"] for k in _CONTROL_KEYS)
        and "status" in e["data"]
    ]
    named = [
        e["data"]["results_file"]
        for e in events
        if isinstance(e.get("data"), dict) and isinstance(e["data"].get("results_file"), str)
    ]
    results_file = _resolve(named[-1], root) if named else None
    from_file = _read_file(results_file) if results_file is not None else None
    if per_control:
        details = {c.control_id: c for c in from_file or ()}
        controls = tuple(_control_from_event(data, details) for data in per_control)
        source = "session+file" if from_file else "session"
    elif from_file:
        controls, source = from_file, "session+file"
    else:
        return None
    return _run(str(record["session_id"]), parse_time(record["start_time"]), source,
                results_file, controls)  # fmt: skip


def _file_run(path: Path) -> RunControls | None:
    controls = _read_file(path)
    if not controls:
        return None
    stamps = [c.checked_at for c in controls if c.checked_at is not None]
    if stamps:
        started = max(stamps)
    else:
        try:
            started = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        except OSError:
            return None
    return _run(path.name, started, "file", path, controls)


def _run(
    run_id: str, started: datetime, source: str, path: Path | None, controls: Iterable[Control]
) -> RunControls:
    ordered = tuple(sorted(controls, key=lambda c: id_key(c.control_id)))
    counts: dict[str, int] = {}
    for control in ordered:
        counts[control.status] = counts.get(control.status, 0) + 1
    run = Run(run_id, started, source, str(path) if path else "", counts, pass_rate(counts),
              len(ordered))  # fmt: skip
    return RunControls(run, ordered)


def _read_file(path: Path) -> tuple[Control, ...] | None:
    """The controls of a results file; ``None`` if it is gone or unreadable (a dashboard
    shows what it can rather than fail on one old file)."""
    try:
        results = load_results(path)
        raw = json.loads(read_text(path, "CIS audit results file") or "[]")
    except (SessionsError, ValueError):
        return None
    extras = raw if isinstance(raw, list) else [raw]
    controls = []
    for index, result in enumerate(results):
        extra = extras[index] if index < len(extras) and isinstance(extras[index], dict) else {}
        controls.append(
            Control(
                control_id=result.control_id,
                title=result.title,
                status=result.status,
                severity=result.severity,
                section=section_of(result.control_id),
                profile=_text(extra.get("Profile") or extra.get("Level")),
                engine=_text(extra.get("Engine")) or "powershell",
                expected=_text(result.expected),
                actual=_text(result.actual),
                evidence=_text(result.evidence),
                reason=_text(extra.get("Reason")),
                reference=result.reference,
                # The file's time stamps are naive local time: astimezone() reads them so.
                checked_at=result.timestamp.astimezone(UTC) if result.timestamp else None,
            )
        )
    return tuple(controls)


def _control_from_event(data: Mapping[str, Any], details: Mapping[str, Control]) -> Control:
    control_id = _text(next(data[k] for k in _CONTROL_KEYS if k in data))
    known = details.get(control_id)
    return Control(
        control_id=control_id,
        title=_text(data.get("title")) or (known.title if known else ""),
        status=_text(data.get("status")) or "Unknown",
        severity=_text(data.get("severity")) or (known.severity if known else "Unknown"),
        section=section_of(control_id),
        profile=_text(data.get("profile")) or (known.profile if known else ""),
        engine=_text(data.get("engine")) or (known.engine if known else "graph"),
        expected=_text(data.get("expected")),
        actual=_text(data.get("actual")),
        evidence=_text(data.get("evidence")) or (known.evidence if known else ""),
        reason=_text(data.get("reason")) or (known.reason if known else ""),
        reference=known.reference if known else "",
    )


def _exception(control: Control) -> AcceptedException:
    """Reason, owner and expiry from the evidence the Graph engine records with an
    accepted control (``{"exception": {...}}``), else the reason text alone."""
    declared: Mapping[str, Any] = {}
    try:
        evidence = json.loads(control.evidence) if control.evidence.startswith("{") else {}
    except ValueError:
        evidence = {}
    if isinstance(evidence, dict) and isinstance(evidence.get("exception"), dict):
        declared = evidence["exception"]
    return AcceptedException(
        control_id=control.control_id,
        title=control.title,
        reason=_text(declared.get("reason")) or control.reason,
        owner=_text(declared.get("owner")),
        expires=_text(declared.get("expires")),
    )


def _resolve(name: str, root: Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else root / path


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
