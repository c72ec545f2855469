"""Authentication methods: who can do MFA, and which weak methods are switched off."""

from __future__ import annotations

from ..config import AuditConfig
from ..endpoints import AUTH_METHODS_POLICY, REGISTRATION, USERS
from ..model import Control, Verdict, View
from ._helpers import LEARN, verdict

WEAK_METHODS = ("Sms", "Voice", "Email")


def _mfa_capable(view: View, config: AuditConfig) -> Verdict:
    """Enabled member users only: guests and disabled accounts are not counted."""
    users = {str(u.get("id")): u for u in view.values(USERS)}
    members = {
        uid for uid, u in users.items()
        if u.get("accountEnabled") is True and u.get("userType", "Member") == "Member"
    }  # fmt: skip
    registered = {str(r.get("id")): r for r in view.values(REGISTRATION)}
    incapable = sorted(
        str(users[uid].get("userPrincipalName") or uid)
        for uid in members
        if not (registered.get(uid) or {}).get("isMfaCapable")
    )
    return verdict(
        not incapable,
        "every enabled member user is MFA capable (isMfaCapable = true)",
        {"members_checked": len(members), "not_mfa_capable": len(incapable)},
        {"not_mfa_capable": incapable[:50]},
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
)
