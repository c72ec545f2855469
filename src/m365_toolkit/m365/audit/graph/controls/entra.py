"""Tenant-wide Entra settings: authorization policy, consent, guests, domains, groups, sync."""

from __future__ import annotations

from ..config import AuditConfig
from ..endpoints import (
    ADMIN_CONSENT_POLICY,
    AUTHORIZATION_POLICY,
    DOMAINS,
    GROUPS,
    ON_PREM_SYNC,
    ORGANIZATION,
    SECURITY_DEFAULTS,
)
from ..model import SKIPPED, Control, Verdict, View
from ._helpers import LEARN, field_of, is_false, is_true, setting, verdict

NEVER_EXPIRES = 2147483647
LIMITED_GUEST_ROLES = {
    "10dae51f-b6af-4016-8d66-8c2a99b929b3": "limited access",
    "2af84b1e-32c8-42b7-82bc-daa82404023b": "restricted access",
}
_DEFAULT_PERMISSIONS = f"{LEARN}/entra/identity/role-based-access-control/users-default-permissions"
_POLICY = ("Policy.Read.All",)


def _consent(view: View, config: AuditConfig) -> Verdict:
    """No ``ManagePermissionGrantsForSelf.*`` policy assigned to default users."""
    assigned = (
        field_of(
            view.body(AUTHORIZATION_POLICY),
            "defaultUserRolePermissions.permissionGrantPoliciesAssigned",
        )
        or []
    )
    self_grants = [p for p in assigned if str(p).startswith("ManagePermissionGrantsForSelf")]
    return verdict(
        not self_grants,
        "no ManagePermissionGrantsForSelf.* policy assigned (users cannot consent to apps)",
        {"permissionGrantPoliciesAssigned": assigned},
        {"user_consent_policies": self_grants},
    )


def _guest_role(view: View, config: AuditConfig) -> Verdict:
    role = view.body(AUTHORIZATION_POLICY).get("guestUserRoleId")
    return verdict(
        role in LIMITED_GUEST_ROLES,
        "guestUserRoleId is the limited or restricted guest role",
        {"guestUserRoleId": role, "meaning": LIMITED_GUEST_ROLES.get(str(role), "same as members")},
    )


def _password_expiry(view: View, config: AuditConfig) -> Verdict:
    """Every verified, managed domain, not only the first (Prowler's gap)."""
    domains = [
        d for d in view.values(DOMAINS)
        if d.get("isVerified") and d.get("authenticationType", "Managed") == "Managed"
    ]  # fmt: skip
    expiring = {
        str(d.get("id")): d.get("passwordValidityPeriodInDays")
        for d in domains
        if d.get("passwordValidityPeriodInDays") != NEVER_EXPIRES
    }
    return verdict(
        not expiring,
        f"passwordValidityPeriodInDays = {NEVER_EXPIRES} (never) on every verified managed domain",
        {"domains_checked": len(domains), "domains_with_expiry": expiring},
    )


def _public_groups(view: View, config: AuditConfig) -> Verdict:
    public = [
        g for g in view.values(GROUPS)
        if "Unified" in (g.get("groupTypes") or []) and g.get("visibility") == "Public"
    ]  # fmt: skip
    approved = config.approved_public_groups
    unapproved = [
        g.get("displayName") or g.get("id")
        for g in public
        if str(g.get("id", "")).lower() not in approved
        and str(g.get("displayName", "")).lower() not in approved
    ]
    return verdict(
        not unapproved,
        "no public Microsoft 365 group outside [audit] approved_public_groups",
        {"public_groups": len(public), "unapproved": unapproved[:50]},
        {"unapproved_count": len(unapproved)},
    )


def _guest_dynamic_group(view: View, config: AuditConfig) -> Verdict:
    rules = [
        (g.get("displayName"), g.get("membershipRule"))
        for g in view.values(GROUPS)
        if "DynamicMembership" in (g.get("groupTypes") or [])
    ]
    matching = [
        name for name, rule in rules
        if rule and 'user.usertype -eq "guest"' in " ".join(str(rule).lower().split())
    ]  # fmt: skip
    return verdict(
        bool(matching),
        'a dynamic group whose rule contains (user.userType -eq "Guest")',
        {"guest_groups": matching, "dynamic_groups": len(rules)},
    )


def _password_hash_sync(view: View, config: AuditConfig) -> Verdict:
    """Not applicable to a cloud-only tenant (Prowler fails those)."""
    orgs = view.values(ORGANIZATION)
    hybrid = any(org.get("onPremisesSyncEnabled") for org in orgs)
    if not hybrid:
        return Verdict(
            SKIPPED,
            "password hash sync on, in a hybrid tenant",
            {"onPremisesSyncEnabled": False},
            reason="Not applicable: the tenant is cloud-only (no directory sync).",
        )
    syncs = view.values(ON_PREM_SYNC)
    enabled = [field_of(s, "features.passwordSyncEnabled") for s in syncs]
    return verdict(
        any(value is True for value in enabled),
        "features.passwordSyncEnabled = true",
        {"onPremisesSyncEnabled": True, "passwordSyncEnabled": enabled},
    )


CONTROLS = (
    Control(
        "1.3.1",
        "Ensure the 'Password expiration policy' is set to 'Set passwords to never expire'",
        1,
        "E3",
        "Medium",
        (DOMAINS,),
        ("Domain.Read.All",),
        "Microsoft 365 admin center > Settings > Org settings > Security & privacy > Password "
        "expiration policy: set passwords to never expire (for every verified domain).",
        f"{LEARN}/microsoft-365/admin/manage/set-password-expiration-policy",
        _password_expiry,
    ),
    Control(
        "1.2.1",
        "Ensure that only organizationally managed/approved public groups exist",
        2,
        "E3",
        "Medium",
        (GROUPS,),
        ("Group.Read.All",),
        "Make unapproved public Microsoft 365 groups private, or list them in "
        "[audit] approved_public_groups.",
        f"{LEARN}/microsoft-365/admin/create-groups/manage-groups",
        _public_groups,
    ),
    Control(
        "5.1.1.1",
        "Ensure Security Defaults is disabled (Conditional Access is used instead)",
        1,
        "E3",
        "Medium",
        (SECURITY_DEFAULTS,),
        _POLICY,
        "Entra admin center > Overview > Properties > Manage security defaults: disable, once "
        "Conditional Access policies give the same protection.",
        f"{LEARN}/entra/fundamentals/security-defaults",
        setting(SECURITY_DEFAULTS, "isEnabled", is_false, "isEnabled = false"),
        other_ids={"v4": "5.1.1.1 (v4 only)"},
    ),
    Control(
        "5.1.2.2",
        "Ensure third party integrated applications are not allowed",
        2,
        "E3",
        "Medium",
        (AUTHORIZATION_POLICY,),
        _POLICY,
        "Entra admin center > Users > User settings: 'Users can register applications' = No.",
        _DEFAULT_PERMISSIONS,
        setting(
            AUTHORIZATION_POLICY,
            "defaultUserRolePermissions.allowedToCreateApps",
            is_false,
            "defaultUserRolePermissions.allowedToCreateApps = false",
        ),  # fmt: skip
    ),
    Control(
        "5.1.2.3",
        "Ensure 'Restrict non-admin users from creating tenants' is set to 'Yes'",
        1,
        "E3",
        "Medium",
        (AUTHORIZATION_POLICY,),
        _POLICY,
        "Entra admin center > Users > User settings: 'Restrict non-admin users from creating "
        "tenants' = Yes.",
        _DEFAULT_PERMISSIONS,
        setting(
            AUTHORIZATION_POLICY,
            "defaultUserRolePermissions.allowedToCreateTenants",
            is_false,
            "defaultUserRolePermissions.allowedToCreateTenants = false",
        ),  # fmt: skip
    ),
    Control(
        "5.1.3.1",
        "Ensure a dynamic group for guest users is created",
        1,
        "E3",
        "Low",
        (GROUPS,),
        ("Group.Read.All",),
        'Create a dynamic security group with the rule (user.userType -eq "Guest").',
        f"{LEARN}/entra/identity/users/groups-dynamic-membership",
        _guest_dynamic_group,
        licence="Entra ID P1",
        other_ids={"v7": "5.1.3.2 (5.1.3.1 is security groups in v7)"},
    ),
    Control(
        "5.1.4.6",
        "Ensure users are restricted from recovering BitLocker keys",
        2,
        "E3",
        "Medium",
        (AUTHORIZATION_POLICY,),
        _POLICY,
        "Entra admin center > Devices > Device settings: 'Restrict users from recovering the "
        "BitLocker key(s) for their owned devices' = Yes.",
        _DEFAULT_PERMISSIONS,
        setting(
            AUTHORIZATION_POLICY,
            "defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice",
            is_false,
            "defaultUserRolePermissions.allowedToReadBitlockerKeysForOwnedDevice = false",
        ),
    ),  # fmt: skip
    Control(
        "5.1.5.1",
        "Ensure user consent to apps accessing company data on their behalf is not allowed",
        2,
        "E3",
        "High",
        (AUTHORIZATION_POLICY,),
        _POLICY,
        "Entra admin center > Enterprise apps > Consent and permissions: 'Do not allow user "
        "consent'.",
        f"{LEARN}/entra/identity/enterprise-apps/configure-user-consent",
        _consent,
    ),
    Control(
        "5.1.5.2",
        "Ensure the admin consent workflow is enabled",
        1,
        "E3",
        "Medium",
        (ADMIN_CONSENT_POLICY,),
        _POLICY,
        "Entra admin center > Enterprise apps > Admin consent settings: 'Users can request "
        "admin consent' = Yes, with reviewers.",
        f"{LEARN}/entra/identity/enterprise-apps/configure-admin-consent-workflow",
        setting(ADMIN_CONSENT_POLICY, "isEnabled", is_true, "isEnabled = true"),
    ),
    Control(
        "5.1.6.2",
        "Ensure that guest user access is restricted",
        1,
        "E3",
        "Medium",
        (AUTHORIZATION_POLICY,),
        _POLICY,
        "Entra admin center > External Identities > External collaboration settings: guest "
        "user access is limited or restricted.",
        f"{LEARN}/entra/external-id/external-collaboration-settings-configure",
        _guest_role,
    ),
    Control(
        "5.1.6.3",
        "Ensure guest user invitations are limited to the Guest Inviter role",
        2,
        "E3",
        "Medium",
        (AUTHORIZATION_POLICY,),
        _POLICY,
        "External collaboration settings: guest invite restrictions = 'Only users assigned to "
        "specific admin roles can invite guest users'.",
        f"{LEARN}/entra/external-id/external-collaboration-settings-configure",
        setting(
            AUTHORIZATION_POLICY,
            "allowInvitesFrom",
            lambda v: v in ("adminsAndGuestInviters", "none"),
            "allowInvitesFrom = adminsAndGuestInviters or none",
        ),  # fmt: skip
    ),
    Control(
        "5.1.8.1",
        "Ensure that password hash sync is enabled for hybrid deployments",
        1,
        "E3",
        "Medium",
        (ORGANIZATION, ON_PREM_SYNC),
        ("Organization.Read.All", "OnPremDirectorySynchronization.Read.All"),
        "Microsoft Entra Connect Sync: enable password hash synchronization.",
        f"{LEARN}/entra/identity/hybrid/connect/how-to-connect-password-hash-synchronization",
        _password_hash_sync,
    ),
)
