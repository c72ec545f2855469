"""Administrative accounts: cloud-only, how many Global Administrators, licence footprint."""

from __future__ import annotations

from typing import Any

from ..config import AuditConfig
from ..endpoints import (
    ADMIN_ROLES,
    DIRECTORY_ROLES,
    GA_ELIGIBLE,
    GLOBAL_ADMIN,
    SUBSCRIBED_SKUS,
    USERS,
    role_members_path,
)
from ..model import Control, Unavailable, Verdict, View
from ._helpers import LEARN, verdict

ADMIN_ONLY_SKUS = frozenset({"AAD_PREMIUM", "AAD_PREMIUM_P2"})
_USER = "#microsoft.graph.user"
_ROLES = ("RoleManagement.Read.Directory", "User.Read.All")
_BEST_PRACTICE = f"{LEARN}/entra/identity/role-based-access-control/best-practices"


def admin_members(view: View) -> dict[str, set[str]]:
    """User id -> names of the privileged roles the user holds (active assignments)."""
    holders: dict[str, set[str]] = {}
    for role in view.values(DIRECTORY_ROLES):
        template = role.get("roleTemplateId")
        if template not in ADMIN_ROLES:
            continue
        for member in view.values(role_members_path(str(role.get("id")))):
            if member.get("@odata.type", _USER) == _USER and member.get("id"):
                holders.setdefault(str(member["id"]), set()).add(ADMIN_ROLES[str(template)])
    return holders


def _users(view: View) -> dict[str, dict[str, Any]]:
    return {str(u.get("id")): u for u in view.values(USERS)}


def _name(user: dict[str, Any] | None, user_id: str) -> str:
    return str((user or {}).get("userPrincipalName") or user_id)


def _cloud_only(view: View, config: AuditConfig) -> Verdict:
    users = _users(view)
    admins = admin_members(view)
    synced = sorted(
        _name(users.get(uid), uid) for uid in admins if (users.get(uid) or {}).get(
            "onPremisesSyncEnabled") is True
    )  # fmt: skip
    return verdict(
        not synced,
        "no holder of a privileged role is synchronised from on-premises",
        {"admins": len(admins), "synced_admins": synced},
    )


def eligible_global_admins(view: View) -> tuple[set[str], set[str], str | None]:
    """PIM: (user ids eligible for Global Administrator, other principal ids, why unread).

    Without PIM (no Entra ID P2) or without RoleEligibilitySchedule.Read.Directory Graph
    refuses the path; the count then rests on the active members, and says so.
    """
    try:
        instances = view.values(GA_ELIGIBLE)
    except Unavailable as exc:
        return set(), set(), exc.outcome.error or f"HTTP {exc.outcome.status}"
    users = _users(view)
    principals = {
        str(i.get("principalId")) for i in instances
        if i.get("roleDefinitionId") == GLOBAL_ADMIN and i.get("principalId")
    }  # fmt: skip
    return {p for p in principals if p in users}, {p for p in principals if p not in users}, None


def _global_admin_count(view: View, config: AuditConfig) -> Verdict:
    """Active members and PIM-eligible users, each person once (Prowler counts active only)."""
    users = _users(view)
    active = {uid for uid, roles in admin_members(view).items() if "Global Administrator" in roles}
    eligible, others, unread = eligible_global_admins(view)
    holders, only = active | eligible, eligible - active
    evidence: dict[str, Any] = {
        "active": sorted(_name(users.get(uid), uid) for uid in active),
        "eligible": sorted(_name(users.get(uid), uid) for uid in only),
    }
    if others:
        evidence["eligible_non_user_principals"] = sorted(others)  # groups: not expanded
    if unread:
        evidence["eligible_not_read"] = f"PIM eligibility could not be read: {unread}"
    return verdict(
        2 <= len(holders) <= 4,
        "between 2 and 4 Global Administrators (active members and PIM-eligible users)",
        {"global_admins": len(holders), "active": len(active), "eligible_only": len(only)},
        evidence,
    )


def _licence_footprint(view: View, config: AuditConfig) -> Verdict:
    """Every licence of every admin, not only the first one (Prowler's gap)."""
    users = _users(view)
    skus = {str(s.get("skuId")): str(s.get("skuPartNumber")) for s in view.values(SUBSCRIBED_SKUS)}
    heavy: dict[str, list[str]] = {}
    for uid in admin_members(view):
        licences = [
            skus.get(str(lic.get("skuId")), str(lic.get("skuId")))
            for lic in (users.get(uid) or {}).get("assignedLicenses") or []
        ]
        extra = [name for name in licences if name not in ADMIN_ONLY_SKUS]
        if extra:
            heavy[_name(users.get(uid), uid)] = extra
    return verdict(
        not heavy,
        f"admins hold no licence, or only {' / '.join(sorted(ADMIN_ONLY_SKUS))}",
        {"admins_with_productivity_licences": heavy},
    )


CONTROLS = (
    Control(
        "1.1.1",
        "Ensure Administrative accounts are cloud-only",
        1,
        "E3",
        "High",
        (DIRECTORY_ROLES, USERS),
        _ROLES,
        "Give each administrator a separate cloud-only account (…@tenant.onmicrosoft.com); "
        "remove privileged roles from synchronised accounts.",
        _BEST_PRACTICE,
        _cloud_only,
    ),
    Control(
        "1.1.3",
        "Ensure that between two and four global admins are designated",
        1,
        "E3",
        "High",
        (DIRECTORY_ROLES, USERS, GA_ELIGIBLE),
        (*_ROLES, "RoleEligibilitySchedule.Read.Directory"),
        "Keep two to four Global Administrators: enough for resilience, few enough to watch.",
        _BEST_PRACTICE,
        _global_admin_count,
    ),
    Control(
        "1.1.4",
        "Ensure administrative accounts use licenses with a reduced application footprint",
        1,
        "E3",
        "Medium",
        (DIRECTORY_ROLES, USERS, SUBSCRIBED_SKUS),
        (*_ROLES, "Organization.Read.All"),
        "Give admin accounts no licence, or Entra ID P1/P2 only; productivity apps belong on "
        "the person's everyday account.",
        _BEST_PRACTICE,
        _licence_footprint,
    ),
)
