"""SharePoint permissions analysis of a CSV export: counts, top holders and risk findings.

The export has the columns ``Resource Path, Item Type, Permission, User Name, User Email,
User Or Group Type, Link ID, Link Type, AccessViaLinkID``; the last three are optional.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util.textfile import read_text
from ..errors import ValidationError

REQUIRED_COLUMNS = (
    "Resource Path",
    "Item Type",
    "Permission",
    "User Name",
    "User Email",
    "User Or Group Type",
)
OPTIONAL_COLUMNS = ("Link ID", "Link Type", "AccessViaLinkID")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
SEVERITIES = ("High", "Medium", "Low")

_FIELDS = (  # PermissionEntry fields, in the order of COLUMNS
    "resource_path",
    "item_type",
    "permission",
    "user_name",
    "user_email",
    "principal_type",
    "link_id",
    "link_type",
    "access_via_link_id",
)
_WHAT = "SharePoint permissions export"
_BROAD_NAMES = frozenset(
    {
        "everyone",
        "all users",
        "everyone except external users",
        "all authenticated users",
        "authenticated users",
        "nt authority\\authenticated users",
    }
)
# Claims logins of the same groups, as some exports put them in the name or email column.
_BROAD_CLAIMS = ("c:0(.s|true", "spo-grid-all-users", "c:0!.s|windows")
_WRITE_LEVELS = ("full control", "edit", "contribute", "design", "write")
_TRAILING_PARENS = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True, slots=True)
class PermissionEntry:
    """One row of the export; ``line`` is its line number in the file."""

    resource_path: str
    item_type: str
    permission: str
    user_name: str
    user_email: str
    principal_type: str
    link_id: str = ""
    link_type: str = ""
    access_via_link_id: str = ""
    line: int = 0

    @property
    def principal(self) -> str:
        """The email, or the name when there is no email."""
        return self.user_email or self.user_name

    def cells(self) -> tuple[str, ...]:
        """The entry's values in the export's column order (:data:`COLUMNS`)."""
        return (
            self.resource_path, self.item_type, self.permission, self.user_name,
            self.user_email, self.principal_type, self.link_id, self.link_type,
            self.access_via_link_id,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_path": self.resource_path,
            "item_type": self.item_type,
            "permission": self.permission,
            "user_name": self.user_name,
            "user_email": self.user_email,
            "principal_type": self.principal_type,
            "link_id": self.link_id,
            "link_type": self.link_type,
            "access_via_link_id": self.access_via_link_id,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class RankedItem:
    """A user or resource and how many permission entries it has."""

    name: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count}


@dataclass(frozen=True, slots=True)
class Finding:
    """A risk found in the permissions, with a few example entries."""

    key: str
    severity: str
    title: str
    count: int
    examples: tuple[str, ...]
    recommendation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "severity": self.severity,
            "title": self.title,
            "count": self.count,
            "examples": list(self.examples),
            "recommendation": self.recommendation,
        }


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
        links_by_type=_ranked_dict(_links_by_type(entries)),
        findings=_findings(entries, examples),
        entries=tuple(entries),
    )


def read_permissions(path: str | Path) -> list[PermissionEntry]:
    """The rows of a permissions export, skipping comments, blank lines and repeated headers.

    Raises:
        ValidationError: the file is unreadable, lacks required columns or has a row with
            more fields than the header.
    """
    path = Path(path)
    line_numbers: list[int] = []
    reader = csv.reader(_data_lines(read_text(path, _WHAT), line_numbers))
    header = next(reader, None)
    if header is None:
        raise ValidationError(
            f"The {_WHAT} {str(path)!r} has no header row; expected the columns "
            f"{', '.join(COLUMNS)}."
        )
    keys = [_column_key(cell) for cell in header]
    positions = {key: index for index, key in reversed(list(enumerate(keys)))}
    missing = [column for column in REQUIRED_COLUMNS if _column_key(column) not in positions]
    if missing:
        found = ", ".join(repr(cell.strip()) for cell in header if cell.strip()) or "none"
        raise ValidationError(
            f"The {_WHAT} {str(path)!r} lacks the required column(s) {', '.join(missing)} "
            f"(columns found: {found}). Export it again with all of: {', '.join(COLUMNS)}."
        )
    wanted = [positions.get(_column_key(column)) for column in COLUMNS]
    entries: list[PermissionEntry] = []
    consumed = reader.line_num
    for row in reader:
        line = line_numbers[consumed]  # where the row starts, if a quoted value spans lines
        consumed = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells) or [_column_key(cell) for cell in cells] == keys:
            continue
        # Even empty extra fields are refused: an unquoted comma in a name followed by empty
        # link columns would otherwise shift every value silently.
        if len(cells) > len(keys):
            raise ValidationError(
                f"Line {line} of the {_WHAT} {str(path)!r} has {len(cells)} fields but the "
                f"header has {len(keys)}; quote values that contain commas."
            )
        values = dict(zip(_FIELDS, (_cell(cells, i) for i in wanted), strict=True))
        entries.append(PermissionEntry(**values, line=line))
    return entries


def _data_lines(text: str, line_numbers: list[int]) -> Iterator[str]:
    """Physical lines for the CSV reader, without blank and ``#`` comment lines.

    A line inside a quoted value is never dropped. ``line_numbers`` collects the file line
    number of each line given out, so errors can point into the file.
    """
    in_quotes = False
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if not in_quotes:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
        if line.count('"') % 2:
            in_quotes = not in_quotes
        line_numbers.append(number)
        yield line


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _column_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].lower(), item[0]))


def _ranked_dict(counts: Counter[str]) -> dict[str, int]:
    return dict(_ranked(counts))


def _is_broad(entry: PermissionEntry) -> bool:
    name = _TRAILING_PARENS.sub("", entry.user_name).strip().lower()
    if name in _BROAD_NAMES:
        return True
    logins = f"{entry.user_name} {entry.user_email}".lower()
    return any(claim in logins for claim in _BROAD_CLAIMS)


def _is_external(entry: PermissionEntry) -> bool:
    if _is_broad(entry):  # "Everyone except external users" is not an external user
        return False
    kind = entry.principal_type.lower()
    if "guest" in kind or "external" in kind:
        return True
    logins = f"{entry.user_name} {entry.user_email}".lower()
    return "#ext#" in logins or "urn:spo:guest" in logins


def _is_write_level(permission: str) -> bool:
    lowered = permission.lower()
    return any(level in lowered for level in _WRITE_LEVELS)


def _link_kind(link_type: str) -> str:
    key = _column_key(link_type)
    if key.startswith(("anonymous", "anyone")):
        return "anonymous"
    if key.startswith(("organization", "organisation", "company", "orgwide")):
        return "organization"
    return "other"


def _links(entries: list[PermissionEntry]) -> dict[tuple[str, str], PermissionEntry]:
    """Each distinct sharing link, keyed by (link type, link id), with its first row."""
    links: dict[tuple[str, str], PermissionEntry] = {}
    for entry in entries:
        if entry.link_type:
            identity = entry.link_id or entry.access_via_link_id or f"line {entry.line}"
            links.setdefault((entry.link_type, identity), entry)
    return links


def _links_by_type(entries: list[PermissionEntry]) -> Counter[str]:
    return Counter(link_type for link_type, _ in _links(entries))


def _grant(entry: PermissionEntry) -> str:
    # Broad groups often carry a claims login ("c:0-.f|rolemanager|...") as their email.
    who = (entry.user_name or entry.principal) if _is_broad(entry) else entry.principal
    return f"{who or '(blank)'}: {entry.permission} on {entry.resource_path}"


def _link_example(entry: PermissionEntry) -> str:
    return f"{entry.link_type} link ({entry.permission}) on {entry.resource_path}"


def _findings(entries: list[PermissionEntry], examples: int) -> tuple[Finding, ...]:
    found: list[Finding] = []
    links = list(_links(entries).values())

    anonymous = [e for e in links if _link_kind(e.link_type) == "anonymous"]
    if anonymous:
        found.append(
            Finding(
                key="anonymous_links",
                severity="High",
                title=f"{len(anonymous)} anyone (anonymous) sharing link(s) open content "
                "to anyone who has the link",
                count=len(anonymous),
                examples=tuple(_link_example(e) for e in anonymous[:examples]),
                recommendation="Remove these links or replace them with specific-people links; "
                "consider setting an expiry for anyone links tenant-wide.",
            )
        )

    external = [e for e in entries if _is_external(e)]
    if external:
        people = len({e.principal for e in external})
        found.append(
            Finding(
                key="external_users",
                severity="High"
                if any(_is_write_level(e.permission) for e in external)
                else "Medium",
                title=f"{people} external or guest user(s) hold {len(external)} permission entries",
                count=len(external),
                examples=tuple(_grant(e) for e in external[:examples]),
                recommendation="Confirm each guest still needs access; remove stale guests "
                "and prefer read access for external users.",
            )
        )

    broad = [e for e in entries if _is_broad(e)]
    if broad:
        found.append(
            Finding(
                key="broad_groups",
                severity="High" if any(_is_write_level(e.permission) for e in broad) else "Medium",
                title=f"Broad groups such as Everyone hold {len(broad)} permission entries",
                count=len(broad),
                examples=tuple(_grant(e) for e in broad[:examples]),
                recommendation="Replace Everyone / All Users grants with the specific groups "
                "that need access.",
            )
        )

    full_control = [
        e
        for e in entries
        if "full control" in e.permission.lower() and "owners" not in e.user_name.lower()
    ]
    if full_control:
        risky = any(_is_external(e) or _is_broad(e) for e in full_control)
        found.append(
            Finding(
                key="full_control_non_owners",
                severity="High" if risky else "Medium",
                title=f"{len(full_control)} Full Control grant(s) held outside the owners groups",
                count=len(full_control),
                examples=tuple(_grant(e) for e in full_control[:examples]),
                recommendation="Grant Full Control only through the site's Owners group; "
                "give others Edit or Read.",
            )
        )

    organization = [e for e in links if _link_kind(e.link_type) == "organization"]
    if organization:
        found.append(
            Finding(
                key="organization_links",
                severity="Low",
                title=f"{len(organization)} organization-wide sharing link(s) let anyone in "
                "the organization open content",
                count=len(organization),
                examples=tuple(_link_example(e) for e in organization[:examples]),
                recommendation="Check that content shared with the whole organization is "
                "meant for everyone in it.",
            )
        )

    found.sort(key=lambda finding: SEVERITIES.index(finding.severity))
    return tuple(found)
