"""``m365-toolkit demo``: sessions like the guide's examples, and two MCP tools on samples."""

from __future__ import annotations

import shutil
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import click

from ..m365.audit.graph import GraphAuditRun
from ..sessions.formatting import format_statistics
from ..sessions.manager import SessionManager
from . import render
from .app import cli, console, echo_json, store_options
from .demo_audit import audit_view, record_graph_audit
from .report import write_in_session

_STEP = 0.05  # seconds of simulated work per step, so durations are not all zero


def record_sessions(
    manager: SessionManager, audits: list[GraphAuditRun] | None = None
) -> list[str]:
    """Record an audit (the sample snapshot, judged by the real evaluators; its run is
    appended to ``audits``), a SharePoint analysis, a dashboard and a failing remediation."""
    audit_id, run = record_graph_audit(manager)
    if audits is not None:
        audits.append(run)
    ids = [audit_id]

    with manager.session(
        "sharepoint_analysis", metadata={"site": "https://contoso.sharepoint.com"}
    ) as analysis:
        analysis.add_event("start", "Beginning permission analysis")
        time.sleep(_STEP)
        analysis.add_event(
            "progress", "Parsed permissions export", {"rows": 1843, "external_users": 7}
        )
        time.sleep(_STEP)
        analysis.add_event("complete", "Analysis finished: 12 risk findings")
    ids.append(analysis.session_id)

    with manager.session(
        "dashboard_generation", metadata={"source": "m365_cis_audit.json"}
    ) as dashboard:
        dashboard.add_event("progress", "Rendering compliance dashboard")
        time.sleep(_STEP)
    ids.append(dashboard.session_id)

    try:
        with manager.session(
            "remediation",
            metadata={"preview_only": False, "client_secret": "never-stored-in-the-trail"},
        ) as remediation:
            remediation.add_event("progress", "Applying CIS 1.1.3: disable legacy authentication")
            time.sleep(_STEP)
            raise PermissionError("Set-OrganizationConfig: access denied for this account")
    except PermissionError:
        pass  # recorded as an 'error' session with an 'error' event
    ids.append(remediation.session_id)
    return ids


def sample(name: str) -> Path:
    """A sample file shipped with the package (fictional tenant, no real data)."""
    return Path(str(files("m365_toolkit") / "samples" / name))


def run_tools(manager: SessionManager) -> list[dict[str, Any]] | None:
    """Call two MCP tools in-process on the samples, recording their sessions in ``manager``'s
    store; ``None`` when the mcp extra is not installed."""
    try:
        import anyio
        from mcp import Client

        from ..mcp_server.server import build_server
    except ImportError:
        return None

    async def call() -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            reports = root / "output" / "reports" / "security"
            reports.mkdir(parents=True)
            shutil.copy(sample("m365_cis_audit_sample.json"), reports / "m365_cis_audit.json")
            shutil.copy(sample("sharepoint_permissions_sample.csv"), root / "permissions.csv")
            async with Client(build_server(root, manager.store)) as client:
                results = [
                    await client.call_tool("get_compliance_status", {}),
                    await client.call_tool(
                        "analyze_sharepoint_permissions", {"input_file": "permissions.csv"}
                    ),
                ]
        return [dict(result.structured_content or {}) for result in results]

    return anyio.run(call)


@cli.command("demo")
@store_options
def run_demo(manager: SessionManager, as_json: bool) -> None:
    """Record a few realistic sessions (a Graph audit of a fictional tenant among them),
    show history and statistics, and write the dashboard of them (its path printed last)."""
    audits: list[GraphAuditRun] = []
    recorded = record_sessions(manager, audits)
    tools = run_tools(manager)
    history = manager.get_session_history(days=1, limit=len(recorded) + len(tools or ()))
    audit = next(h for h in history if h["session_id"] == recorded[0])
    # Last: the dashboard of everything recorded above (its own session comes after them).
    _, dashboard = write_in_session(manager, Path(".").absolute(), "demo", {})
    if as_json:
        echo_json({"store": manager.storage_path, "sessions": history, "tools": tools,
                   "dashboard": str(dashboard.path)})  # fmt: skip
        return
    out = console()
    out.print(audit_view(audits[0], audit.get("events") or []))
    out.print(f"Recorded {len(history)} sessions in {manager.storage_path}")
    if tools is None:
        out.print("(Install the mcp extra to also see the MCP tools on the sample data.)")
    else:
        compliance, sharepoint = tools
        summary = compliance["summary"]
        out.print(
            f"MCP get_compliance_status on the sample audit: {summary['compliance_percent']}% "
            f"compliant, {summary['failed_count']} failed controls "
            f"(session {compliance['session_id']})"
        )
        findings = sharepoint["analysis"]["findings"]
        out.print(
            f"MCP analyze_sharepoint_permissions on the sample export: "
            f"{sharepoint['analysis']['row_count']} entries, {len(findings)} risk findings "
            f"(session {sharepoint['session_id']})"
        )
        for finding in findings:
            out.print(f"  - {finding['severity']}: {finding['title']}", highlight=False)
    out.print(render.sessions_table(history, "Sessions recorded by the demo"))
    click.echo(format_statistics(manager.get_statistics(30), 30))
    out.print(f"Dashboard of what the demo recorded: {dashboard.path}", highlight=False)
