"""Org-wide settings outside the authorization policy: idle sessions, user-owned apps, Forms,
third-party storage, Intune's default compliance, the banned password list.

1.3.4 and 1.3.5 read Graph **beta** endpoints (``/beta/admin/...``): there is no v1.0 one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..config import AuditConfig
from ..endpoints import (
    APPS_AND_SERVICES,
    DEVICE_SETTINGS,
    FORMS,
    GROUP_SETTINGS,
    THIRD_PARTY_STORAGE,
    THIRD_PARTY_STORAGE_APP,
    TIMEOUT_POLICIES,
)
from ..model import Control, Verdict, View
from ._helpers import LEARN, field_of, is_true, setting, verdict

IDLE_LIMIT_SECONDS = 3 * 3600
PASSWORD_RULES_TEMPLATE = "5cf42378-d67d-4f36-ba46-e8b86229381d"
_DURATION = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


def duration_seconds(text: str) -> int:
    """``"dd.hh:mm:ss"`` or ``"hh:mm:ss"`` (Graph's policy definitions) in seconds.

    Raises:
        ValueError: not such a duration (the evaluator reports the control as an error).
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a dd.hh:mm:ss duration")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _idle_timeout(view: View, config: AuditConfig) -> Verdict:
    """The organisation-default activity-based timeout policy, its ``default`` application."""
    timeouts: dict[str, str] = {}
    for policy in view.values(TIMEOUT_POLICIES):
        if policy.get("isOrganizationDefault") is not True:
            continue
        for definition in policy.get("definition") or []:
            rules = json.loads(definition).get("ActivityBasedTimeoutPolicy") or {}
            for app in rules.get("ApplicationPolicies") or []:
                if app.get("ApplicationId") == "default" and app.get("WebSessionIdleTimeout"):
                    timeouts[str(policy.get("displayName") or policy.get("id"))] = str(
                        app["WebSessionIdleTimeout"]
                    )
    ok = bool(timeouts) and all(
        duration_seconds(t) <= IDLE_LIMIT_SECONDS for t in timeouts.values()
    )
    return verdict(
        ok,
        "an organisation-default idle session timeout of 3 hours or less for web sessions",
        {"WebSessionIdleTimeout": timeouts or None},
        None if timeouts else {"note": "no organisation-default activity-based timeout policy"},
    )


def _user_owned_apps(view: View, config: AuditConfig) -> Verdict:
    body = view.body(APPS_AND_SERVICES)
    found = {
        name: field_of(body, f"settings.{name}")
        for name in ("isOfficeStoreEnabled", "isAppAndServicesTrialEnabled")
    }
    return verdict(
        all(value is False for value in found.values()),
        "settings.isOfficeStoreEnabled = false and settings.isAppAndServicesTrialEnabled = false",
        found,
    )


def _third_party_storage(view: View, config: AuditConfig) -> Verdict:
    """The service principal of the "Microsoft 365 on the web" storage app, disabled.

    Absent means never restricted: the setting is on until the principal is made and disabled.
    """
    principals = view.values(THIRD_PARTY_STORAGE)
    states = [p.get("accountEnabled") for p in principals]
    return verdict(
        bool(principals) and all(state is False for state in states),
        f"the service principal of app {THIRD_PARTY_STORAGE_APP} exists with accountEnabled "
        "= false",
        {"service_principal": "present" if principals else "absent", "accountEnabled": states},
    )


def _banned_passwords(view: View, config: AuditConfig) -> Verdict:
    """The tenant's Password Rule Settings: the custom list enforced and not empty."""
    rules = [
        s for s in view.values(GROUP_SETTINGS) if s.get("templateId") == PASSWORD_RULES_TEMPLATE
    ]
    values: dict[str, Any] = {}
    for item in rules:
        for pair in item.get("values") or []:
            if isinstance(pair, dict) and pair.get("name"):
                values[str(pair["name"])] = pair.get("value")
    check = str(values.get("EnableBannedPasswordCheck", "")).lower() == "true"
    words = [w for w in re.split(r"[\t,\n]+", str(values.get("BannedPasswordList") or "")) if w]
    return verdict(
        check and bool(words),
        "EnableBannedPasswordCheck = True with a non-empty BannedPasswordList",
        {
            "password_rule_settings": "present" if rules else "absent (defaults: no custom list)",
            "EnableBannedPasswordCheck": values.get("EnableBannedPasswordCheck"),
            "banned_words": len(words),
        },
    )


_ADMIN_SETTINGS = f"{LEARN}/microsoft-365/admin/manage"

CONTROLS = (
    Control(
        "1.3.2",
        "Ensure 'Idle session timeout' is set to '3 hours (or less)' for unmanaged devices",
        1,
        "E3",
        "Medium",
        (TIMEOUT_POLICIES,),
        ("Policy.Read.All",),
        "Microsoft 365 admin center > Settings > Org settings > Security & privacy > Idle "
        "session timeout: 3 hours or less (the CA 'app enforced restrictions' half is not "
        "read here).",
        f"{_ADMIN_SETTINGS}/idle-session-timeout-web-apps",
        _idle_timeout,
    ),
    Control(
        "1.3.4",
        "Ensure 'User owned apps and services' is restricted",
        1,
        "E3",
        "Low",
        (APPS_AND_SERVICES,),
        ("OrgSettings-AppsAndServices.Read.All",),
        "Microsoft 365 admin center > Settings > Org settings > User owned apps and services: "
        "clear 'Let users access the Office Store' and 'Let users start trials'.",
        f"{LEARN}/graph/api/resources/adminappsandservices?view=graph-rest-beta",
        _user_owned_apps,
    ),
    Control(
        "1.3.5",
        "Ensure internal phishing protection for Forms is enabled",
        1,
        "E3",
        "Medium",
        (FORMS,),
        ("OrgSettings-Forms.Read.All",),
        "Microsoft 365 admin center > Settings > Org settings > Microsoft Forms: turn on "
        "'Add internal phishing protection'.",
        f"{LEARN}/graph/api/resources/formssettings?view=graph-rest-beta",
        setting(
            FORMS,
            "settings.isInOrgFormsPhishingScanEnabled",
            is_true,
            "settings.isInOrgFormsPhishingScanEnabled = true",
        ),  # fmt: skip
    ),
    Control(
        "1.3.7",
        "Ensure 'third-party storage services' are restricted in 'Microsoft 365 on the web'",
        2,
        "E3",
        "Medium",
        (THIRD_PARTY_STORAGE,),
        ("Application.Read.All",),
        "Microsoft 365 admin center > Settings > Org settings > Microsoft 365 on the web: "
        "clear 'Let users open files stored in third-party storage services'.",
        f"{_ADMIN_SETTINGS}/manage-third-party-storage",
        _third_party_storage,
    ),
    Control(
        "4.1",
        "Ensure devices without a compliance policy are marked 'not compliant'",
        2,
        "E3",
        "Medium",
        (DEVICE_SETTINGS,),
        ("DeviceManagementServiceConfig.Read.All",),
        "Intune admin center > Devices > Compliance > Compliance settings: 'Mark devices with "
        "no compliance policy assigned as' = Not compliant.",
        f"{LEARN}/mem/intune/protect/device-compliance-get-started",
        setting(DEVICE_SETTINGS, "secureByDefault", is_true, "secureByDefault = true"),
        licence="Microsoft Intune",
    ),
    Control(
        "5.2.3.2",
        "Ensure custom banned passwords lists are used",
        1,
        "E3",
        "Medium",
        (GROUP_SETTINGS,),
        ("GroupSettings.Read.All",),
        "Entra admin center > Authentication methods > Password protection: 'Enforce custom "
        "list' = Yes, with the organisation's words.",
        f"{LEARN}/entra/identity/authentication/concept-password-ban-bad",
        _banned_passwords,
        licence="Entra ID P1",
    ),
)
