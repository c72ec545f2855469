"""The rich tables of the ``m365-toolkit`` commands: data in, a printable table out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..costs.budgets import BudgetStatus
from ..costs.model import CostGroup
from ..m365.audit import AuditSummary, ComplianceStatus
from ..m365.sharepoint import PermissionAnalysis
from ..sessions.model import Session
from ..store import StoreCounts

STATUS_STYLE = {"active": "cyan", "success": "green", "error": "red", "cancelled": "yellow"}
_SEVERITY_STYLE = {"High": "red", "Medium": "yellow", "Low": "cyan"}


def duration_text(seconds: float | None) -> str:
    """Seconds to one decimal, or ``-``."""
    return "-" if seconds is None else f"{seconds:.1f}s"


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _severity(severity: str) -> str:
    return f"[{_SEVERITY_STYLE.get(severity, 'white')}]{severity}[/]"


# -- sessions --------------------------------------------------------------------------------


def sessions_table(history: list[dict[str, Any]], title: str) -> Table:
    """A table of sessions as history returns them."""
    table = Table(title=title, title_justify="left")
    for column in ("Session ID", "Started (UTC)", "Operation", "User", "Status", "Duration"):
        table.add_column(column, no_wrap=column == "Session ID")
    table.add_column("Events", justify="right")
    for item in history:
        table.add_row(
            item["session_id"],
            item["start_time"][:19].replace("T", " "),
            item["operation_type"],
            item["user"],
            _status(item["status"]),
            duration_text(item["duration_seconds"]),
            str(len(item.get("events", ()))),
        )
    return table


def print_session(console: Console, session: Session) -> None:
    """One session's details and its event timeline."""
    data = session.to_dict()
    console.print(f"[bold]Session {data['session_id']}[/]")
    for label, value in (
        ("Operation", data["operation_type"]),
        ("User", data["user"]),
        ("Status", _status(data["status"])),
        ("Started", data["start_time"]),
        ("Ended", data["end_time"] or "-"),
        ("Duration", duration_text(session.get_duration().total_seconds())),
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


# -- costs -----------------------------------------------------------------------------------


def costs_table(groups: Sequence[CostGroup], group_by: str, days: float | None) -> Table:
    """Costs, requests and tokens per group, with a total row."""
    window = "all time" if days is None else f"last {days:g} days"
    table = Table(title=f"LLM costs by {group_by} - {window}", title_justify="left")
    first = group_by.capitalize()
    for column in (first, "Requests", "Input", "Cached", "Output", "Cost (USD)"):
        table.add_column(column, justify="left" if column == first else "right")
    for group in groups:
        t = group.totals
        table.add_row(group.key, f"{t.requests:,}", f"{t.input:,}", f"{t.cached_input:,}",
                      f"{t.output:,}", f"{t.cost:.6f}")  # fmt: skip
    total = sum((g.totals.cost for g in groups), Decimal(0))
    table.add_row("[bold]total[/]", "", "", "", "", f"[bold]{total:.6f}[/]")
    return table


def budgets_table(statuses: Iterable[BudgetStatus], user: str) -> Table:
    """Each budget's limit, spend and what remains."""
    table = Table(title=f"Budgets (user {user})", title_justify="left")
    for column in ("Budget", "Limit (USD)", "Spent (USD)", "Remaining (USD)", "State"):
        table.add_column(column, justify="left" if column in ("Budget", "State") else "right")
    for s in statuses:
        state = "[red]exhausted[/]" if s.exhausted else "[green]ok[/]"
        table.add_row(s.budget.label, f"{s.budget.limit:.2f}", f"{s.spent:.6f}",
                      f"{s.remaining:.6f}", state)  # fmt: skip
    return table


# -- data ------------------------------------------------------------------------------------


def migrate_table(
    title: str, copied: dict[str, tuple[int, int] | None], source: StoreCounts, target: StoreCounts
) -> Table:
    """What a migration copied and skipped, and the counts on both sides."""
    table = Table(title=title, title_justify="left")
    for column in ("", "Copied", "Skipped", "Source", "Target"):
        table.add_column(column, justify="left" if not column else "right")
    for name, pair in copied.items():
        table.add_row(
            name,
            str(pair[0]) if pair else "",
            str(pair[1]) if pair else "",
            str(getattr(source, name)),
            str(getattr(target, name)),
        )
    return table


# -- audit -----------------------------------------------------------------------------------


def audit_summary(summary: AuditSummary, title: str) -> Group:
    """Compliance figures, counts by status and severity, and the failed controls."""
    percent = summary.compliance_percent
    headline = Text.from_markup(
        f"[bold]{title}[/]: {'-' if percent is None else f'{percent:g}%'} compliant, "
        f"{summary.total} controls, {summary.failed_count} failed or in error"
    )
    counts = Table(title="Controls", title_justify="left")
    counts.add_column("By status")
    counts.add_column("", justify="right")
    counts.add_column("By severity")
    counts.add_column("", justify="right")
    statuses, severities = list(summary.by_status.items()), list(summary.by_severity.items())
    for index in range(max(len(statuses), len(severities))):
        status = statuses[index] if index < len(statuses) else ("", "")
        severity = severities[index] if index < len(severities) else ("", "")
        counts.add_row(status[0], str(status[1]), severity[0], str(severity[1]))
    failed = Table(title="Failed controls", title_justify="left")
    for column in ("Control", "Severity", "Status", "Title"):
        failed.add_column(column)
    for control in summary.failed:
        failed.add_row(control.control_id, _severity(control.severity), control.status,
                       control.title)  # fmt: skip
    return Group(headline, counts, failed) if summary.failed else Group(headline, counts)


def compliance_status(status: ComplianceStatus) -> Group:
    """The newest audit's summary, when it ran, and its trend."""
    when = status.audited_at.isoformat(sep=" ") if status.audited_at else "unknown time"
    parts: list[Any] = [audit_summary(status.summary, f"Audit of {when}")]
    parts.append(Text(f"Results file: {status.results_file}"))
    trend = status.trend
    if trend is None:
        parts.append(Text("Trend: no earlier audit to compare with."))
    else:
        change = trend.compliance_change_points
        parts.append(
            Text(
                f"Trend: {'-' if change is None else f'{change:+g}'} points of compliance, "
                f"{trend.failed_change:+d} failed controls since {trend.previous_file.name}"
            )
        )
    return Group(*parts)


# -- SharePoint ------------------------------------------------------------------------------


def sharepoint_analysis(analysis: PermissionAnalysis) -> Group:
    """Counts, top holders and the risk findings of a permissions analysis."""
    headline = Text.from_markup(
        f"[bold]{analysis.source.name}[/]: {analysis.row_count} permission entries, "
        f"{len(analysis.findings)} risk findings"
    )
    findings = Table(title="Findings", title_justify="left")
    for column in ("Severity", "Finding", "Examples"):
        findings.add_column(column)
    for finding in analysis.findings:
        findings.add_row(_severity(finding.severity), finding.title,
                         "\n".join(finding.examples[:3]))  # fmt: skip
    top = Table(title="Top users", title_justify="left")
    top.add_column("User")
    top.add_column("Entries", justify="right")
    for item in analysis.top_users:
        top.add_row(item.name, str(item.count))
    return Group(headline, findings, top)
