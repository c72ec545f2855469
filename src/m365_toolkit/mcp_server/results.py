"""What the tools return: frozen dataclasses, so every tool's output schema names its fields.

Each result names the session the call was recorded in. Nested records (sessions, summaries,
analyses) are the library's own JSON-ready dictionaries (``to_dict()``), as the CLI's
``--json`` prints them.

Not slotted: the SDK builds the output schema from the class attributes, and a slot
descriptor would read as a default value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class SessionList:
    """Recent sessions, newest first."""

    session_id: str
    """This call's own session."""
    sessions: list[dict[str, Any]]
    """Each with id, times, status, duration, metadata, ``event_count`` and ``cost``."""


@dataclass(frozen=True)
class SessionDetail:
    """One session in full."""

    session_id: str
    """This call's own session."""
    session: dict[str, Any]
    """The session asked for: metadata, every event of its timeline, status and cost."""


@dataclass(frozen=True)
class SessionStatistics:
    """Counts and averages over a window of days."""

    session_id: str
    days: float
    statistics: dict[str, Any]
    """total_sessions, by_operation_type, by_user, by_status, average_duration_seconds,
    total_cost_usd, cost_by_operation_type."""


@dataclass(frozen=True)
class CostReport:
    """LLM spend grouped one way, most expensive first."""

    session_id: str
    group_by: Literal["model", "type", "operation", "user", "day"]
    groups: list[dict[str, Any]]
    """Each with the group's key, requests, tokens and cost in USD (exact decimal text)."""
    total_usd: str
    """Exact decimal text, e.g. "0.021875"."""


@dataclass(frozen=True)
class ComplianceStatusResult:
    """The newest audit's summary and its trend against the one before."""

    session_id: str
    results_file: str
    modified_at: str
    """When the results file was written (ISO 8601, UTC)."""
    audited_at: str | None
    """The latest control time stamp, else the one in the file name (local time)."""
    results_files: int
    summary: dict[str, Any]
    """total, by_status, by_severity, compliance_percent, pass_rate_percent, failed_count,
    failed (the Fail and Error controls, High severity first)."""
    trend: dict[str, Any] | None
    """previous_file, previous_compliance_percent, compliance_change_points, failed_change;
    null for the first audit."""


@dataclass(frozen=True)
class AuditResult:
    """A finished audit's results file and summary."""

    session_id: str
    results_file: str
    summary: dict[str, Any]
    """total, by_status, by_severity, compliance_percent, pass_rate_percent, failed_count,
    failed (the Fail and Error controls, High severity first)."""


@dataclass(frozen=True)
class SharePointResult:
    """A permissions analysis and the workbook written for it."""

    session_id: str
    workbook: str
    analysis: dict[str, Any]
    """source, row_count, by_item_type, by_permission, top_users, top_resources,
    links_by_type, findings (most severe first)."""


@dataclass(frozen=True)
class RemediationOutput:
    """What the remediation script did."""

    session_id: str
    mode: Literal["preview", "apply"]
    exit_code: int
    output: str
    """The end of the script's output."""


@dataclass(frozen=True)
class DashboardResult:
    """The security dashboard file written, and its headline figures."""

    session_id: str
    file: str
    """The dashboard file: one self-contained HTML page, or the JSON document."""
    format: Literal["html", "json"]
    bytes: int
    summary: dict[str, Any]
    """runs, latest_pass_rate_percent, latest_counts (controls by status), drift_counts
    (since the previous run), sessions, failed_sessions, stale_sessions, llm_cost_usd."""
