"""The CIS audit: read its results, summarise them and follow the trend.

Running the audit is :func:`m365_toolkit.m365.audit.runner.run_audit`, not imported here:
its script runner needs anyio (the mcp extra), reading results does not.
"""

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
from .summary import (
    AuditSummary,
    ComplianceStatus,
    FailedControl,
    Trend,
    compliance_status,
    pass_rate,
    summarize,
)

__all__ = [
    "REPORTS_SUBDIR",
    "RESULTS_GLOB",
    "SEVERITIES",
    "STATUSES",
    "AuditSummary",
    "ComplianceStatus",
    "ControlResult",
    "FailedControl",
    "NoAuditResults",
    "Trend",
    "compliance_status",
    "find_results",
    "load_results",
    "pass_rate",
    "summarize",
]
