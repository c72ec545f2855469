"""The MCP server: the toolkit's operations for AI assistants, each call tracked as a session.

``build_server()`` makes the server; ``m365-toolkit mcp`` runs it over stdio. Every tool call
creates a session (its arguments as metadata, secrets redacted), records ``progress``
events, and completes it as ``success``, ``error`` or ``cancelled``; every result names the
session id.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from .. import __version__, settings
from ..errors import SessionsError
from ..m365.audit import compliance_status, find_results, load_results, summarize
from ..m365.scripts import (
    AUDIT_COMMAND_ENV,
    AUDIT_SCRIPT,
    REMEDIATION_COMMAND_ENV,
    REMEDIATION_SCRIPT,
    ScriptError,
    ScriptResult,
    run_script,
    script_command,
)
from ..m365.sharepoint import analyze_permissions
from ..m365.sharepoint_workbook import write_workbook
from ..sessions.manager import SessionManager
from ..sessions.model import Session, Status
from ..sessions.query import window_start
from ..store import Store

REPORTS = Path("output") / "reports"
INSTRUCTIONS = """\
Tools for Microsoft 365 security work: CIS audits, compliance status, SharePoint permission
analysis and remediation. Every call is recorded as a session in the toolkit's audit trail;
results name the session id, which get_session shows in full. Prefer the read-only tools;
remediate_security_issues changes the tenant only with preview_only=false and force_apply=true.
"""

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


@dataclass(frozen=True, slots=True)
class AppState:
    """What every tool call can reach: the toolkit root and the session manager."""

    root: Path
    manager: SessionManager
    audit_timeout: float


Ctx = Context[AppState, Any]


def default_root() -> Path:
    """``M365_TOOLKIT_ROOT`` if set, else the current directory."""
    return settings.root()


def build_server(
    root: str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] | Store | None = None,
    *,
    audit_timeout: float | None = None,
) -> MCPServer[AppState]:
    """The toolkit's MCP server.

    Args:
        root: The toolkit folder holding ``output/`` and ``scripts/`` (default
            ``M365_TOOLKIT_ROOT`` or the current directory).
        store: The session store: a location (default ``M365_TOOLKIT_STORE``, else
            ``output/sessions/sessions.db`` under the root), or an open store that the
            caller keeps and closes.
        audit_timeout: Seconds before a hung audit or remediation script is stopped
            (default ``M365_TOOLKIT_AUDIT_TIMEOUT`` or 30 minutes).
    """
    folder = Path(root).absolute() if root is not None else default_root()
    timeout = audit_timeout or settings.audit_timeout()
    if store is None or isinstance(store, (str, os.PathLike)):
        location = store or settings.store() or folder / settings.DEFAULT_STORE

        @asynccontextmanager
        async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
            with SessionManager(location) as manager:
                yield AppState(folder, manager, timeout)

    else:
        shared = store

        @asynccontextmanager
        async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
            yield AppState(folder, SessionManager(store=shared), timeout)

    server: MCPServer[AppState] = MCPServer(
        "m365-security-toolkit", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan
    )
    _add_query_tools(server)
    _add_operation_tools(server)
    return server


# -- sessions around tool calls --------------------------------------------------------------


@asynccontextmanager
async def tracked(
    ctx: Ctx, operation_type: str, tool: str, arguments: dict[str, Any]
) -> AsyncIterator[Session]:
    """A session for one tool call; failures become error results naming the session."""
    manager = ctx.request_context.lifespan_context.manager
    session = manager.create_session(
        operation_type, metadata={"tool": tool, "arguments": arguments, "via": "mcp"}
    )
    try:
        yield session
    except anyio.get_cancelled_exc_class():
        if session.is_active:
            session.add_event("cancelled", "Cancelled by the client")
            session.complete(Status.CANCELLED)
        raise
    except (ToolError, SessionsError) as exc:
        _fail(session, str(exc), type(exc).__name__)
        raise ToolError(f"{exc} (session {session.session_id})") from exc
    except Exception as exc:
        _fail(session, f"Internal error: {type(exc).__name__}: {exc}", type(exc).__name__)
        raise ToolError(
            f"The toolkit hit an internal error ({type(exc).__name__}); the operation stopped. "
            f"Details are in session {session.session_id}."
        ) from exc
    else:
        if session.is_active:
            session.complete(Status.SUCCESS)


def _fail(session: Session, message: str, kind: str) -> None:
    if session.is_active:
        session.add_event("error", message, {"exception_type": kind})
        session.complete(Status.ERROR)


async def step(ctx: Ctx, session: Session, done: int, total: int, message: str) -> None:
    """A progress event in the session and a progress notification to the client."""
    session.add_event("progress", message)
    await ctx.report_progress(done, total, message)


def _state(ctx: Ctx) -> AppState:
    return ctx.request_context.lifespan_context


# -- read-only tools -------------------------------------------------------------------------


def _add_query_tools(server: MCPServer[AppState]) -> None:
    @server.tool(annotations=READ_ONLY)
    async def list_sessions(
        ctx: Ctx,
        operation_type: str | None = None,
        user: str | None = None,
        status: Literal["active", "success", "error", "cancelled"] | None = None,
        days: float = 30,
        limit: int = 50,
    ) -> dict[str, Any]:
        """List recorded toolkit sessions (audits, analyses, remediations, ...), newest first.

        Filter by operation_type (e.g. security_audit), user, status, and how many days back.
        Each entry has its id, times, status, duration, event count and LLM cost.
        """
        arguments = {
            "operation_type": operation_type, "user": user, "status": status,
            "days": days, "limit": limit,
        }  # fmt: skip
        async with tracked(ctx, "session_query", "list_sessions", arguments) as session:
            history = _state(ctx).manager.get_session_history(
                operation_type, user, days, status=status, limit=limit, with_costs=True
            )
            for item in history:
                item["event_count"] = len(item.pop("events", ()))
            return {"session_id": session.session_id, "sessions": history}

    @server.tool(annotations=READ_ONLY)
    async def get_session(ctx: Ctx, session_id: str) -> dict[str, Any]:
        """Show one session in full: metadata, every event of its timeline, status and cost."""
        async with tracked(ctx, "session_query", "get_session", {"session_id": session_id}) as own:
            found = _state(ctx).manager.get_session(session_id)
            if found is None:
                raise ToolError(
                    f"No session with id {session_id!r}; list_sessions shows the recent ones."
                )
            return {"session_id": own.session_id, "session": found.to_dict()}

    @server.tool(annotations=READ_ONLY)
    async def session_statistics(ctx: Ctx, days: float = 30) -> dict[str, Any]:
        """Counts of sessions by operation type, user and status, average duration and LLM
        cost, over the last `days` days."""
        async with tracked(ctx, "session_query", "session_statistics", {"days": days}) as session:
            stats = _state(ctx).manager.get_statistics(days)
            return {"session_id": session.session_id, "days": days, "statistics": stats}

    @server.tool(annotations=READ_ONLY)
    async def cost_report(
        ctx: Ctx,
        days: float = 30,
        group_by: Literal["model", "type", "operation", "user", "day"] = "operation",
    ) -> dict[str, Any]:
        """LLM spend (USD), requests and tokens over the last `days` days, grouped by model,
        request type, operation, user or day; most expensive first."""
        arguments = {"days": days, "group_by": group_by}
        async with tracked(ctx, "session_query", "cost_report", arguments) as session:
            groups = _state(ctx).manager.store.costs.report(group_by, window_start(days))
            return {
                "session_id": session.session_id,
                "group_by": group_by,
                "groups": [group.to_dict(group_by) for group in groups],
                "total_usd": float(sum(g.totals.cost for g in groups)),
            }

    @server.tool(annotations=READ_ONLY)
    async def get_compliance_status(ctx: Ctx) -> dict[str, Any]:
        """The latest CIS audit's compliance summary (pass/fail by severity, failed controls)
        and its trend against the audit before it. Reads results already on disk."""
        async with tracked(ctx, "compliance_status", "get_compliance_status", {}) as session:
            status = compliance_status(_state(ctx).root)
            return {"session_id": session.session_id, **status.to_dict()}


# -- operations ------------------------------------------------------------------------------


def _add_operation_tools(server: MCPServer[AppState]) -> None:
    @server.tool(annotations=QUERIES_TENANT)
    async def run_security_audit(
        ctx: Ctx,
        spo_admin_url: str | None = None,
        skip_purview: bool = False,
        timestamped: bool = True,
    ) -> dict[str, Any]:
        """Run the Microsoft 365 CIS security audit against the tenant and summarise it.

        Takes minutes. spo_admin_url is the SharePoint admin URL, e.g.
        https://contoso-admin.sharepoint.com; skip_purview skips the Purview checks. Returns
        compliance percentage, counts by status and severity, and the failed controls.
        """
        arguments = {"spo_admin_url": spo_admin_url, "skip_purview": skip_purview,
                     "timestamped": timestamped}  # fmt: skip
        async with tracked(ctx, "security_audit", "run_security_audit", arguments) as session:
            state = _state(ctx)
            session.add_event("start", "Starting M365 CIS security audit")
            await step(ctx, session, 0, 4, "Building PowerShell command")
            argv = script_command(state.root, AUDIT_SCRIPT, AUDIT_COMMAND_ENV)
            if timestamped:
                argv.append("-Timestamped")
            if spo_admin_url:
                if not spo_admin_url.startswith("https://"):
                    raise ToolError(
                        f"spo_admin_url must be an https URL such as "
                        f"https://contoso-admin.sharepoint.com, not {spo_admin_url!r}."
                    )
                argv += ["-SPOAdminUrl", spo_admin_url]
            if skip_purview:
                argv.append("-SkipPurview")
            started = time.time()
            await step(ctx, session, 1, 4, "Executing PowerShell audit script")
            await _run_checked(state, argv, "audit")
            await step(ctx, session, 2, 4, "Audit script completed, parsing results")
            folder = state.root / REPORTS / "security"
            found = find_results(folder, since=started)
            if not found:
                raise ScriptError(
                    f"The audit script succeeded but wrote no m365_cis_audit*.json under "
                    f"{folder} during this call; check the script's output folder."
                )
            summary = summarize(load_results(found[0]), source=found[0])
            percent = summary.compliance_percent
            session.add_event(
                "complete",
                f"Audit completed with {percent:g}% compliance",
                {"results_file": str(found[0]), "compliance_percent": percent},
            )
            await ctx.report_progress(4, 4, "Audit summarised")
            return {
                "session_id": session.session_id,
                "results_file": str(found[0]),
                "summary": summary.to_dict(),
            }

    @server.tool(annotations=WRITES_REPORT)
    async def analyze_sharepoint_permissions(ctx: Ctx, input_file: str) -> dict[str, Any]:
        """Analyse a SharePoint permissions CSV export under the toolkit folder.

        Counts permissions by item type and level, lists top users and resources, and finds
        risks: external or guest users, broad groups such as Everyone, anonymous or
        organisation sharing links, Full Control outside owners. Also writes an Excel
        workbook of the analysis under output/reports/sharepoint/.
        """
        async with tracked(
            ctx, "sharepoint_analysis", "analyze_sharepoint_permissions", {"input_file": input_file}
        ) as session:
            state = _state(ctx)
            path = _inside(state.root, input_file)
            await step(ctx, session, 0, 2, f"Reading {path.name}")
            analysis = analyze_permissions(path)
            stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
            workbook = state.root / REPORTS / "sharepoint" / f"{path.stem}_analysis_{stamp}.xlsx"
            await step(ctx, session, 1, 2, "Writing the Excel workbook")
            write_workbook(analysis, workbook)
            data = analysis.to_dict()
            session.add_event(
                "complete", f"Analysed {data['row_count']} permission entries",
                {"workbook": str(workbook)},
            )  # fmt: skip
            return {"session_id": session.session_id, "workbook": str(workbook), "analysis": data}

    @server.tool(annotations=CHANGES_TENANT)
    async def remediate_security_issues(
        ctx: Ctx, preview_only: bool = True, force_apply: bool = False
    ) -> dict[str, Any]:
        """Remediate failed CIS controls in the tenant.

        By default only previews the changes (-WhatIf). Changes are applied only with
        preview_only=false AND force_apply=true; ask the user before doing so.
        """
        arguments = {"preview_only": preview_only, "force_apply": force_apply}
        async with tracked(ctx, "remediation", "remediate_security_issues", arguments) as session:
            if not preview_only and not force_apply:
                raise ToolError(
                    "Refusing to change the tenant: preview_only=false also needs "
                    "force_apply=true. Run with preview_only=true first and confirm with the user."
                )
            state = _state(ctx)
            argv = script_command(state.root, REMEDIATION_SCRIPT, REMEDIATION_COMMAND_ENV)
            mode = "preview" if preview_only else "apply"
            if preview_only:
                argv.append("-WhatIf")
            await step(ctx, session, 0, 1, f"Running the remediation script ({mode})")
            result = await _run_checked(state, argv, "remediation")
            session.add_event("complete", f"Remediation {mode} finished")
            return {
                "session_id": session.session_id,
                "mode": mode,
                "exit_code": result.returncode,
                "output": result.stdout[-4000:],
            }


async def _run_checked(state: AppState, argv: list[str], what: str) -> ScriptResult:
    """Run a script under the root; a non-zero exit is an error quoting its output."""
    result = await run_script(argv, state.root, state.audit_timeout)
    if result.returncode != 0:
        raise ScriptError(
            f"The {what} script exited with code {result.returncode}: {result.summary()}"
        )
    return result


def _inside(root: Path, name: str) -> Path:
    """``name`` resolved under ``root``; anything outside it is refused."""
    base = root.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise ToolError(
            f"input_file must be a file inside the toolkit folder {base}; {name!r} is outside it."
        )
    if not path.is_file():
        raise ToolError(f"No file {name!r} under the toolkit folder {base}.")
    return path
