"""The demo's audit: the shipped snapshot of a fictional tenant, judged by the real evaluators.

No sign-in and no network: ``samples/m365_graph_snapshot_sample.json`` is what a Graph run
against "contoso" collected (a mixed picture: passes, failures, a refused permission, a
missing licence, an accepted exception). It is evaluated exactly as ``audit evaluate``
does, inside a ``security_audit`` session with one ``progress`` event per control.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..m365.audit.graph import GraphAuditRun, evaluate_snapshot, load_config, load_snapshot
from ..sessions.manager import SessionManager

SNAPSHOT = "m365_graph_snapshot_sample.json"
CONFIG = "audit_config_sample.toml"
_STYLE = {"Pass": "green", "Fail": "bold red", "Error": "red", "Skipped": "yellow",
          "Accepted": "cyan", "Manual": "magenta"}  # fmt: skip


def _sample(name: str) -> Path:
    return Path(str(files("m365_toolkit") / "samples" / name))


def record_graph_audit(manager: SessionManager) -> tuple[str, GraphAuditRun]:
    """Evaluate the sample snapshot in a ``security_audit`` session; (session id, the run)."""
    snapshot_file = _sample(SNAPSHOT)
    snapshot = load_snapshot(snapshot_file)
    config = load_config(_sample(CONFIG))
    metadata = {"tenant": "contoso.onmicrosoft.com", "compliance_framework": "CIS",
                "engine": "graph", "snapshot": SNAPSHOT, "initiated_by": "demo"}  # fmt: skip
    with manager.session("security_audit", metadata=metadata) as audit:
        audit.add_event(
            "progress",
            f"Evaluating the sample Graph snapshot of {snapshot.collected_at:%Y-%m-%d} offline",
            {"endpoints": len(snapshot.outcomes), "snapshot_file": SNAPSHOT},
        )
        run = evaluate_snapshot(snapshot, config, snapshot_file=snapshot_file)
        total = len(run.evaluations)
        for done, item in enumerate(run.evaluations, 1):
            audit.add_event("progress", f"{item.control.id} {item.status}: {item.control.title}",
                            {**item.step_data(), "done": done, "total": total})  # fmt: skip
        audit.add_event("progress", f"Graph audit completed: {run.pass_rate():g}% pass rate",
                        run.completion())  # fmt: skip
    return audit.session_id, run


def audit_view(run: GraphAuditRun, events: list[dict[str, Any]]) -> Group:
    """The controls with their statuses, the evidence of those not passing, the events."""
    controls = Table(title="CIS controls of the sample tenant (Graph snapshot, evaluated now)")
    for name in ("Control", "Status", "Severity", "Title", "Found / reason"):
        controls.add_column(name, overflow="fold")
    for item in run.evaluations:
        controls.add_row(item.control.id, Text(item.status, style=_STYLE.get(item.status, "")),
                         item.control.severity, item.control.title,
                         _short(item.reason or item.actual))  # fmt: skip
    evidence = Table(title="Evidence behind the controls that did not pass")
    for name in ("Control", "Expected", "Evidence"):
        evidence.add_column(name, overflow="fold")
    for item in run.evaluations:
        if item.status in ("Fail", "Accepted"):
            found = item.evidence if item.evidence is not None else item.actual
            evidence.add_row(item.control.id, item.expected, _short(found, 240))
    trail = Table(title="The session's per-control progress events")
    for name in ("#", "Event", "Data"):
        trail.add_column(name, overflow="fold")
    per_control = [e for e in events if "control_id" in (e.get("data") or {})]
    for event in per_control[:8]:
        data = event["data"]
        trail.add_row(
            str(data.get("done")),
            event.get("description", ""),
            _short({k: data[k] for k in ("control_id", "status", "severity")}),
        )
    if len(per_control) > 8:
        trail.add_row("…", f"{len(per_control) - 8} more, one per control", "")
    counts = ", ".join(f"{n} {s}" for s, n in run.counts().items() if n)
    headline = Text(
        f"Sample audit: {run.pass_rate():g}% pass rate (Pass / (Pass + Fail)); {counts}"
    )
    return Group(controls, evidence, trail, headline)


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
