"""The Excel workbook of a SharePoint permissions analysis (needs openpyxl: the mcp extra)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..._util.atomic import atomic_binary_file
from ...errors import ConfigError, StoreError, ValidationError
from .analysis import PermissionAnalysis
from .entries import COLUMNS
from .findings import SEVERITIES

_EXCEL_CELL_LIMIT = 32_767


def write_workbook(analysis: PermissionAnalysis, path: str | Path) -> Path:
    """Write an Excel workbook with Summary, Findings and Permissions sheets.

    The file is written whole or not at all; missing parent folders are created.

    Raises:
        ConfigError: openpyxl is not installed.
        ValidationError: the workbook cannot be written to ``path``.
    """
    try:
        from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]
        from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped, unused-ignore]
    except ModuleNotFoundError:
        raise ConfigError(
            "Writing Excel workbooks needs openpyxl; install it with "
            "pip install 'm365-security-toolkit[mcp]'."
        ) from None
    bold = Font(bold=True)
    workbook = Workbook()
    summary = workbook.active
    summary.title = "Summary"
    _append(summary, ["SharePoint permissions analysis"], bold)
    _append(summary, ["Source", str(analysis.source)])
    _append(summary, ["Permission entries", analysis.row_count])
    severities = Counter(finding.severity for finding in analysis.findings)
    _append(summary, ["Findings", len(analysis.findings)])
    for severity in SEVERITIES:
        _append(summary, [f"{severity} severity findings", severities[severity]])
    sections: list[tuple[str, str, Iterable[tuple[str, int]]]] = [
        ("Item type", "Entries", analysis.by_item_type.items()),
        ("Permission", "Entries", analysis.by_permission.items()),
        ("Sharing link type", "Links", analysis.links_by_type.items()),
        ("Top user", "Entries", ((i.name, i.count) for i in analysis.top_users)),
        ("Top resource", "Entries", ((i.name, i.count) for i in analysis.top_resources)),
    ]
    for heading, unit, rows in sections:
        summary.append([])
        _append(summary, [heading, unit], bold)
        for name, count in rows:
            _append(summary, [name, count])
    _fit_columns(summary)

    findings = workbook.create_sheet("Findings")
    _append(findings, ["Severity", "Finding", "Count", "Examples", "Recommendation"], bold)
    for finding in analysis.findings:
        examples = "\n".join(finding.examples)
        row = [finding.severity, finding.title, finding.count, examples, finding.recommendation]
        _append(findings, row)
    for cells in findings.iter_rows(min_row=2):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _fit_columns(findings)
    findings.freeze_panes = "A2"

    permissions = workbook.create_sheet("Permissions")
    _append(permissions, list(COLUMNS), bold)
    for entry in analysis.entries:
        _append(permissions, list(entry.cells()))
    _fit_columns(permissions)
    permissions.freeze_panes = "A2"
    permissions.auto_filter.ref = permissions.dimensions

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_binary_file(path, "workbook") as file:
            workbook.save(file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValidationError(f"Cannot write the workbook {str(path)!r}: {reason}.") from exc
    except StoreError as exc:
        raise ValidationError(str(exc)) from exc
    return path


def _append(sheet: Any, values: list[Any], font: Any = None) -> None:
    """Append a row; text is cleaned so that it is stored as text, never as a formula."""
    sheet.append([_cell_text(value) if isinstance(value, str) else value for value in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"  # a display name like "=HYPERLINK(...)" must stay text
        if font is not None:
            cell.font = font


def _cell_text(value: str) -> str:
    cleaned = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value)  # not allowed in XML
    return cleaned[:_EXCEL_CELL_LIMIT]


def _fit_columns(sheet: Any) -> None:
    widths: dict[str, int] = {}
    for row in sheet.iter_rows(max_row=min(sheet.max_row, 500)):
        for cell in row:
            if cell.value is not None:
                longest = max(len(part) for part in str(cell.value).split("\n"))
                widths[cell.column_letter] = max(widths.get(cell.column_letter, 0), longest)
    for letter, width in widths.items():
        sheet.column_dimensions[letter].width = min(max(width + 2, 10), 80)
