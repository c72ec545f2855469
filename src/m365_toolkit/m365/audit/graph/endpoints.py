"""The Graph paths the controls read, and the ones derived from their answers.

``/users`` and ``/groups`` always carry ``$select``: Graph's default property set leaves out
``accountEnabled``, ``userType`` and ``onPremisesSyncEnabled`` (Prowler #10637 counted
disabled guests that way), and a narrow select keeps 50,000 users small. ``$top=999`` is
the largest page those two collections allow, so a big tenant takes few requests.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...graph.outcome import Outcome

AUTHORIZATION_POLICY = "/v1.0/policies/authorizationPolicy"
ADMIN_CONSENT_POLICY = "/v1.0/policies/adminConsentRequestPolicy"
SECURITY_DEFAULTS = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
AUTH_METHODS_POLICY = "/v1.0/policies/authenticationMethodsPolicy"
CONDITIONAL_ACCESS = "/v1.0/identity/conditionalAccess/policies"
DOMAINS = "/v1.0/domains"
ORGANIZATION = "/v1.0/organization?$select=id,displayName,onPremisesSyncEnabled"
ON_PREM_SYNC = "/v1.0/directory/onPremisesSynchronization"
DIRECTORY_ROLES = "/v1.0/directoryRoles?$select=id,displayName,roleTemplateId"
SUBSCRIBED_SKUS = "/v1.0/subscribedSkus?$select=skuId,skuPartNumber"
REGISTRATION = "/v1.0/reports/authenticationMethods/userRegistrationDetails"
SHAREPOINT = "/v1.0/admin/sharepoint/settings"
USERS = (
    "/v1.0/users?$select=id,displayName,userPrincipalName,userType,accountEnabled,"
    "onPremisesSyncEnabled,assignedLicenses,employeeHireDate&$top=999"
)
GROUPS = "/v1.0/groups?$select=id,displayName,groupTypes,visibility,membershipRule&$top=999"
ROLE_MEMBERS = "/v1.0/directoryRoles/{id}/members?$select=id"
GA_ELIGIBLE = (
    "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter=roleDefinitionId eq "
    "'62e90394-69f5-4237-9190-012177145e10'"
)
"""PIM: who may activate Global Administrator (the role definition id of a built-in role is
its template id)."""
TIMEOUT_POLICIES = "/v1.0/policies/activityBasedTimeoutPolicies"
APPS_AND_SERVICES = "/beta/admin/appsAndServices"
FORMS = "/beta/admin/forms"
THIRD_PARTY_STORAGE_APP = "c1f33bc0-bdb4-4248-ba9b-096807ddb43e"
THIRD_PARTY_STORAGE = (
    f"/v1.0/servicePrincipals?$filter=appId eq '{THIRD_PARTY_STORAGE_APP}'"
    "&$select=id,appId,displayName,accountEnabled"
)
DEVICE_SETTINGS = "/v1.0/deviceManagement/settings"
GROUP_SETTINGS = "/v1.0/groupSettings"

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
ADMIN_ROLES: dict[str, str] = {
    GLOBAL_ADMIN: "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "966707d0-3269-4727-9be2-8c3a10f19b9d": "Password Administrator",
}
"""The privileged roles CIS names for the admin controls (template id -> name)."""


PERMISSIONS: dict[str, str] = {
    AUTHORIZATION_POLICY: "Policy.Read.All",
    ADMIN_CONSENT_POLICY: "Policy.Read.All",
    SECURITY_DEFAULTS: "Policy.Read.All",
    AUTH_METHODS_POLICY: "Policy.Read.All",
    CONDITIONAL_ACCESS: "Policy.Read.All",
    TIMEOUT_POLICIES: "Policy.Read.All",
    DOMAINS: "Domain.Read.All",
    ORGANIZATION: "Organization.Read.All",
    SUBSCRIBED_SKUS: "Organization.Read.All",
    ON_PREM_SYNC: "OnPremDirectorySynchronization.Read.All",
    DIRECTORY_ROLES: "RoleManagement.Read.Directory",
    GA_ELIGIBLE: "RoleEligibilitySchedule.Read.Directory",
    REGISTRATION: "AuditLog.Read.All",
    SHAREPOINT: "SharePointTenantSettings.Read.All",
    USERS: "User.Read.All",
    GROUPS: "Group.Read.All",
    APPS_AND_SERVICES: "OrgSettings-AppsAndServices.Read.All",
    FORMS: "OrgSettings-Forms.Read.All",
    THIRD_PARTY_STORAGE: "Application.Read.All",
    DEVICE_SETTINGS: "DeviceManagementServiceConfig.Read.All",
    GROUP_SETTINGS: "GroupSettings.Read.All",
}
"""The least application permission each path needs (a refusal names it)."""


def permission_for(path: str) -> str | None:
    """The permission :data:`PERMISSIONS` gives ``path``; role members need the roles'."""
    if path in PERMISSIONS:
        return PERMISSIONS[path]
    if path.startswith("/v1.0/directoryRoles/"):
        return "RoleManagement.Read.Directory"
    return None


def short_path(path: str) -> str:
    """``/identity/conditionalAccess/policies`` for the v1.0 path; beta paths keep their
    prefix; the query is left out."""
    bare = path.split("?", 1)[0]
    return bare.removeprefix("/v1.0")


def role_members_path(role_id: str) -> str:
    """The members of one activated directory role."""
    return ROLE_MEMBERS.format(id=role_id)


def derived_paths(outcomes: Mapping[str, Outcome]) -> list[str]:
    """Paths that only the first round's answers name: the members of each admin role.

    Only the privileged roles are followed: a tenant has dozens of activated roles, and the
    controls judge admins, not every role holder.
    """
    roles = outcomes.get(DIRECTORY_ROLES)
    if roles is None or not roles.ok or not isinstance(roles.body, dict):
        return []
    return [
        role_members_path(str(role["id"]))
        for role in roles.body.get("value", [])
        if isinstance(role, dict) and role.get("roleTemplateId") in ADMIN_ROLES and role.get("id")
    ]
