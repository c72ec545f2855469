"""SharePoint permissions analysis of a CSV export: counts, top holders and risk findings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from .entries import PermissionEntry, read_permissions
from .findings import Finding, find_risks, links_by_type


@dataclass(frozen=True, slots=True)
class RankedItem:
    """A user or resource and how many permission entries it has."""

    name: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count}


@dataclass(frozen=True, slots=True)
class PermissionAnalysis:
    """What :func:`analyze_permissions` found in one export."""

    source: Path
    row_count: int
    by_item_type: dict[str, int]
    by_permission: dict[str, int]
    top_users: tuple[RankedItem, ...]
    top_resources: tuple[RankedItem, ...]
    links_by_type: dict[str, int]
    """Distinct sharing links per Link Type, as the export names them."""
    findings: tuple[Finding, ...]
    """Most severe first; only risks that are present."""
    entries: tuple[PermissionEntry, ...]

    def to_dict(self, *, include_entries: bool = False) -> dict[str, Any]:
        """JSON-ready data; the rows themselves only when ``include_entries`` is true."""
        data: dict[str, Any] = {
            "source": str(self.source),
            "row_count": self.row_count,
            "by_item_type": dict(self.by_item_type),
            "by_permission": dict(self.by_permission),
            "top_users": [item.to_dict() for item in self.top_users],
            "top_resources": [item.to_dict() for item in self.top_resources],
            "links_by_type": dict(self.links_by_type),
            "findings": [finding.to_dict() for finding in self.findings],
        }
        if include_entries:
            data["entries"] = [entry.to_dict() for entry in self.entries]
        return data


def analyze_permissions(
    path: str | Path, *, top: int = 10, examples: int = 5
) -> PermissionAnalysis:
    """Read a permissions export and report counts, top holders and risk findings.

    Args:
        path: the CSV export.
        top: how many users and resources to rank.
        examples: the most example entries given for each finding.

    Raises:
        ValidationError: the file is unreadable, lacks required columns or has a malformed row,
            or ``top``/``examples`` is not a whole number of 0 or more.
    """
    for name, value in (("top", top), ("examples", examples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"{name} must be a whole number of 0 or more, not {value!r}.")
    path = Path(path)
    entries = read_permissions(path)
    users = Counter(entry.principal or "(blank)" for entry in entries)
    resources = Counter(entry.resource_path or "(blank)" for entry in entries)
    return PermissionAnalysis(
        source=path,
        row_count=len(entries),
        by_item_type=_ranked_dict(Counter(e.item_type or "(blank)" for e in entries)),
        by_permission=_ranked_dict(Counter(e.permission or "(blank)" for e in entries)),
        top_users=tuple(RankedItem(n, c) for n, c in _ranked(users)[:top]),
        top_resources=tuple(RankedItem(n, c) for n, c in _ranked(resources)[:top]),
        links_by_type=_ranked_dict(links_by_type(entries)),
        findings=find_risks(entries, examples),
        entries=tuple(entries),
    )


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].lower(), item[0]))


def _ranked_dict(counts: Counter[str]) -> dict[str, int]:
    return dict(_ranked(counts))
