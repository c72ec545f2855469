"""A seeded toolkit folder and store: four audit runs whose last two cover every drift class,
sessions over three days with known durations, failures, one stale session, cost records.

The expected figures are written next to the data, so the tests read them from here.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from m365_toolkit import SessionManager
from m365_toolkit._util import system
from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
from m365_toolkit.sessions.model import Session

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=3)
HOSTILE = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
HOSTILE_USER = HOSTILE + "\u202eevil\x1b[31m <!-- =cmd|' /C calc'!A0"

# control id -> (title, severity, status in the previous run, status in the latest run)
CONTROLS: dict[str, tuple[str, str, str | None, str | None]] = {
    "1.1.1": ("Admin accounts are cloud-only", "High", "Pass", "Fail"),
    "1.1.3": ("Two to four global admins", "Medium", "Manual", "Fail"),
    "1.2.1": ("Only approved public groups", "Medium", "Fail", "Fail"),
    "1.2.2": ("Shared mailbox sign-in blocked", "Medium", "Fail", "Pass"),
    "1.3.1": ("Passwords never expire", "Low", "Error", "Pass"),
    "5.1.1": ("Security defaults", "High", None, "Pass"),
    "6.1.1": ("Audit log search on", "High", "Pass", None),
    "7.2.1": ("Modern auth for SharePoint", "Medium", "Fail", "Accepted"),
    "8.1.1": ("External Teams access limited", "Low", "Pass", "Pass"),
}
DRIFT = {
    "1.1.1": "regressed", "1.1.3": "new_failure", "1.2.1": "still_failing",
    "1.2.2": "fixed", "1.3.1": "error_ok", "5.1.1": "new_control",
    "6.1.1": "removed_control", "7.2.1": "changed", "8.1.1": "unchanged",
}  # fmt: skip
PROFILES = {"1.1.1": "E3 L1", "1.1.3": "E3 L1", "1.2.1": "E3 L2", "1.2.2": "E3 L1",
            "1.3.1": "E3 L1", "5.1.1": "E5 L1", "7.2.1": "E3 L1", "8.1.1": "E5 L2"}  # fmt: skip
EXCEPTION = {"control": "7.2.1", "reason": "Legacy scanner until June", "owner": "ciso@contoso.com",
             "expires": "2026-06-30"}  # fmt: skip
# The oldest run: a PowerShell results file that no session names (2 Pass, 2 Fail: 50%).
FILE_RUN = [("1.1.1", "Pass"), ("1.1.3", "Fail"), ("1.2.1", "Fail"), ("1.2.2", "Pass")]
PASS_RATES = [50.0, 100.0, 50.0, 57.14]  # oldest first: file, run 1, previous, latest
# Operations: sharepoint_analysis durations 1..20 s (p50 10, p95 19), on day 2.
DURATIONS = [float(n) for n in range(1, 21)]
FAILED = 2  # remediation sessions ending in error, on day 3
COSTS = [  # (day offset, user, operation, model, cost)
    (0, "alice", "security_audit", "gpt-5", Decimal("0.50")),
    (0, "bob", "sharepoint_analysis", "gpt-5-mini", Decimal("0.25")),
    (1, "alice", "sharepoint_analysis", "gpt-5", Decimal("1.00")),
    (2, "alice", "remediation", "gpt-5-mini", Decimal("0.125")),
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _event(control_id: str, status: str) -> dict[str, Any]:
    title, severity, _, _ = CONTROLS[control_id]
    return {"control_id": control_id, "status": status, "severity": severity,
            "expected": "compliant", "actual": f"{control_id} {status}"}  # fmt: skip


def _audit(manager: SessionManager, clock: Clock, statuses: dict[str, str],
           results_file: Path | None = None, user: str = "alice") -> str:  # fmt: skip
    with manager.session("security_audit", user=user) as session:
        for control_id, status in statuses.items():
            data = _event(control_id, status)
            if control_id == "8.1.1" and results_file is not None:
                data["actual"] = "changed value"  # settings drift with the same status
            session.add_event("progress", f"{control_id} {status}", data)
        clock.now += timedelta(seconds=30)
        done = {"results_file": str(results_file)} if results_file else {}
        session.add_event("progress", "Graph audit completed", done)
    return session.session_id


def seed(root: Path, store: str | Path, *, hostile: bool = False) -> SessionManager:
    """Fill ``root`` and the store at ``store``; return the open manager (clock at NOW)."""
    clock = Clock(START - timedelta(days=1))
    reports = root / "output" / "reports" / "security"
    reports.mkdir(parents=True, exist_ok=True)
    old = reports / "m365_cis_audit_20260301_090000.json"
    old.write_text(json.dumps([
        {"ControlId": c, "Title": CONTROLS[c][0], "Severity": CONTROLS[c][1], "Status": s,
         "Timestamp": "2026-03-01T09:00:00+00:00"} for c, s in FILE_RUN
    ]), encoding="utf-8")  # fmt: skip
    manager = SessionManager(store, clock=clock)
    clock.now = START
    _audit(manager, clock, {"1.1.1": "Pass", "1.2.1": "Pass"})  # run 1: 100%
    clock.now += timedelta(hours=1)
    _audit(manager, clock, {c: v[2] for c, v in CONTROLS.items() if v[2]})  # previous
    clock.now += timedelta(hours=1)
    latest_file = reports / "m365_cis_audit_20260302_110000_graph.json"
    records = []
    for c, (title, severity, _, status) in CONTROLS.items():
        if status is None:
            continue
        evidence: Any = {"findings": [], "exception": EXCEPTION} if c == "7.2.1" else f"ev {c}"
        if hostile and c == "1.1.1":
            evidence = HOSTILE
        records.append(
            {
                "ControlId": c,
                "Title": HOSTILE if hostile and c == "1.2.1" else title,
                "Severity": severity,
                "Status": status,
                "Expected": "compliant",
                "Actual": f"{c} {status}",
                "Evidence": evidence,
                "Profile": PROFILES[c],
                "Engine": "graph",
                "Reason": "Accepted until 2026-06-30" if c == "7.2.1" else None,
            }
        )
    latest_file.write_text(json.dumps(records), encoding="utf-8")  # fmt: skip
    _audit(manager, clock, {c: v[3] for c, v in CONTROLS.items() if v[3]}, latest_file,
           user=HOSTILE_USER if hostile else "alice")  # fmt: skip
    clock.now = START + timedelta(days=1)
    for seconds in DURATIONS:
        with manager.session("sharepoint_analysis", user="bob"):
            clock.now += timedelta(seconds=seconds)
    clock.now = START + timedelta(days=2)
    for n in range(FAILED):
        try:
            with manager.session("remediation", user="carol") as session:
                session.add_event("error", f"Access denied {n}")
                raise PermissionError("denied")
        except PermissionError:
            pass
    identity = system.process_identity() or {}
    manager.store.import_sessions([Session.from_dict({
        "session_id": "stale-0001", "user": "dave", "operation_type": "security_audit",
        "start_time": (START + timedelta(days=2)).isoformat(), "status": "active",
        "host": system.hostname(), "pid": os.getpid(), "metadata": {}, "events": [],
        "process": {**identity, "started": -1},  # this pid, another start time: ended
    })])  # fmt: skip
    for offset, user, operation, model, cost in COSTS:
        manager.store.costs.add(CostRecord(
            START + timedelta(days=offset, hours=1), None, user, operation, model, "chat",
            TokenUsage(100, 50), Cost(cost, Decimal(0), Decimal(0), "test"),
        ))  # fmt: skip
    clock.now = NOW
    return manager


def expected_day_status() -> dict[str, dict[str, int]]:
    """Sessions per day and status that :func:`seed` records."""
    return {
        "2026-03-02": {"success": 3},
        "2026-03-03": {"success": len(DURATIONS)},
        "2026-03-04": {"active": 1, "error": FAILED},
    }
