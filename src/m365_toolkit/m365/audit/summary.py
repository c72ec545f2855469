"""Summaries of CIS audit results: totals, compliance figures, failed controls and trend."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from .results import (
    REPORTS_SUBDIR,
    SEVERITIES,
    STATUSES,
    ControlResult,
    NoAuditResults,
    find_results,
    load_results,
)

_FAILED_STATUSES = frozenset({"Fail", "Error"})
_FILE_STAMP = re.compile(r"m365_cis_audit_(\d{8}_\d{6})")


@dataclass(frozen=True, slots=True)
class FailedControl:
    """A control with status Fail or Error, its evidence cut to a readable length."""

    control_id: str
    title: str
    severity: str
    status: str
    expected: Any
    actual: Any
    evidence: str
    evidence_chars_cut: int
    reference: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """Totals of one audit run and the controls that need action."""

    source: Path | None
    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    compliance_percent: float | None
    """Pass / (Pass + Fail) x 100 (:func:`pass_rate`): the figure the CLI, the MCP tools and
    the dashboard show; ``None`` when no control passed or failed."""
    pass_rate_percent: float | None
    """The same figure, under the name the Graph engine's completion step uses."""
    failed: tuple[FailedControl, ...]
    """Fail and Error controls, High severity first, then by control id."""

    @property
    def failed_count(self) -> int:
        return len(self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source) if self.source else None,
            "total": self.total,
            "by_status": dict(self.by_status),
            "by_severity": dict(self.by_severity),
            "compliance_percent": self.compliance_percent,
            "pass_rate_percent": self.pass_rate_percent,
            "failed_count": self.failed_count,
            "failed": [control.to_dict() for control in self.failed],
        }


@dataclass(frozen=True, slots=True)
class Trend:
    """How the newest run compares with the one before it."""

    previous_file: Path
    previous_compliance_percent: float | None
    compliance_change_points: float | None
    """Newest minus previous compliance, in percentage points (``None`` if either is empty)."""
    failed_change: int
    """Newest minus previous count of Fail and Error controls."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous_file": str(self.previous_file),
            "previous_compliance_percent": self.previous_compliance_percent,
            "compliance_change_points": self.compliance_change_points,
            "failed_change": self.failed_change,
        }


@dataclass(frozen=True, slots=True)
class ComplianceStatus:
    """The newest audit run, when it happened, and its trend."""

    results_file: Path
    modified_at: datetime
    """When the results file was last written (UTC)."""
    audited_at: datetime | None
    """Latest control timestamp, else the file name's stamp (naive local time)."""
    summary: AuditSummary
    trend: Trend | None
    """``None`` when this is the only readable results file."""
    results_files: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "results_file": str(self.results_file),
            "modified_at": self.modified_at.isoformat(),
            "audited_at": self.audited_at.isoformat() if self.audited_at else None,
            "results_files": self.results_files,
            "summary": self.summary.to_dict(),
            "trend": self.trend.to_dict() if self.trend else None,
        }


def summarize(
    results: list[ControlResult],
    *,
    source: Path | None = None,
    evidence_limit: int = 500,
) -> AuditSummary:
    """Totals by status and severity, compliance figures and the controls needing action.

    Args:
        results: controls from :func:`load_results`.
        source: the file they came from, carried into the summary.
        evidence_limit: longest evidence kept for a failed control, in characters.

    Raises:
        ValidationError: ``evidence_limit`` is not a whole number of 0 or more.
    """
    if (
        isinstance(evidence_limit, bool)
        or not isinstance(evidence_limit, int)
        or evidence_limit < 0
    ):
        raise ValidationError(
            f"evidence_limit must be a whole number of 0 or more, not {evidence_limit!r}."
        )
    by_status = _counts((r.status for r in results), STATUSES)
    by_severity = _counts((r.severity for r in results), SEVERITIES)
    total = len(results)
    rate = pass_rate(by_status)
    failing = sorted((r for r in results if r.status in _FAILED_STATUSES), key=_failed_order)
    return AuditSummary(
        source=source,
        total=total,
        by_status=by_status,
        by_severity=by_severity,
        compliance_percent=rate,
        pass_rate_percent=rate,
        failed=tuple(_failed_control(r, evidence_limit) for r in failing),
    )


def compliance_status(root: str | Path) -> ComplianceStatus:
    """Summary of the newest results under ``root/output/reports/security/`` and its trend.

    The trend compares with the newest earlier file that can be read; earlier files that
    cannot be read are passed over, since they should not hide the current status.

    Raises:
        NoAuditResults: no results file exists there yet.
        ValidationError: the newest results file cannot be read.
    """
    reports_dir = Path(root) / REPORTS_SUBDIR
    files = find_results(reports_dir)
    if not files:
        raise NoAuditResults(reports_dir)
    newest = files[0]
    results = load_results(newest)
    summary = summarize(results, source=newest)
    trend = None
    for earlier in files[1:]:
        try:
            previous = summarize(load_results(earlier), source=earlier)
        except ValidationError:
            continue
        trend = _trend(summary, previous, earlier)
        break
    stamps = [r.timestamp for r in results if r.timestamp is not None]
    return ComplianceStatus(
        results_file=newest,
        modified_at=datetime.fromtimestamp(newest.stat().st_mtime, tz=UTC),
        audited_at=max(stamps) if stamps else _file_stamp(newest),
        summary=summary,
        trend=trend,
        results_files=len(files),
    )


def _file_stamp(path: Path) -> datetime | None:
    match = _FILE_STAMP.search(path.name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d_%H%M%S")
    except ValueError:
        return None


def _counts(values: Iterable[str], known: tuple[str, ...]) -> dict[str, int]:
    """Counts with every known name present (in order), then others alphabetically."""
    counts = dict.fromkeys(known, 0)
    others: dict[str, int] = {}
    for value in values:
        if value in counts:
            counts[value] += 1
        else:
            others[value] = others.get(value, 0) + 1
    counts.update(sorted(others.items()))
    return counts


def pass_rate(by_status: Mapping[str, int]) -> float | None:
    """Pass / (Pass + Fail) x 100, rounded to 2 places; ``None`` when nothing was judged.

    The one compliance figure of the toolkit. Only controls with a verdict count:
    ``Skipped`` (a missing permission or licence, not applicable), ``Manual`` (needs a
    person), ``Error`` (collection failed: unknown, listed with the failed controls) and
    ``Accepted`` (a failure covered by an accepted exception, kept out of the failures)
    are left out of the denominator, so neither a missing licence nor a declared exception
    lowers the figure, and no unknown raises it.
    """
    passed, failed = by_status.get("Pass", 0), by_status.get("Fail", 0)
    judged = passed + failed
    return round(passed / judged * 100, 2) if judged else None


def _failed_order(result: ControlResult) -> tuple[int, tuple[tuple[int, int | str], ...]]:
    rank = SEVERITIES.index(result.severity) if result.severity in SEVERITIES else len(SEVERITIES)
    return rank, _id_key(result.control_id)


def _id_key(control_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort "1.1.2" before "1.1.10"."""
    parts = re.split(r"[.\s]+", control_id)
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def _failed_control(result: ControlResult, limit: int) -> FailedControl:
    evidence, cut = _truncate(result.evidence, limit)
    return FailedControl(
        control_id=result.control_id,
        title=result.title,
        severity=result.severity,
        status=result.status,
        expected=result.expected,
        actual=result.actual,
        evidence=evidence,
        evidence_chars_cut=cut,
        reference=result.reference,
    )


def _truncate(evidence: object, limit: int) -> tuple[str, int]:
    if evidence is None:
        text = ""
    elif isinstance(evidence, str):
        text = evidence
    else:
        text = json.dumps(evidence, ensure_ascii=False)
    if len(text) <= limit:
        return text, 0
    cut = len(text) - limit
    return f"{text[:limit]}… [{cut} more characters cut]", cut


def _trend(current: AuditSummary, previous: AuditSummary, previous_file: Path) -> Trend:
    change = None
    if current.compliance_percent is not None and previous.compliance_percent is not None:
        change = round(current.compliance_percent - previous.compliance_percent, 2)
    return Trend(
        previous_file=previous_file,
        previous_compliance_percent=previous.compliance_percent,
        compliance_change_points=change,
        failed_change=current.failed_count - previous.failed_count,
    )
