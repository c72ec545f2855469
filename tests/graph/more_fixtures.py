"""Fixture bodies for the controls added after the first slice (PIM, org settings, Forms,
Intune, password protection, Authenticator context, admin sessions, OneDrive sync).

``compliant_extra()`` adds passing bodies to the compliant tenant; ``break_extra()`` makes
each of them fail on the non-compliant one. Shapes follow the Graph resource pages
(unifiedRoleEligibilityScheduleInstance, activityBasedTimeoutPolicy, adminAppsAndServices,
adminForms / formsSettings, servicePrincipal, deviceManagementSettings, groupSetting,
microsoftAuthenticatorFeatureSettings, sharepointSettings).
"""

from __future__ import annotations

import json
from typing import Any

from m365_toolkit.m365.audit.graph import endpoints as ep

PIM_USER_ID = "pim-1"
PIM_USER_UPN = "pim1@contoso.onmicrosoft.com"
NEW_HIRE_UPN = "newhire@contoso.com"
_PASSWORD_RULES = "5cf42378-d67d-4f36-ba46-e8b86229381d"


def eligibility(principal: str, n: int) -> dict[str, Any]:
    return {
        "id": f"elig-{n}",
        "principalId": principal,
        "roleDefinitionId": ep.GLOBAL_ADMIN,
        "directoryScopeId": "/",
        "appScopeId": None,
        "startDateTime": "2026-01-01T00:00:00Z",
        "endDateTime": None,
        "memberType": "Direct",
        "roleEligibilityScheduleId": f"sched-{n}",
    }


def timeout_policy(idle: str) -> dict[str, Any]:
    definition = {
        "ActivityBasedTimeoutPolicy": {
            "Version": 1,
            "ApplicationPolicies": [{"ApplicationId": "default", "WebSessionIdleTimeout": idle}],
        }
    }
    return {
        "id": "abt-1",
        "displayName": "Idle web sessions",
        "isOrganizationDefault": True,
        "definition": [json.dumps(definition)],
    }


def feature(state: str, target: str = "all_users") -> dict[str, Any]:
    return {
        "state": state,
        "includeTarget": {"targetType": "group", "id": target},
        "excludeTarget": {"targetType": "group", "id": "00000000-0000-0000-0000-000000000000"},
    }


def authenticator(state: str = "enabled") -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration",
        "id": "MicrosoftAuthenticator",
        "state": state,
        "featureSettings": {
            "displayAppInformationRequiredState": feature("enabled"),
            "displayLocationInformationRequiredState": feature("enabled"),
        },
    }


def admin_session_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """An admin-roles policy with a 4-hour sign-in frequency and no persistent browser."""
    policy["conditions"]["users"]["includeUsers"] = []
    policy["conditions"]["users"]["includeRoles"] = list(ep.ADMIN_ROLES)
    policy["grantControls"] = None
    policy["sessionControls"] = {
        "signInFrequency": {
            "isEnabled": True,
            "type": "hours",
            "value": 4,
            "frequencyInterval": "timeBased",
            "authenticationType": "primaryAndSecondaryAuthentication",
        },
        "persistentBrowser": {"isEnabled": True, "mode": "never"},
    }
    return policy


def password_rules(check: str) -> dict[str, Any]:
    return {
        "value": [
            {
                "id": "gs-1",
                "displayName": "Password Rule Settings",
                "templateId": _PASSWORD_RULES,
                "values": [
                    {"name": "BannedPasswordCheckOnPremisesMode", "value": "Audit"},
                    {"name": "EnableBannedPasswordCheckOnPremises", "value": "True"},
                    {"name": "EnableBannedPasswordCheck", "value": check},
                    {"name": "LockoutDurationInSeconds", "value": "60"},
                    {"name": "LockoutThreshold", "value": "10"},
                    {"name": "BannedPasswordList", "value": "contoso\tfabrikam2026"},
                ],
            }
        ]
    }


def compliant_extra() -> dict[str, Any]:
    return {
        ep.GA_ELIGIBLE: {"value": [eligibility(PIM_USER_ID, 1), eligibility("grp-pim", 2)]},
        ep.TIMEOUT_POLICIES: {"value": [timeout_policy("01:00:00")]},
        ep.APPS_AND_SERVICES: {
            "id": "appsAndServices",
            "settings": {"isOfficeStoreEnabled": False, "isAppAndServicesTrialEnabled": False},
        },
        ep.FORMS: {
            "id": "forms",
            "settings": {
                "isBingImageSearchEnabled": True,
                "isExternalSendFormEnabled": False,
                "isExternalShareCollaborationEnabled": False,
                "isExternalShareResultEnabled": False,
                "isExternalShareTemplateEnabled": False,
                "isInOrgFormsPhishingScanEnabled": True,
                "isRecordIdentityByDefaultEnabled": True,
            },
        },
        ep.THIRD_PARTY_STORAGE: {
            "value": [
                {
                    "id": "sp-3p",
                    "appId": ep.THIRD_PARTY_STORAGE_APP,
                    "displayName": "Microsoft 365 third-party storage",
                    "accountEnabled": False,
                }
            ]
        },
        ep.DEVICE_SETTINGS: {
            "deviceComplianceCheckinThresholdDays": 30,
            "isScheduledActionEnabled": True,
            "secureByDefault": True,
        },
        ep.GROUP_SETTINGS: password_rules("True"),
    }


def break_extra(tenant: dict[str, Any]) -> None:
    """Make every extra control fail (1.1.3 already fails: one active GA, none eligible)."""
    tenant[ep.GA_ELIGIBLE] = {"value": [eligibility("ga-1", 1)]}  # the same person again
    tenant[ep.TIMEOUT_POLICIES] = {"value": [timeout_policy("06:00:00")]}
    tenant[ep.APPS_AND_SERVICES]["settings"]["isAppAndServicesTrialEnabled"] = True
    tenant[ep.FORMS]["settings"]["isInOrgFormsPhishingScanEnabled"] = False
    tenant[ep.THIRD_PARTY_STORAGE] = {"value": []}  # never restricted
    tenant[ep.DEVICE_SETTINGS]["secureByDefault"] = False
    tenant[ep.GROUP_SETTINGS] = password_rules("False")
    methods = tenant[ep.AUTH_METHODS_POLICY]["authenticationMethodConfigurations"]
    methods[-1]["featureSettings"]["displayLocationInformationRequiredState"] = feature("default")
    tenant[ep.SHAREPOINT]["allowedDomainGuidsForSyncApp"] = []
