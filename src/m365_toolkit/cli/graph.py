"""The Graph engine's run as a CLI session, and its per-control table.

Kept out of ``audit.py`` so that module stays about the commands' options: this one signs
in, runs the engine inside a ``security_audit`` session (one ``progress`` event per
control, the pass rate and counts in the last one), and draws the result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
from rich.table import Table
from rich.text import Text

from ..m365.audit.graph import AuditConfig, GraphAuditRun
from ..m365.audit.graph.tenant import audit_tenant
from ..m365.graph.auth import GraphSettings
from ..m365.progress import Step
from ..sessions.manager import SessionManager
from .app import tracked

_STYLE = {"Pass": "green", "Fail": "bold red", "Error": "red", "Skipped": "yellow",
          "Accepted": "cyan", "Manual": "magenta"}  # fmt: skip


def run_graph(
    manager: SessionManager,
    root: Path,
    config: AuditConfig,
    controls: list[str] | None,
    cloud: str | None,
    show: Callable[[str], None],
) -> tuple[GraphAuditRun, str]:
    """Run the Graph engine inside a session; the run and the session id.

    Raises:
        click.ClickException: a toolkit error (bad config, no token), naming the session.
    """
    settings = GraphSettings.resolve(config.graph, cloud=cloud)
    arguments = {
        "engine": "graph",
        "controls": controls,
        "config": str(config.source or ""),
        "graph": settings.describe(),  # never a secret: see GraphSettings.describe
    }
    with tracked(manager, "security_audit", "audit run", arguments) as session:

        async def step(item: Step) -> None:
            session.add_event("progress", item.message, item.data)
            show(item.message)

        async def go() -> GraphAuditRun:
            return await audit_tenant(root, config, controls=controls, cloud=cloud, progress=step)

        result = anyio.run(go)
    return result, session.session_id


def graph_results_table(result: GraphAuditRun) -> Table:
    """One row per control: id, status, severity, title, and what was found or why not."""
    table = Table(title="CIS controls (Microsoft Graph)")
    for name in ("Control", "Status", "Severity", "Title", "Found / reason"):
        table.add_column(name, overflow="fold")
    for item in result.evaluations:
        found = item.reason or _short(item.actual)
        table.add_row(item.control.id, Text(item.status, style=_STYLE.get(item.status, "")),
                      item.control.severity, item.control.title, found)  # fmt: skip
    return table


def _short(value: object, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
