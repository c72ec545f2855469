"""The MCP tools: small functions over the library, each returning a typed result.

Tracking is not written here: the :class:`~.tracking.SessionTracking` middleware runs each
call inside a session, and a tool reaches it with :func:`~.tracking.current_call`. Blocking
work (the store, files, the analysis) runs in worker threads. The docstrings are what the
assistant reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from ..costs.model import usd_text
from ..m365.audit import compliance_status
from ..m365.audit.graph import find_config, load_config, resolve_engine
from ..m365.audit.graph.tenant import audit_tenant
from ..m365.audit.runner import run_audit
from ..m365.progress import Step
from ..m365.remediation import remediate
from ..m365.sharepoint import analyze_to_workbook
from ..reports import write_dashboard
from ..sessions.query import window_start
from .messages import quote
from .results import (
    AuditResult,
    ComplianceStatusResult,
    CostReport,
    DashboardResult,
    RemediationOutput,
    SessionDetail,
    SessionList,
    SessionStatistics,
    SharePointResult,
)
from .state import AppState
from .tracking import current_call

Ctx = Context[AppState, Any]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
QUERIES_TENANT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
WRITES_REPORT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
CHANGES_TENANT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)


def _state(ctx: Ctx) -> AppState:
    return ctx.request_context.lifespan_context


# -- read-only tools -------------------------------------------------------------------------


async def list_sessions(
    ctx: Ctx,
    operation_type: str | None = None,
    user: str | None = None,
    status: Literal["active", "success", "error", "cancelled"] | None = None,
    days: float = 30,
    limit: int = 50,
) -> SessionList:
    """List recorded toolkit sessions (audits, analyses, remediations, ...), newest first.

    Filter by operation_type (e.g. security_audit), user, status, and how many days back.
    Each entry has its id, times, status, duration, event count and LLM cost.
    """
    history = await anyio.to_thread.run_sync(
        partial(
            _state(ctx).manager.get_session_history,
            operation_type, user, days, status=status, limit=limit, with_costs=True,
        )
    )  # fmt: skip
    for item in history:
        item["event_count"] = len(item.pop("events", ()))
    return SessionList(current_call().session_id, history)


async def get_session(ctx: Ctx, session_id: str) -> SessionDetail:
    """Show one session in full: metadata, every event of its timeline, status and cost."""
    found = await anyio.to_thread.run_sync(_state(ctx).manager.get_session, session_id)
    if found is None:
        raise ToolError(
            f"No session with id {quote(session_id)}; list_sessions shows the recent ones."
        )
    return SessionDetail(current_call().session_id, found.to_dict())


async def session_statistics(ctx: Ctx, days: float = 30) -> SessionStatistics:
    """Counts of sessions by operation type, user and status, average duration and LLM
    cost, over the last `days` days."""
    stats = await anyio.to_thread.run_sync(_state(ctx).manager.get_statistics, days)
    return SessionStatistics(current_call().session_id, days, stats)


async def cost_report(
    ctx: Ctx,
    days: float = 30,
    group_by: Literal["model", "type", "operation", "user", "day"] = "operation",
) -> CostReport:
    """LLM spend (USD), requests and tokens over the last `days` days, grouped by model,
    request type, operation, user or day; most expensive first."""
    costs = _state(ctx).manager.store.costs
    groups = await anyio.to_thread.run_sync(costs.report, group_by, window_start(days))
    return CostReport(
        current_call().session_id,
        group_by,
        [group.to_dict(group_by) for group in groups],
        usd_text(sum((g.totals.cost for g in groups), Decimal(0))),
    )


async def get_compliance_status(ctx: Ctx) -> ComplianceStatusResult:
    """The latest CIS audit's compliance summary (pass/fail by severity, failed controls)
    and its trend against the audit before it. Reads results already on disk."""
    status = await anyio.to_thread.run_sync(compliance_status, _state(ctx).root)
    data = status.to_dict()
    return ComplianceStatusResult(session_id=current_call().session_id, **data)


# -- operations ------------------------------------------------------------------------------


async def get_security_dashboard(
    ctx: Ctx,
    include_historical: bool = True,
    output_format: Literal["html", "json"] = "html",
    days: float = 30,
    verify_integrity: bool = True,
) -> DashboardResult:
    """Write the security dashboard of everything recorded and return its path.

    One offline file under output/reports/security/: the latest CIS audit's pass rate and
    controls, the trend over all stored audit runs and what changed since the previous run
    (include_historical=false: the latest run only), sessions per day, type and user,
    failures and durations, and LLM costs and budgets over the last `days` days.
    output_format html is a self-contained page for people; json the same data for tools.
    verify_integrity=false skips walking the trail's hash chain for the header (that walk
    reads every stored record: slow on a large trail); the header then says "not checked".
    """
    state, call = _state(ctx), current_call()
    written = await anyio.to_thread.run_sync(
        partial(
            write_dashboard, state.manager.store, state.root, days=days,
            output_format=output_format, historical=include_historical,
            session_id=call.session_id, verify=verify_integrity, clock=state.manager.clock,
        )
    )  # fmt: skip
    await call.step(Step(f"Wrote the dashboard to {written.path}",
                         {"file": str(written.path), "format": written.format,
                          "bytes": written.bytes}))  # fmt: skip
    board = written.dashboard
    latest = board.compliance.latest
    summary = {
        "runs": len(board.compliance.trend),
        "latest_pass_rate_percent": latest.pass_rate_percent if latest else None,
        "latest_counts": dict(latest.counts) if latest else {},
        "drift_counts": dict(board.compliance.drift_counts),
        "sessions": board.operations.total,
        "failed_sessions": board.operations.failed_total,
        "stale_sessions": len(board.operations.stale),
        "llm_cost_usd": usd_text(board.costs.total),
    }
    return DashboardResult(call.session_id, str(written.path), written.format, written.bytes,
                           summary)  # fmt: skip


async def run_security_audit(
    ctx: Ctx,
    spo_admin_url: str | None = None,
    skip_purview: bool = False,
    timestamped: bool = True,
    engine: Literal["auto", "graph", "powershell"] = "auto",
    controls: list[str] | None = None,
) -> AuditResult:
    """Run the Microsoft 365 CIS security audit against the tenant and summarise it.

    engine "graph" reads Microsoft Graph (read-only, no PowerShell); "powershell" runs the
    audit script (takes minutes); "auto" uses Graph when Graph credentials are configured.
    controls limits the Graph engine to CIS ids such as ["5.2.2.1"]. spo_admin_url is the
    SharePoint admin URL, e.g. https://contoso-admin.sharepoint.com; skip_purview skips the
    Purview checks (PowerShell only). Returns compliance percentage, counts by status
    (Pass, Fail, Skipped, Accepted, Error) and severity, and the failed controls.
    """
    state, call = _state(ctx), current_call()
    config = await anyio.to_thread.run_sync(load_config, find_config(state.root))
    if resolve_engine(engine, config) == "graph":
        graph = await audit_tenant(state.root, config, controls=controls, progress=call.step)
        return AuditResult(call.session_id, str(graph.results_file), graph.summary.to_dict())
    run = await run_audit(
        state.root,
        spo_admin_url=spo_admin_url,
        skip_purview=skip_purview,
        timestamped=timestamped,
        timeout=state.audit_timeout,
        progress=call.step,
    )
    return AuditResult(call.session_id, str(run.results_file), run.summary.to_dict())


async def analyze_sharepoint_permissions(ctx: Ctx, input_file: str) -> SharePointResult:
    """Analyse a SharePoint permissions CSV export under the toolkit folder.

    Counts permissions by item type and level, lists top users and resources, and finds
    risks: external or guest users, broad groups such as Everyone, anonymous or
    organisation sharing links, Full Control outside owners. Also writes an Excel
    workbook of the analysis under output/reports/sharepoint/, named after this call's
    session (<export name>_<session id>.xlsx).
    """
    state, call = _state(ctx), current_call()
    path = _inside(state.root, input_file)
    report = await anyio.to_thread.run_sync(
        partial(
            analyze_to_workbook,
            path,
            state.root,
            progress=call.step_in_thread,
            session_id=call.session_id,
        )
    )
    return SharePointResult(call.session_id, str(report.workbook), report.analysis.to_dict())


async def remediate_security_issues(
    ctx: Ctx, preview_only: bool = True, force_apply: bool = False
) -> RemediationOutput:
    """Remediate failed CIS controls in the tenant.

    By default only previews the changes (-WhatIf). Changes are applied only with
    preview_only=false AND force_apply=true; ask the user before doing so.
    """
    state, call = _state(ctx), current_call()
    result = await remediate(
        state.root,
        preview_only=preview_only,
        force_apply=force_apply,
        timeout=state.audit_timeout,
        progress=call.step,
    )
    return RemediationOutput(call.session_id, result.mode, result.exit_code, result.output)


def _inside(root: Path, name: str) -> Path:
    """``name`` resolved under ``root``; anything outside it is refused."""
    base = root.resolve()
    try:
        path = (base / name).resolve()
        inside = path.is_relative_to(base)
        found = inside and path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ToolError(f"input_file {quote(name)} cannot be a file name: {reason}.") from None
    if not inside:
        raise ToolError(
            f"input_file must be a file inside the toolkit folder {base}; "
            f"{quote(name)} is outside it."
        )
    if not found:
        raise ToolError(f"No file {quote(name)} under the toolkit folder {base}.")
    return path


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool, the operation type its sessions get, and its annotations."""

    fn: Callable[..., Any]
    operation_type: str
    annotations: ToolAnnotations


TOOLS = (  # read-only tools first
    ToolSpec(list_sessions, "session_query", READ_ONLY),
    ToolSpec(get_session, "session_query", READ_ONLY),
    ToolSpec(session_statistics, "session_query", READ_ONLY),
    ToolSpec(cost_report, "session_query", READ_ONLY),
    ToolSpec(get_compliance_status, "compliance_status", READ_ONLY),
    ToolSpec(get_security_dashboard, "dashboard_generation", WRITES_REPORT),
    ToolSpec(run_security_audit, "security_audit", QUERIES_TENANT),
    ToolSpec(analyze_sharepoint_permissions, "sharepoint_analysis", WRITES_REPORT),
    ToolSpec(remediate_security_issues, "remediation", CHANGES_TENANT),
)
