"""A SharePoint permissions report: analyse an export and write its Excel workbook."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..._util.system import utc_now
from ..progress import OnStep, Step
from .analysis import PermissionAnalysis, analyze_permissions
from .workbook import write_workbook

REPORTS_SUBDIR = Path("output", "reports", "sharepoint")


@dataclass(frozen=True, slots=True)
class SharePointReport:
    """An analysed export and the workbook written for it."""

    analysis: PermissionAnalysis
    workbook: Path


def analyze_to_workbook(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    *,
    progress: OnStep | None = None,
    clock: Callable[[], datetime] = utc_now,
    session_id: str | None = None,
) -> SharePointReport:
    """Analyse a permissions export and write the workbook under ``root``.

    The workbook is ``output/reports/sharepoint/<export name>_<session id>.xlsx`` for an
    analysis run in a session, so each session has its own report: two exports with one
    name (``siteA/export.csv``, ``siteB/export.csv``) analysed in the same second no longer
    share a file. Without a session it is ``<export name>_analysis_<UTC stamp>.xlsx``.

    Args:
        path: The CSV export.
        root: The toolkit folder the workbook is written under.
        progress: Called with each step, for the caller to record or show.
        clock: The current UTC time, for the name of a workbook without a session.
        session_id: The session the analysis is recorded in, which names the workbook.

    Raises:
        ValidationError: The export cannot be read or analysed, or the workbook written.
        ConfigError: openpyxl is not installed.
    """
    source = Path(path)

    def report(step: Step) -> None:
        if progress is not None:
            progress(step)

    report(Step(f"Reading {source.name}", done=0, total=2))
    analysis = analyze_permissions(source)
    if session_id is not None:
        name = f"{source.stem}_{_safe(session_id)}.xlsx"
    else:
        name = f"{source.stem}_analysis_{clock().astimezone(UTC).strftime('%Y%m%d_%H%M%S')}.xlsx"
    workbook = Path(root) / REPORTS_SUBDIR / name
    report(Step("Writing the Excel workbook", done=1, total=2))
    write_workbook(analysis, workbook)
    report(
        Step(
            f"Analysed {analysis.row_count} permission entries",
            {"workbook": str(workbook)},
            done=2,
            total=2,
        )
    )
    return SharePointReport(analysis, workbook)


def _safe(session_id: str) -> str:
    """A session id as part of a file name: no separators, nothing to climb out with."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", session_id).strip(".") or "session"
