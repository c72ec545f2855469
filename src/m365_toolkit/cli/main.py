"""The ``m365-toolkit`` command: parse options, call the library, format the answer."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from .. import __version__, settings
from ..costs.model import GROUPS
from ..data.retention import parse_age
from ..errors import SessionsError, ValidationError
from ..sessions.formatting import format_statistics
from ..sessions.manager import SessionManager
from ..sessions.model import Status
from ..sessions.query import window_start
from . import demo

F = TypeVar("F", bound=Callable[..., Any])
_STATUS_STYLE = {"active": "cyan", "success": "green", "error": "red", "cancelled": "yellow"}


def _store_options(command: F) -> F:
    """Add ``--store`` and ``--json`` and turn toolkit errors into clean CLI errors."""

    @click.option(
        "--store",
        metavar="PATH_OR_URL",
        envvar=settings.STORE,
        help="Session store: a SQLite file, a .json file or a store URL "
        "[default: output/sessions/sessions.db; env M365_TOOLKIT_STORE].",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @functools.wraps(command)
    def wrapper(*args: Any, store: str | None, as_json: bool, **kwargs: Any) -> Any:
        try:
            with SessionManager(store) as manager:
                return command(*args, manager=manager, as_json=as_json, **kwargs)
        except SessionsError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _days_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--days", type=click.FloatRange(min=0), default=30, show_default=True, help=help_text
    )


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _duration_text(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def _parse_age(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_age(text)
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from None


def _console() -> Console:
    # Piped output has no terminal width: do not squeeze tables into 80 columns.
    return Console() if sys.stdout.isatty() else Console(width=160)


def sessions_table(history: list[dict[str, Any]], title: str) -> Table:
    """A table of sessions as history returns them."""
    table = Table(title=title, title_justify="left")
    for column in ("Session ID", "Started (UTC)", "Operation", "User", "Status", "Duration"):
        table.add_column(column, no_wrap=column == "Session ID")
    table.add_column("Events", justify="right")
    for item in history:
        status = item["status"]
        table.add_row(
            item["session_id"],
            item["start_time"][:19].replace("T", " "),
            item["operation_type"],
            item["user"],
            f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]",
            _duration_text(item["duration_seconds"]),
            str(len(item.get("events", ()))),
        )
    return table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="m365-toolkit")
def cli() -> None:
    """Sessions and audit trail for Microsoft 365 security operations."""


@cli.group()
def sessions() -> None:
    """Query and maintain the session audit trail."""


@sessions.command("list")
@click.option("--type", "operation_type", help="Only this operation type.")
@click.option("--user", help="Only sessions of this user.")
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only this status.")
@_days_option("Sessions started in the last N days.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Show at most N sessions, newest first.",
)
@_store_options
def list_sessions(
    manager: SessionManager,
    as_json: bool,
    operation_type: str | None,
    user: str | None,
    status: str | None,
    days: float,
    limit: int,
) -> None:
    """List recent sessions, newest first."""
    history = manager.get_session_history(operation_type, user, days, status=status, limit=limit)
    if as_json:
        _echo_json(history)
        return
    if not history:
        click.echo(f"No sessions in the last {days:g} days in {manager.storage_path}.")
        return
    _console().print(sessions_table(history, f"Sessions - last {days:g} days"))


@sessions.command("show")
@click.argument("session_id")
@_store_options
def show_session(manager: SessionManager, as_json: bool, session_id: str) -> None:
    """Show one session with its event timeline."""
    session = manager.get_session(session_id)
    if session is None:
        raise click.ClickException(f"No session with id {session_id!r} in {manager.storage_path}.")
    data = session.to_dict()
    if as_json:
        _echo_json(data)
        return
    console = _console()
    status = data["status"]
    console.print(f"[bold]Session {data['session_id']}[/]")
    for label, value in (
        ("Operation", data["operation_type"]),
        ("User", data["user"]),
        ("Status", f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"),
        ("Started", data["start_time"]),
        ("Ended", data["end_time"] or "-"),
        ("Duration", _duration_text(session.get_duration().total_seconds())),
        ("Host / PID", f"{data['host'] or '-'} / {data['pid'] or '-'}"),
        ("Metadata", json.dumps(data["metadata"], ensure_ascii=False)),
    ):
        console.print(f"  [dim]{label + ':':<12}[/] {value}", highlight=False)
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("#", "Time (UTC)", "Type", "Description", "Data"):
        timeline.add_column(column)
    for event in data["events"]:
        timeline.add_row(
            str(event.get("seq", "")),
            event["timestamp"][11:23],
            event["type"],
            event["description"],
            json.dumps(event["data"], ensure_ascii=False) if event["data"] else "",
        )
    console.print(timeline)


@sessions.command("stats")
@_days_option("Sessions started in the last N days.")
@_store_options
def session_stats(manager: SessionManager, as_json: bool, days: float) -> None:
    """Statistics by operation type, user and status."""
    stats = manager.get_statistics(days)
    if as_json:
        _echo_json(stats)
    else:
        click.echo(format_statistics(stats, days))


@sessions.command("reap")
@click.option(
    "--older-than",
    metavar="AGE",
    help="Also reap active sessions from other hosts started longer ago (e.g. 12h, 7d).",
)
@click.option("--dry-run", is_flag=True, help="Only list the stale sessions.")
@_store_options
def reap_sessions(
    manager: SessionManager, as_json: bool, older_than: str | None, dry_run: bool
) -> None:
    """Complete as 'error' the active sessions whose process has died."""
    age = _parse_age(older_than)
    if dry_run:
        ids = [record["session_id"] for record in manager.find_stale(age)]
    else:
        ids = manager.reap_stale(age)
    if as_json:
        _echo_json({"dry_run": dry_run, "sessions": ids})
        return
    verb = "Would reap" if dry_run else "Reaped"
    click.echo(f"{verb} {len(ids)} stale session(s).")
    for session_id in ids:
        click.echo(f"  {session_id}")


@cli.group()
def costs() -> None:
    """LLM costs linked to sessions: reports, CSV export and budgets."""


def _tracker(manager: SessionManager, **options: Any) -> Any:
    from ..costs.tracker import GPT5CostTracker  # needs the costs extra

    return GPT5CostTracker(manager=manager, **options)


@costs.command("report")
@_days_option("Requests made in the last N days.")
@click.option(
    "--by",
    "group_by",
    type=click.Choice(GROUPS),
    default="model",
    show_default=True,
    help="What to group the costs by.",
)
@_store_options
def cost_report(manager: SessionManager, as_json: bool, days: float, group_by: str) -> None:
    """Costs, requests and tokens grouped by model, type, operation, user or day."""
    since = window_start(days)
    groups = manager.store.costs.report(group_by, since)
    if as_json:
        _echo_json([group.to_dict(group_by) for group in groups])
        return
    if not groups:
        click.echo(f"No LLM costs in the last {days:g} days in {manager.storage_path}.")
        return
    table = Table(title=f"LLM costs by {group_by} - last {days:g} days", title_justify="left")
    for column in (group_by.capitalize(), "Requests", "Input", "Cached", "Output", "Cost (USD)"):
        table.add_column(column, justify="left" if column == group_by.capitalize() else "right")
    for group in groups:
        t = group.totals
        table.add_row(
            group.key,
            f"{t.requests:,}",
            f"{t.input:,}",
            f"{t.cached_input:,}",
            f"{t.output:,}",
            f"{t.cost:.6f}",
        )
    total = sum((g.totals.cost for g in groups), Decimal(0))
    table.add_row("[bold]total[/]", "", "", "", "", f"[bold]{total:.6f}[/]")
    _console().print(table)


@costs.command("export")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The CSV file to write.",
)
@_store_options
def cost_export(manager: SessionManager, as_json: bool, csv_path: str) -> None:
    """Write every cost record to a CSV file."""
    rows = _tracker(manager).export_to_csv(csv_path)
    if as_json:
        _echo_json({"path": csv_path, "rows": rows})
    else:
        click.echo(f"Wrote {rows} cost record(s) to {csv_path}.")


@costs.command("budget")
@click.option("--daily", type=float, help="Daily limit in USD for all spending.")
@click.option("--monthly", type=float, help="Monthly limit in USD for all spending.")
@click.option("--user-daily", type=float, help="Daily limit in USD per user.")
@click.option("--user-monthly", type=float, help="Monthly limit in USD per user.")
@click.option("--user", help="Whose per-user spend to show [default: the current user].")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Cost config file with a [budgets] table [env M365_TOOLKIT_COST_CONFIG].",
)
@_store_options
def cost_budget(
    manager: SessionManager,
    as_json: bool,
    daily: float | None,
    monthly: float | None,
    user_daily: float | None,
    user_monthly: float | None,
    user: str | None,
    config_file: str | None,
) -> None:
    """Current spend against each budget (from the options or the cost config file)."""
    tracker = _tracker(
        manager, budget_limit=daily, monthly_limit=monthly, user_daily_limit=user_daily,
        user_monthly_limit=user_monthly, user=user, config_file=config_file,
    )  # fmt: skip
    statuses = tracker.budget_status()
    if as_json:
        _echo_json([
            {"budget": s.budget.name, "limit": str(s.budget.limit), "spent": str(s.spent),
             "remaining": str(s.remaining), "exhausted": s.exhausted}
            for s in statuses
        ])  # fmt: skip
        return
    if not statuses:
        raise click.UsageError(
            "No budget is set: give --daily, --monthly, --user-daily or --user-monthly, "
            "or a [budgets] table in the cost config file."
        )
    table = Table(title=f"Budgets (user {tracker.user})", title_justify="left")
    for column in ("Budget", "Limit (USD)", "Spent (USD)", "Remaining (USD)", "State"):
        table.add_column(column, justify="left" if column in ("Budget", "State") else "right")
    for s in statuses:
        state = "[red]exhausted[/]" if s.exhausted else "[green]ok[/]"
        table.add_row(s.budget.label, f"{s.budget.limit:.2f}", f"{s.spent:.6f}",
                      f"{s.remaining:.6f}", state)  # fmt: skip
    _console().print(table)


@cli.command("mcp")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "streamable-http"]),
    default="stdio",
    show_default=True,
    help="stdio for AI assistants; streamable-http to serve HTTP.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address to bind.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="HTTP port."
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=settings.ROOT,
    help="Toolkit folder with output/ and scripts/ [default: current directory; "
    "env M365_TOOLKIT_ROOT].",
)
@click.option(
    "--store",
    metavar="PATH_OR_URL",
    envvar=settings.STORE,
    help="Session store [default: output/sessions/sessions.db under the root].",
)
@click.option(
    "--audit-timeout",
    type=click.FloatRange(min=1),
    envvar=settings.AUDIT_TIMEOUT,
    help="Seconds before a hung audit or remediation script is stopped [default: 1800].",
)
def run_mcp(
    transport: str,
    host: str,
    port: int,
    root: Path | None,
    store: str | None,
    audit_timeout: float | None,
) -> None:
    """Serve the toolkit's operations to AI assistants over MCP."""
    try:
        from ..mcp_server.server import build_server
    except ImportError as exc:
        raise click.ClickException(
            f"The MCP server needs the mcp extra ({exc.name} is missing): "
            "pip install 'm365-security-toolkit[mcp]'."
        ) from exc
    try:
        server = build_server(root, store, audit_timeout=audit_timeout)
    except SessionsError as exc:
        raise click.ClickException(str(exc)) from exc
    if transport == "stdio":
        server.run()
    else:
        server.run("streamable-http", host=host, port=port)


@cli.command("demo")
@_store_options
def run_demo(manager: SessionManager, as_json: bool) -> None:
    """Record a few realistic sessions, then show history and statistics."""
    recorded = demo.record_sessions(manager)
    tools = demo.run_tools(manager)
    history = manager.get_session_history(days=1, limit=len(recorded) + len(tools or ()))
    if as_json:
        _echo_json({"store": manager.storage_path, "sessions": history, "tools": tools})
        return
    console = _console()
    console.print(f"Recorded {len(history)} sessions in {manager.storage_path}")
    if tools is None:
        console.print("(Install the mcp extra to also see the MCP tools on the sample data.)")
    else:
        compliance, sharepoint = tools
        summary = compliance["summary"]
        console.print(
            f"MCP get_compliance_status on the sample audit: {summary['compliance_percent']}% "
            f"compliant, {summary['failed_count']} failed controls "
            f"(session {compliance['session_id']})"
        )
        findings = sharepoint["analysis"]["findings"]
        console.print(
            f"MCP analyze_sharepoint_permissions on the sample export: "
            f"{sharepoint['analysis']['row_count']} entries, {len(findings)} risk findings "
            f"(session {sharepoint['session_id']})"
        )
        for finding in findings:
            console.print(f"  - {finding['severity']}: {finding['title']}", highlight=False)
    console.print(sessions_table(history, "Sessions recorded by the demo"))
    click.echo(format_statistics(manager.get_statistics(30), 30))


# The data commands (export, import, prune, store migrate) live in a module of their own;
# importing it registers them on the groups above.


def main() -> None:
    """Entry point of the ``m365-toolkit`` console script."""
    cli()
