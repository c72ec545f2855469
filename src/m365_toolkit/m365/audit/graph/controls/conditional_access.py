"""The Conditional Access family, without the reference tools' false passes.

A rule passes when at least one policy *enforces* it for everyone it must cover:

- ``state`` is ``enabled``: report-only (``enabledForReportingButNotEnforced``) is not
  enforcement, it is shown in the evidence as such;
- users: ``All`` (or, for admin rules, every privileged role); applications: ``All``;
- exclusions: none, except accounts (users or groups) declared break-glass in the config;
  excluded roles, guests and applications always fail;
- no narrowing condition (platforms, locations, device filter, risk levels, client app
  types, authentication flows) except the one the rule is about;
- the grant really requires what the rule says (``mfa`` OR'ed with "compliant device" lets
  a user skip MFA).

Each candidate policy appears in the evidence with the reasons it does not count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import AuditConfig
from ..endpoints import ADMIN_ROLES, CONDITIONAL_ACCESS, USERS
from ..model import Control, Unavailable, Verdict, View
from ._helpers import LEARN, verdict

PHISHING_RESISTANT = "00000000-0000-0000-0000-000000000004"
PHISHING_RESISTANT_METHODS = frozenset(
    {"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"}
)
ALL_CLIENT_APPS = frozenset(
    {"browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"}
)
"""Listing every client app type is the same as ``all``."""
NARROWING = ("platforms", "locations", "devices", "userRisk", "signInRisk", "clientApps", "flows")


@dataclass(frozen=True, slots=True)
class Rule:
    """What one CA control requires of a policy."""

    who: str
    """``all`` (includeUsers All) or ``admins`` (All, or every privileged role)."""
    grant: Callable[[dict[str, Any]], str | None]
    """``None`` when the policy grants what the rule needs, else why not."""
    allowed: frozenset[str] = frozenset()
    """Narrowing conditions that are the point of the rule (e.g. clientApps for legacy)."""
    condition: Callable[[dict[str, Any]], str | None] = lambda conditions: None
    """The rule's own condition: ``None`` when met, else why not."""


def _controls(policy: dict[str, Any]) -> tuple[set[str], str, Any]:
    grant = policy.get("grantControls") or {}
    return set(grant.get("builtInControls") or []), str(grant.get("operator") or "OR"), grant


def _mfa_required(policy: dict[str, Any]) -> str | None:
    controls, operator, grant = _controls(policy)
    if "mfa" not in controls and not grant.get("authenticationStrength"):
        return "does not require MFA or an authentication strength"
    others = controls - {"mfa"}
    if operator == "OR" and others:
        return f"grants access with {' or '.join(sorted(others))} instead of MFA (operator OR)"
    return None


def _block(policy: dict[str, Any]) -> str | None:
    controls, _, _ = _controls(policy)
    return None if "block" in controls else "does not block access"


def _phishing_resistant(policy: dict[str, Any]) -> str | None:
    controls, operator, grant = _controls(policy)
    if operator == "OR" and controls:
        return f"grants access with {' or '.join(sorted(controls))} instead (operator OR)"
    strength = grant.get("authenticationStrength") or {}
    combos = set(strength.get("allowedCombinations") or [])
    if strength.get("id") == PHISHING_RESISTANT:
        return None
    if combos and combos <= PHISHING_RESISTANT_METHODS:
        return None  # a custom strength that allows phishing-resistant methods only
    if not strength:
        return "requires no authentication strength"
    return f"authentication strength {strength.get('displayName') or strength.get('id')!r} " \
        "allows methods that are not phishing-resistant"  # fmt: skip


def _risk_grant(policy: dict[str, Any]) -> str | None:
    controls, operator, _ = _controls(policy)
    if {"mfa", "passwordChange"} <= controls and operator == "AND":
        return None
    return "does not require MFA AND password change"


def _sign_in_risk_grant(policy: dict[str, Any]) -> str | None:
    problem = _mfa_required(policy)
    if problem:
        return problem
    frequency = (policy.get("sessionControls") or {}).get("signInFrequency") or {}
    if frequency.get("isEnabled") and frequency.get("frequencyInterval") == "everyTime":
        return None
    return "sign-in frequency is not 'every time'"


ADMIN_SIGN_IN_HOURS = 4


def _admin_session(policy: dict[str, Any]) -> str | None:
    """Sign-in frequency of at most 4 hours (or every time) and no persistent browser."""
    session = policy.get("sessionControls") or {}
    frequency = session.get("signInFrequency") or {}
    browser = session.get("persistentBrowser") or {}
    found = []
    if not frequency.get("isEnabled"):
        found.append("sign-in frequency is not enabled")
    elif frequency.get("frequencyInterval") != "everyTime":
        hours = frequency.get("value")
        if frequency.get("type") == "days" and isinstance(hours, int):
            hours = hours * 24
        if not isinstance(hours, int) or hours > ADMIN_SIGN_IN_HOURS:
            every = f"{frequency.get('value')} {frequency.get('type')}"
            found.append(f"sign-in frequency is {every}, more than {ADMIN_SIGN_IN_HOURS} hours")
    if not browser.get("isEnabled") or browser.get("mode") != "never":
        found.append("persistent browser session is not set to 'never'")
    return "; ".join(found) or None


def _user_risk(conditions: dict[str, Any]) -> str | None:
    return (
        None if "high" in (conditions.get("userRiskLevels") or []) else "userRiskLevels lacks high"
    )


def _sign_in_risk(conditions: dict[str, Any]) -> str | None:
    levels = set(conditions.get("signInRiskLevels") or [])
    return None if {"high", "medium"} <= levels else "signInRiskLevels lacks high and medium"


def _legacy_clients(conditions: dict[str, Any]) -> str | None:
    apps = set(conditions.get("clientAppTypes") or [])
    if {"exchangeActiveSync", "other"} <= apps:
        return None
    return "clientAppTypes does not include exchangeActiveSync and other"


def _device_code(conditions: dict[str, Any]) -> str | None:
    flows = (conditions.get("authenticationFlows") or {}).get("transferMethods") or ""
    return None if "deviceCodeFlow" in str(flows) else "authenticationFlows lacks deviceCodeFlow"


def narrowing(conditions: dict[str, Any]) -> dict[str, Any]:
    """The conditions that make a policy apply to less than every sign-in."""
    found: dict[str, Any] = {}
    platforms = conditions.get("platforms") or {}
    if platforms.get("excludePlatforms") or set(platforms.get("includePlatforms") or ["all"]) != {
        "all"
    }:
        found["platforms"] = platforms
    locations = conditions.get("locations") or {}
    if locations.get("excludeLocations") or set(locations.get("includeLocations") or ["All"]) != {
        "All"
    }:
        found["locations"] = locations
    if ((conditions.get("devices") or {}).get("deviceFilter")) is not None:
        found["devices"] = conditions["devices"]["deviceFilter"]
    for key, name in (("userRiskLevels", "userRisk"), ("signInRiskLevels", "signInRisk")):
        if conditions.get(key):
            found[name] = conditions[key]
    apps = set(conditions.get("clientAppTypes") or ["all"])
    if "all" not in apps and not apps >= ALL_CLIENT_APPS:
        found["clientApps"] = conditions["clientAppTypes"]
    if conditions.get("authenticationFlows"):
        found["flows"] = conditions["authenticationFlows"]
    return found


def problems(policy: dict[str, Any], rule: Rule, break_glass: set[str]) -> list[str]:
    """Why ``policy`` does not enforce ``rule``; empty when it does."""
    found: list[str] = []
    state = policy.get("state")
    if state == "enabledForReportingButNotEnforced":
        found.append("report-only: not enforced")
    elif state != "enabled":
        found.append(f"state is {state!r}")
    conditions = policy.get("conditions") or {}
    users = conditions.get("users") or {}
    include_all = "All" in (users.get("includeUsers") or [])
    if rule.who == "admins" and not include_all:
        missing = set(ADMIN_ROLES) - set(users.get("includeRoles") or [])
        if missing:
            names = sorted(ADMIN_ROLES[m] for m in missing)
            found.append(f"does not include every admin role (missing {', '.join(names[:5])}"
                         f"{'…' if len(names) > 5 else ''})")  # fmt: skip
    elif rule.who == "all" and not include_all:
        found.append("does not include all users")
    apps = conditions.get("applications") or {}
    if "All" not in (apps.get("includeApplications") or []):
        found.append("does not include all cloud apps")
    if apps.get("excludeApplications"):
        found.append(f"excludes applications {apps['excludeApplications']}")
    for key in ("excludeUsers", "excludeGroups"):
        others = [x for x in users.get(key) or [] if str(x).lower() not in break_glass]
        if others:
            found.append(f"{key} has {len(others)} not declared break-glass: {others[:5]}")
    if users.get("excludeRoles"):
        found.append(f"excludes roles {users['excludeRoles']}")
    if users.get("excludeGuestsOrExternalUsers"):
        found.append("excludes guests or external users")
    narrow = {k: v for k, v in narrowing(conditions).items() if k not in rule.allowed}
    if narrow:
        found.append(f"narrowed by {', '.join(sorted(narrow))}")
    for check in (rule.condition(conditions), rule.grant(policy)):
        if check:
            found.append(check)
    return found


def break_glass_ids(view: View, config: AuditConfig) -> set[str]:
    """Declared break-glass accounts as object ids (UPNs looked up in the users) and names."""
    declared = set(config.break_glass)
    if not declared:
        return declared
    try:
        users = view.values(USERS)
    except Unavailable:  # without the users, only ids declared as ids can match
        return declared
    for user in users:
        if str(user.get("userPrincipalName", "")).lower() in declared:
            declared.add(str(user.get("id")).lower())
    return declared


def ca_check(rule: Rule, expected: str) -> Callable[[View, AuditConfig], Verdict]:
    """The check of one CA control: pass when some policy has no problem."""

    def check(view: View, config: AuditConfig) -> Verdict:
        policies = view.values(CONDITIONAL_ACCESS)
        glass = break_glass_ids(view, config) if config.break_glass else set()
        verdicts = {
            str(p.get("displayName") or p.get("id")): problems(p, rule, glass) for p in policies
        }
        enforcing = sorted(name for name, found in verdicts.items() if not found)
        return verdict(
            bool(enforcing),
            expected,
            {"enforcing_policies": enforcing, "policies_checked": len(policies)},
            {name: found for name, found in verdicts.items() if found} or None,
        )

    return check


_CA = f"{LEARN}/entra/identity/conditional-access"
_P1, _P2 = "Entra ID P1", "Entra ID P2"
_READ = ("Policy.Read.All",)
_ENDPOINTS = (CONDITIONAL_ACCESS,)


def _ca(cis: str, title: str, level: int, profile: str, rule: Rule, expected: str, fix: str,
        page: str, licence: str = _P1) -> Control:  # fmt: skip
    return Control(cis, title, level, profile, "High", _ENDPOINTS, _READ, fix, f"{_CA}/{page}",
                   ca_check(rule, expected), licence=licence)  # fmt: skip


CONTROLS = (
    _ca("5.2.2.1", "Ensure multifactor authentication is enabled for all users in "
        "administrative roles", 1, "E3", Rule("admins", _mfa_required),
        "an enabled CA policy requiring MFA for every admin role, all apps, no narrowing",
        "Create a CA policy: include the admin roles, all cloud apps, grant 'Require MFA'.",
        "policy-old-require-mfa-admin"),
    _ca("5.2.2.2", "Ensure multifactor authentication is enabled for all users", 1, "E3",
        Rule("all", _mfa_required),
        "an enabled CA policy requiring MFA for all users and all apps, no narrowing",
        "Create a CA policy: all users (break-glass excluded), all cloud apps, 'Require MFA'.",
        "policy-all-users-mfa-strength"),
    _ca("5.2.2.3", "Enable Conditional Access policies to block legacy authentication", 1, "E3",
        Rule("all", _block, frozenset({"clientApps"}), _legacy_clients),
        "an enabled CA policy blocking clientAppTypes exchangeActiveSync and other for all users",
        "Create a CA policy: all users, all apps, client apps 'Exchange ActiveSync' and "
        "'Other clients', grant 'Block'.", "policy-block-legacy-authentication"),
    _ca("5.2.2.4", "Ensure Sign-in frequency is enabled and browser sessions are not persistent "
        "for Administrative users", 1, "E3", Rule("admins", _admin_session),
        "an enabled CA policy for every admin role: sign-in frequency 4 hours or less, "
        "persistent browser 'never'",
        "Create a CA policy: the admin roles, all apps, session 'Sign-in frequency' 4 hours or "
        "less and 'Persistent browser session' Never persistent.",
        "howto-conditional-access-session-lifetime"),
    _ca("5.2.2.5", "Ensure 'Phishing-resistant MFA strength' is required for Administrators",
        2, "E3", Rule("admins", _phishing_resistant),
        "an enabled CA policy requiring the phishing-resistant MFA strength for every admin role",
        "Create a CA policy: the admin roles, all apps, grant 'Require authentication "
        "strength: Phishing-resistant MFA'.", "policy-admin-phish-resistant-mfa"),
    _ca("5.2.2.6", "Enable Identity Protection user risk policies", 1, "E5",
        Rule("all", _risk_grant, frozenset({"userRisk"}), _user_risk),
        "an enabled CA policy: user risk high -> require MFA AND password change",
        "Create a CA policy: all users, all apps, user risk High, grant 'Require MFA' and "
        "'Require password change' (all of the selected).", "policy-risk-based-user", _P2),
    _ca("5.2.2.7", "Enable Identity Protection sign-in risk policies", 1, "E5",
        Rule("all", _sign_in_risk_grant, frozenset({"signInRisk"}), _sign_in_risk),
        "an enabled CA policy: sign-in risk high and medium -> MFA, sign-in frequency every time",
        "Create a CA policy: all users, all apps, sign-in risk High and Medium, 'Require MFA', "
        "session sign-in frequency 'Every time'.", "policy-risk-based-sign-in", _P2),
    _ca("5.2.2.12", "Ensure the device code sign-in flow is blocked", 1, "E3",
        Rule("all", _block, frozenset({"flows"}), _device_code),
        "an enabled CA policy blocking the device code flow for all users and apps",
        "Create a CA policy: all users, all apps, authentication flows 'Device code flow', "
        "grant 'Block'.", "policy-block-authentication-flows"),
)  # fmt: skip
