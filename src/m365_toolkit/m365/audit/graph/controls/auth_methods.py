"""Authentication methods: who can do MFA, and which weak methods are switched off."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ..config import AuditConfig
from ..endpoints import AUTH_METHODS_POLICY, REGISTRATION, USERS
from ..model import SKIPPED, Control, Verdict, View
from ._helpers import LEARN, verdict

WEAK_METHODS = ("Sms", "Voice", "Email")
HIRE_HORIZON_DAYS = 365
"""A hire date further ahead than this is not believed (it would exempt an account)."""


def hire_day(user: dict[str, Any]) -> date | None:
    """``employeeHireDate`` as a day; ``None`` when absent or not a date."""
    value = user.get("employeeHireDate")
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _mfa_capable(view: View, config: AuditConfig) -> Verdict:
    """Enabled member users only: guests, disabled accounts and people not started yet are
    not counted.

    "Not started" is a hire date after the day judged (the snapshot's day, not the clock's)
    and at most :data:`HIRE_HORIZON_DAYS` ahead: a hire date years away is implausible, so
    it does not hide an account from the control; it is counted and named in the evidence.
    """
    users = {str(u.get("id")): u for u in view.values(USERS)}
    members = {
        uid for uid, u in users.items()
        if u.get("accountEnabled") is True and u.get("userType", "Member") == "Member"
    }  # fmt: skip
    not_started, implausible = [], []
    for uid in sorted(members):
        hired = hire_day(users[uid])
        if hired is None or hired <= view.today:
            continue
        name = str(users[uid].get("userPrincipalName") or uid)
        if (hired - view.today).days <= HIRE_HORIZON_DAYS:
            not_started.append(name)
            members.discard(uid)
        else:
            implausible.append(name)
    registered = {str(r.get("id")): r for r in view.values(REGISTRATION)}
    incapable = sorted(
        str(users[uid].get("userPrincipalName") or uid)
        for uid in members
        if not (registered.get(uid) or {}).get("isMfaCapable")
    )
    evidence: dict[str, Any] = {"not_mfa_capable": incapable[:50]}
    if not_started:
        evidence["not_started_yet"] = not_started[:50]
    if implausible:
        evidence["implausible_hire_dates_counted"] = implausible[:50]
    return verdict(
        not incapable,
        "every enabled member user is MFA capable (isMfaCapable = true)",
        {"members_checked": len(members), "not_mfa_capable": len(incapable)},
        evidence,
    )


def _weak_methods(view: View, config: AuditConfig) -> Verdict:
    configs = view.body(AUTH_METHODS_POLICY).get("authenticationMethodConfigurations") or []
    states = {str(c.get("id")): c.get("state") for c in configs if isinstance(c, dict)}
    enabled = [m for m in WEAK_METHODS if states.get(m, "disabled") != "disabled"]
    return verdict(
        not enabled,
        "SMS, voice call and email OTP methods are disabled",
        {m: states.get(m, "absent") for m in WEAK_METHODS},
    )


AUTHENTICATOR_CONTEXT = (
    "displayAppInformationRequiredState",
    "displayLocationInformationRequiredState",
)
ALL_USERS_TARGET = "all_users"


def _authenticator_context(view: View, config: AuditConfig) -> Verdict:
    """Number matching's companions: the app name and the location, shown to every user."""
    configs = view.body(AUTH_METHODS_POLICY).get("authenticationMethodConfigurations") or []
    found = next(
        (c for c in configs if isinstance(c, dict) and c.get("id") == "MicrosoftAuthenticator"),
        None,
    )
    expected = "Authenticator shows the app name and the location, state enabled for all_users"
    if found is None or found.get("state") != "enabled":
        return Verdict(
            SKIPPED, expected, {"MicrosoftAuthenticator": (found or {}).get("state", "absent")},
            reason="Not applicable: the Microsoft Authenticator method is not enabled.",
        )  # fmt: skip
    settings = found.get("featureSettings") or {}
    actual: dict[str, Any] = {}
    problems = []
    for name in AUTHENTICATOR_CONTEXT:
        feature = settings.get(name) or {}
        target = (feature.get("includeTarget") or {}).get("id")
        actual[name] = {"state": feature.get("state", "default"), "includeTarget": target}
        if feature.get("state") != "enabled":
            problems.append(f"{name} is {feature.get('state', 'default')!r}")
        elif target != ALL_USERS_TARGET:
            problems.append(f"{name} covers {target!r} only, not all users")
    return verdict(not problems, expected, actual, {"problems": problems} if problems else None)


CONTROLS = (
    Control(
        "5.2.3.4",
        "Ensure all member users are 'MFA capable'",
        1,
        "E3",
        "High",
        (USERS, REGISTRATION),
        ("AuditLog.Read.All", "User.Read.All"),
        "Have every member register a strong method (Authenticator, FIDO2, Windows Hello); "
        "use a registration campaign or a CA registration policy.",
        f"{LEARN}/entra/identity/authentication/howto-authentication-methods-activity",
        _mfa_capable,
        licence="Entra ID P1",
    ),
    Control(
        "5.2.3.5",
        "Ensure weak authentication methods are disabled",
        1,
        "E3",
        "Medium",
        (AUTH_METHODS_POLICY,),
        ("Policy.Read.All",),
        "Entra admin center > Authentication methods > Policies: disable SMS, Voice call and "
        "Email OTP.",
        f"{LEARN}/entra/identity/authentication/concept-authentication-methods-manage",
        _weak_methods,
        other_ids={"v7": "5.2.3.5 (email OTP is 5.2.3.7)"},
    ),
    Control(
        "5.2.3.1",
        "Ensure Microsoft Authenticator is configured to protect against MFA fatigue",
        1,
        "E3",
        "Medium",
        (AUTH_METHODS_POLICY,),
        ("Policy.Read.All",),
        "Entra admin center > Authentication methods > Microsoft Authenticator > Configure: "
        "show application name and geographic location in push notifications, for all users.",
        f"{LEARN}/entra/identity/authentication/how-to-mfa-additional-context",
        _authenticator_context,
    ),
)
