"""The rich tables of the ``m365-toolkit`` commands: data in, a printable table out.

Stored text (users, operation types, events, metadata, models, file contents) is whatever
someone once wrote, an MCP client included: it is always shown through :func:`literal`,
never parsed as rich markup, and its control characters are made visible, so ``[/]`` cannot
crash a command, ``[link=...]`` is no link and no escape sequence reaches the terminal.
"""

from __future__ import annotations

import json
import re
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
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character spelled out (``\\x1b``, ``\\n``, ``\\u202e``)."""
    if text.isprintable():  # the common case, and cheap
        return text
    return _CONTROL.sub(_spell, text)


def _spell(match: re.Match[str]) -> str:
    char = match[0]
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def literal(value: object, style: str = "") -> Text:
    """Stored text as rich shows it literally: no markup, control characters visible."""
    return Text(visible(str(value)), style=style)


def visible_statistics(stats: dict[str, Any]) -> dict[str, Any]:
    """Statistics with the stored names (operation types, users) made :func:`visible`, for
    the plain-text report, which prints them as they are."""
    return {
        key: {visible(str(name)): count for name, count in value.items()}
        if isinstance(value, dict)
        else value
        for key, value in stats.items()
    }


def duration_text(seconds: float | None) -> str:
    """Seconds to one decimal, or ``-``."""
    return "-" if seconds is None else f"{seconds:.1f}s"


def _status(status: str) -> Text:
    return literal(status, STATUS_STYLE.get(status, "white"))


def _severity(severity: str) -> Text:
    return literal(severity, _SEVERITY_STYLE.get(severity, "white"))


# -- sessions --------------------------------------------------------------------------------


def sessions_table(history: list[dict[str, Any]], title: str) -> Table:
    """A table of sessions as history returns them."""
    table = Table(title=title, title_justify="left")
    for column in ("Session ID", "Started (UTC)", "Operation", "User", "Status", "Duration"):
        table.add_column(column, no_wrap=column == "Session ID")
    table.add_column("Events", justify="right")
    for item in history:
        table.add_row(
            literal(item["session_id"]),
            literal(item["start_time"][:19].replace("T", " ")),
            literal(item["operation_type"]),
            literal(item["user"]),
            _status(item["status"]),
            duration_text(item["duration_seconds"]),
            str(len(item.get("events", ()))),
        )
    return table


def print_session(console: Console, session: Session) -> None:
    """One session's details and its event timeline."""
    data = session.to_dict()
    console.print(Text.assemble(("Session ", "bold"), literal(data["session_id"], "bold")))
    for label, value in (
        ("Operation", literal(data["operation_type"])),
        ("User", literal(data["user"])),
        ("Status", _status(data["status"])),
        ("Started", literal(data["start_time"])),
        ("Ended", literal(data["end_time"] or "-")),
        ("Duration", literal(duration_text(session.get_duration().total_seconds()))),
        ("Host / PID", literal(f"{data['host'] or '-'} / {data['pid'] or '-'}")),
        ("Metadata", literal(json.dumps(data["metadata"], ensure_ascii=False))),
    ):
        console.print(Text.assemble((f"  {label + ':':<12}", "dim"), " ", value))
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("#", "Time (UTC)", "Type", "Description", "Data"):
        timeline.add_column(column)
    for event in data["events"]:
        timeline.add_row(
            literal(event.get("seq", "")),
            literal(event["timestamp"][11:23]),
            literal(event["type"]),
            literal(event["description"]),
            literal(json.dumps(event["data"], ensure_ascii=False) if event["data"] else ""),
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
        table.add_row(literal(group.key), f"{t.requests:,}", f"{t.input:,}", f"{t.cached_input:,}",
                      f"{t.output:,}", f"{t.cost:.6f}")  # fmt: skip
    total = sum((g.totals.cost for g in groups), Decimal(0))
    table.add_row("[bold]total[/]", "", "", "", "", f"[bold]{total:.6f}[/]")
    return table


def budgets_table(statuses: Iterable[BudgetStatus], user: str) -> Table:
    """Each budget's limit, spend and what remains."""
    table = Table(title=literal(f"Budgets (user {user})"), title_justify="left")
    for column in ("Budget", "Limit (USD)", "Spent (USD)", "Remaining (USD)", "State"):
        table.add_column(column, justify="left" if column in ("Budget", "State") else "right")
    for s in statuses:
        state = "[red]exhausted[/]" if s.exhausted else "[green]ok[/]"
        table.add_row(literal(s.budget.label), f"{s.budget.limit:.2f}", f"{s.spent:.6f}",
                      f"{s.remaining:.6f}", state)  # fmt: skip
    return table


# -- data ------------------------------------------------------------------------------------


def migrate_table(
    title: str, copied: dict[str, tuple[int, int] | None], source: StoreCounts, target: StoreCounts
) -> Table:
    """What a migration copied and skipped, and the counts on both sides."""
    table = Table(title=literal(title), title_justify="left")
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
    headline = Text.assemble(
        literal(title, "bold"),
        f": {'-' if percent is None else f'{percent:g}%'} compliant, "
        f"{summary.total} controls, {summary.failed_count} failed or in error",
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
        counts.add_row(literal(status[0]), literal(status[1]), literal(severity[0]),
                       literal(severity[1]))  # fmt: skip
    failed = Table(title="Failed controls", title_justify="left")
    for column in ("Control", "Severity", "Status", "Title"):
        failed.add_column(column)
    for control in summary.failed:
        failed.add_row(literal(control.control_id), _severity(control.severity),
                       literal(control.status), literal(control.title))  # fmt: skip
    return Group(headline, counts, failed) if summary.failed else Group(headline, counts)


def compliance_status(status: ComplianceStatus) -> Group:
    """The newest audit's summary, when it ran, and its trend."""
    when = status.audited_at.isoformat(sep=" ") if status.audited_at else "unknown time"
    parts: list[Any] = [audit_summary(status.summary, f"Audit of {when}")]
    parts.append(literal(f"Results file: {status.results_file}"))
    trend = status.trend
    if trend is None:
        parts.append(Text("Trend: no earlier audit to compare with."))
    else:
        change = trend.compliance_change_points
        parts.append(
            literal(
                f"Trend: {'-' if change is None else f'{change:+g}'} points of compliance, "
                f"{trend.failed_change:+d} failed controls since {trend.previous_file.name}"
            )
        )
    return Group(*parts)


# -- SharePoint ------------------------------------------------------------------------------


def sharepoint_analysis(analysis: PermissionAnalysis) -> Group:
    """Counts, top holders and the risk findings of a permissions analysis."""
    headline = Text.assemble(
        literal(analysis.source.name, "bold"),
        f": {analysis.row_count} permission entries, {len(analysis.findings)} risk findings",
    )
    findings = Table(title="Findings", title_justify="left")
    for column in ("Severity", "Finding", "Examples"):
        findings.add_column(column)
    for finding in analysis.findings:
        findings.add_row(_severity(finding.severity), literal(finding.title),
                         Text("\n").join(literal(e) for e in finding.examples[:3]))  # fmt: skip
    top = Table(title="Top users", title_justify="left")
    top.add_column("User")
    top.add_column("Entries", justify="right")
    for item in analysis.top_users:
        top.add_row(literal(item.name), str(item.count))
    return Group(headline, findings, top)
