"""Risk findings in SharePoint permissions: anonymous and organisation links, external users,
broad groups, Full Control outside the owners."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .entries import PermissionEntry, column_key

SEVERITIES = ("High", "Medium", "Low")
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
    key = column_key(link_type)
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


def links_by_type(entries: list[PermissionEntry]) -> Counter[str]:
    """Distinct sharing links per link type."""
    return Counter(link_type for link_type, _ in _links(entries))


def _grant(entry: PermissionEntry) -> str:
    # Broad groups often carry a claims login ("c:0-.f|rolemanager|...") as their email.
    who = (entry.user_name or entry.principal) if _is_broad(entry) else entry.principal
    return f"{who or '(blank)'}: {entry.permission} on {entry.resource_path}"


def _link_example(entry: PermissionEntry) -> str:
    return f"{entry.link_type} link ({entry.permission}) on {entry.resource_path}"


def find_risks(entries: list[PermissionEntry], examples: int) -> tuple[Finding, ...]:
    """The risks present in ``entries``, most severe first, each with up to ``examples``."""
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
