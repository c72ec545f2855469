"""SharePoint permission analysis: read an export, find the risks, write an Excel workbook."""

from .analysis import PermissionAnalysis, RankedItem, analyze_permissions
from .entries import COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, PermissionEntry, read_permissions
from .findings import SEVERITIES, Finding
from .report import SharePointReport, analyze_to_workbook
from .workbook import write_workbook

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SEVERITIES",
    "Finding",
    "PermissionAnalysis",
    "PermissionEntry",
    "RankedItem",
    "SharePointReport",
    "analyze_permissions",
    "analyze_to_workbook",
    "read_permissions",
    "write_workbook",
]
