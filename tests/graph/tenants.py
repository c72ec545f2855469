"""Fixture tenants: Graph-shaped bodies per path, for the fake Graph and the pure evaluators.

``compliant()`` passes every control; ``noncompliant()`` fails every control that can fail.
The Conditional Access variants are built from ``ca_policy()`` by the tests.
"""

from __future__ import annotations

import copy
from typing import Any

from m365_toolkit.m365.audit.graph import endpoints as ep
from m365_toolkit.m365.audit.graph.controls.conditional_access import PHISHING_RESISTANT
from m365_toolkit.m365.graph import Outcome

from .more_fixtures import (
    NEW_HIRE_UPN,
    PIM_USER_ID,
    PIM_USER_UPN,
    admin_session_policy,
    authenticator,
    break_extra,
    compliant_extra,
)

Tenant = dict[str, Any]
"""Path -> body (200), or an ``Outcome`` for a refusal."""

TENANT_ID = "11111111-2222-3333-4444-555555555555"
GA_ROLE_ID = "role-ga"
SEC_ROLE_ID = "role-sec"
BREAK_GLASS_ID = "bg-0001"
BREAK_GLASS_UPN = "breakglass@contoso.onmicrosoft.com"
# Graph-shaped: the real SKU ids of Microsoft 365 E5 and Entra ID P2
E5, P2 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06", "eec0eb4f-6444-4f95-aba0-50c24d67f998"


def user(uid: str, upn: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": uid,
        "displayName": upn.split("@")[0],
        "userPrincipalName": upn,
        "userType": "Member",
        "accountEnabled": True,
        "onPremisesSyncEnabled": None,
        "assignedLicenses": [],
    }
    return {**base, **fields}


def ca_policy(name: str, **overrides: Any) -> dict[str, Any]:
    """An enabled all-users, all-apps policy requiring MFA; ``overrides`` are dotted paths."""
    policy: dict[str, Any] = {
        "id": f"ca-{name}",
        "displayName": name,
        "state": "enabled",
        "conditions": {
            "users": {
                "includeUsers": ["All"],
                "excludeUsers": [],
                "includeGroups": [],
                "excludeGroups": [],
                "includeRoles": [],
                "excludeRoles": [],
                "excludeGuestsOrExternalUsers": None,
            },
            "applications": {"includeApplications": ["All"], "excludeApplications": []},
            "clientAppTypes": ["all"],
            "platforms": None,
            "locations": None,
            "devices": None,
            "userRiskLevels": [],
            "signInRiskLevels": [],
            "authenticationFlows": None,
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
        "sessionControls": None,
    }
    for dotted, value in overrides.items():
        *parents, last = dotted.split("__")
        target = policy
        for part in parents:
            target = target[part]
        target[last] = value
    return policy


def compliant_policies() -> list[dict[str, Any]]:
    return [
        ca_policy("MFA all users", conditions__users__excludeUsers=[BREAK_GLASS_ID]),
        ca_policy(
            "MFA admins",
            conditions__users__includeUsers=[],
            conditions__users__includeRoles=list(ep.ADMIN_ROLES),
        ),
        ca_policy(
            "Block legacy",
            conditions__clientAppTypes=["exchangeActiveSync", "other"],
            grantControls={"operator": "OR", "builtInControls": ["block"]},
        ),
        ca_policy(
            "Phishing-resistant admins",
            conditions__users__includeUsers=[],
            conditions__users__includeRoles=list(ep.ADMIN_ROLES),
            grantControls={
                "operator": "OR",
                "builtInControls": [],
                "authenticationStrength": {
                    "id": PHISHING_RESISTANT,
                    "displayName": "Phishing-resistant MFA",
                },
            },
        ),
        ca_policy(
            "User risk",
            conditions__userRiskLevels=["high"],
            grantControls={"operator": "AND", "builtInControls": ["mfa", "passwordChange"]},
        ),
        ca_policy(
            "Sign-in risk",
            conditions__signInRiskLevels=["high", "medium"],
            sessionControls={
                "signInFrequency": {"isEnabled": True, "frequencyInterval": "everyTime"}
            },
        ),
        admin_session_policy(ca_policy("Admin sessions")),
        ca_policy(
            "Block device code",
            conditions__authenticationFlows={"transferMethods": "deviceCodeFlow"},
            grantControls={"operator": "OR", "builtInControls": ["block"]},
        ),
    ]


def compliant() -> Tenant:
    admins = [
        user("ga-1", "ga1@contoso.onmicrosoft.com", assignedLicenses=[{"skuId": P2}]),
        user("ga-2", "ga2@contoso.onmicrosoft.com"),
        user("sec-1", "sec1@contoso.onmicrosoft.com"),
        user(PIM_USER_ID, PIM_USER_UPN),  # Global Administrator through PIM only
    ]
    people = [
        user(f"u-{n}", f"user{n}@contoso.com", assignedLicenses=[{"skuId": E5}]) for n in range(5)
    ]
    guest = user("g-1", "guest_x#EXT#@contoso.onmicrosoft.com", userType="Guest")
    disabled = user("d-1", "left@contoso.com", accountEnabled=False)
    everyone = [*admins, *people, guest, disabled, user(BREAK_GLASS_ID, BREAK_GLASS_UPN)]
    registered = [
        {
            "id": u["id"],
            "userPrincipalName": u["userPrincipalName"],
            "isMfaCapable": True,
            "isMfaRegistered": True,
            "isAdmin": False,
        }
        for u in everyone
        if u["userType"] == "Member" and u["accountEnabled"]
    ]
    # starts next month: not registered yet, and not counted (5.2.3.4)
    everyone.append(user("nh-1", NEW_HIRE_UPN, employeeHireDate="2026-12-20T00:00:00Z"))
    return {
        ep.AUTHORIZATION_POLICY: {
            "id": "authorizationPolicy",
            "allowInvitesFrom": "adminsAndGuestInviters",
            "guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b",
            "defaultUserRolePermissions": {
                "allowedToCreateApps": False,
                "allowedToCreateTenants": False,
                "allowedToReadBitlockerKeysForOwnedDevice": False,
                "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForOwnedResource.x"],
            },
        },
        ep.ADMIN_CONSENT_POLICY: {"isEnabled": True, "notifyReviewers": True},
        ep.SECURITY_DEFAULTS: {"isEnabled": False},
        ep.AUTH_METHODS_POLICY: {
            "authenticationMethodConfigurations": [
                {"id": "Sms", "state": "disabled"},
                {"id": "Voice", "state": "disabled"},
                {"id": "Email", "state": "disabled"},
                {"id": "Fido2", "state": "enabled"},
                authenticator(),
            ]
        },
        ep.CONDITIONAL_ACCESS: {"value": compliant_policies()},
        ep.DOMAINS: {
            "value": [
                {
                    "id": "contoso.com",
                    "isVerified": True,
                    "authenticationType": "Managed",
                    "passwordValidityPeriodInDays": 2147483647,
                },
                {
                    "id": "contoso.onmicrosoft.com",
                    "isVerified": True,
                    "authenticationType": "Managed",
                    "passwordValidityPeriodInDays": 2147483647,
                },
                {
                    "id": "unverified.example",
                    "isVerified": False,
                    "passwordValidityPeriodInDays": 90,
                },
            ]
        },
        ep.ORGANIZATION: {"value": [{"id": TENANT_ID, "onPremisesSyncEnabled": None}]},
        ep.ON_PREM_SYNC: Outcome(ep.ON_PREM_SYNC, 404, error="HTTP 404 Request_ResourceNotFound"),
        ep.DIRECTORY_ROLES: {
            "value": [
                {
                    "id": GA_ROLE_ID,
                    "displayName": "Global Administrator",
                    "roleTemplateId": ep.GLOBAL_ADMIN,
                },
                {
                    "id": SEC_ROLE_ID,
                    "displayName": "Security Administrator",
                    "roleTemplateId": "194ae4cb-b126-40b2-bd5b-6091b380977d",
                },
                {
                    "id": "role-reader",
                    "displayName": "Directory Readers",
                    "roleTemplateId": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
                },
            ]
        },
        ep.role_members_path(GA_ROLE_ID): {
            "value": [
                {"@odata.type": "#microsoft.graph.user", "id": "ga-1"},
                {"@odata.type": "#microsoft.graph.user", "id": "ga-2"},
                {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp-1"},
            ]
        },
        ep.role_members_path(SEC_ROLE_ID): {
            "value": [{"@odata.type": "#microsoft.graph.user", "id": "sec-1"}]
        },
        ep.SUBSCRIBED_SKUS: {
            "value": [
                {"skuId": E5, "skuPartNumber": "SPE_E5"},
                {"skuId": P2, "skuPartNumber": "AAD_PREMIUM_P2"},
            ]
        },
        ep.USERS: {"value": everyone},
        ep.GROUPS: {
            "value": [
                {
                    "id": "grp-1",
                    "displayName": "All Company",
                    "groupTypes": ["Unified"],
                    "visibility": "Public",
                    "membershipRule": None,
                },
                {
                    "id": "grp-2",
                    "displayName": "Finance",
                    "groupTypes": ["Unified"],
                    "visibility": "Private",
                    "membershipRule": None,
                },
                {
                    "id": "grp-3",
                    "displayName": "Guests",
                    "groupTypes": ["DynamicMembership"],
                    "visibility": None,
                    "membershipRule": '(user.userType -eq "Guest")',
                },
            ]
        },
        ep.REGISTRATION: {"value": registered},
        ep.SHAREPOINT: {
            "isLegacyAuthProtocolsEnabled": False,
            "sharingCapability": "existingExternalUserSharingOnly",
            "isResharingByExternalUsersEnabled": False,
            "sharingDomainRestrictionMode": "allowList",
            "sharingAllowedDomainList": ["fabrikam.com"],
            "sharingBlockedDomainList": [],
            "allowedDomainGuidsForSyncApp": ["786548dd-877b-4760-a749-6b1efbc1190a"],
        },
        **compliant_extra(),
    }


COMPLIANT_CONFIG = {
    "audit": {"break_glass": [BREAK_GLASS_UPN], "approved_public_groups": ["All Company"]}
}


def noncompliant() -> Tenant:
    tenant = copy.deepcopy(compliant())
    auth = tenant[ep.AUTHORIZATION_POLICY]
    auth.update(allowInvitesFrom="everyone", guestUserRoleId="a0b1b346-4d3e-4e8b-98f8-753987be4970")
    auth["defaultUserRolePermissions"].update(
        allowedToCreateApps=True,
        allowedToCreateTenants=True,
        allowedToReadBitlockerKeysForOwnedDevice=True,
        permissionGrantPoliciesAssigned=[
            "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"
        ],
    )
    tenant[ep.ADMIN_CONSENT_POLICY] = {"isEnabled": False}
    tenant[ep.SECURITY_DEFAULTS] = {"isEnabled": True}
    tenant[ep.AUTH_METHODS_POLICY]["authenticationMethodConfigurations"][0]["state"] = "enabled"
    # every CA policy report-only: nothing is enforced
    for policy in tenant[ep.CONDITIONAL_ACCESS]["value"]:
        policy["state"] = "enabledForReportingButNotEnforced"
    # a second verified domain whose passwords expire (Prowler reads only the first)
    tenant[ep.DOMAINS]["value"][1]["passwordValidityPeriodInDays"] = 90
    tenant[ep.ORGANIZATION] = {"value": [{"id": TENANT_ID, "onPremisesSyncEnabled": True}]}
    tenant[ep.ON_PREM_SYNC] = {
        "value": [{"id": TENANT_ID, "features": {"passwordSyncEnabled": False}}]
    }
    users = tenant[ep.USERS]["value"]
    users[0]["onPremisesSyncEnabled"] = True  # a synced Global Administrator
    users[0]["assignedLicenses"] = [{"skuId": P2}, {"skuId": E5}]  # E5 listed second
    tenant[ep.role_members_path(GA_ROLE_ID)]["value"] = [
        {"@odata.type": "#microsoft.graph.user", "id": "ga-1"}
    ]
    tenant[ep.GROUPS]["value"][1]["visibility"] = "Public"
    tenant[ep.GROUPS]["value"][2]["membershipRule"] = '(user.department -eq "Sales")'
    reg = tenant[ep.REGISTRATION]["value"]
    reg[3]["isMfaCapable"] = False
    tenant[ep.SHAREPOINT].update(
        isLegacyAuthProtocolsEnabled=True,
        sharingCapability="externalUserAndGuestSharing",
        isResharingByExternalUsersEnabled=True,
        sharingDomainRestrictionMode="none",
    )
    break_extra(tenant)
    return tenant


def outcomes(tenant: Tenant) -> dict[str, Outcome]:
    """The tenant as a snapshot's outcomes, for the pure evaluator tests."""
    return {
        path: body if isinstance(body, Outcome) else Outcome(path, 200, body, pages=1, requests=1)
        for path, body in tenant.items()
    }
