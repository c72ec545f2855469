"""The CIS audit: run it, read its results, summarise them and follow the trend."""

from .results import (
    REPORTS_SUBDIR,
    RESULTS_GLOB,
    SEVERITIES,
    STATUSES,
    ControlResult,
    NoAuditResults,
    find_results,
    load_results,
)
from .runner import AuditRun, run_audit
from .summary import (
    AuditSummary,
    ComplianceStatus,
    FailedControl,
    Trend,
    compliance_status,
    summarize,
)

__all__ = [
    "REPORTS_SUBDIR",
    "RESULTS_GLOB",
    "SEVERITIES",
    "STATUSES",
    "AuditRun",
    "AuditSummary",
    "ComplianceStatus",
    "ControlResult",
    "FailedControl",
    "NoAuditResults",
    "Trend",
    "compliance_status",
    "find_results",
    "load_results",
    "run_audit",
    "summarize",
]
