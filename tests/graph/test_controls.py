"""The evaluators as pure functions over snapshot outcomes: no HTTP, no files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from m365_toolkit.m365.audit.graph import BY_ID, CONTROLS, evaluate, parse_config, plan
from m365_toolkit.m365.audit.graph import endpoints as ep
from m365_toolkit.m365.audit.graph.endpoints import derived_paths
from m365_toolkit.m365.graph import Outcome

from .tenants import (
    BREAK_GLASS_ID,
    BREAK_GLASS_UPN,
    COMPLIANT_CONFIG,
    ca_policy,
    compliant,
    noncompliant,
    outcomes,
)

TODAY = date(2026, 12, 1)
IDS = [c.id for c in CONTROLS]


def results(tenant, config=None, today=TODAY):
    found = evaluate(outcomes(tenant), parse_config(config or {}), today=today)
    return {e.control.id: e for e in found}


def with_policies(*policies):
    tenant = compliant()
    tenant[ep.CONDITIONAL_ACCESS] = {"value": list(policies)}
    return tenant


def test_the_catalogue_has_unique_ids_and_complete_metadata():
    assert len(IDS) == len(set(IDS)) >= 12
    for control in CONTROLS:
        assert control.title and control.remediation and control.link.startswith("https://")
        assert control.endpoints and control.permissions and control.severity
        assert control.level in (1, 2) and control.profile in ("E3", "E5")


def test_users_and_groups_are_always_asked_with_select():
    for control in CONTROLS:
        for path in control.endpoints:
            if path.startswith(("/v1.0/users", "/v1.0/groups")):
                assert "$select=" in path, path


@pytest.mark.parametrize("control_id", IDS)
def test_every_control_passes_on_the_compliant_tenant(control_id):
    found = results(compliant(), COMPLIANT_CONFIG)[control_id]
    if control_id == "5.1.8.1":  # cloud-only: not applicable, never a failure
        assert found.status == "Skipped" and "cloud-only" in found.reason
    else:
        assert found.status == "Pass", (found.actual, found.evidence)


@pytest.mark.parametrize("control_id", IDS)
def test_every_control_fails_on_the_noncompliant_tenant(control_id):
    found = results(noncompliant())[control_id]
    assert found.status == "Fail", (found.actual, found.evidence)


def test_password_hash_sync_passes_in_a_hybrid_tenant_with_it_on():
    tenant = noncompliant()
    tenant[ep.ON_PREM_SYNC]["value"][0]["features"]["passwordSyncEnabled"] = True
    assert results(tenant)["5.1.8.1"].status == "Pass"


def test_an_admin_licence_listed_second_is_seen():
    found = results(noncompliant())["1.1.4"]
    assert found.actual["admins_with_productivity_licences"] == {
        "ga1@contoso.onmicrosoft.com": ["SPE_E5"]
    }


def test_a_second_verified_domain_with_expiry_fails_and_unverified_domains_do_not_count():
    found = results(noncompliant())["1.3.1"]
    assert found.actual["domains_with_expiry"] == {"contoso.onmicrosoft.com": 90}
    assert found.actual["domains_checked"] == 2


def test_mfa_capable_ignores_guests_and_disabled_users():
    tenant = compliant()
    tenant[ep.REGISTRATION]["value"] = [
        r for r in tenant[ep.REGISTRATION]["value"] if r["id"] not in ("g-1", "d-1")
    ]
    assert results(tenant)["5.2.3.4"].status == "Pass"
    tenant[ep.REGISTRATION]["value"].pop()
    assert results(tenant)["5.2.3.4"].actual["not_mfa_capable"] == 1


# -- Conditional Access ---------------------------------------------------------------------


def test_report_only_is_not_enforcement_and_the_evidence_says_so():
    found = results(with_policies(ca_policy("MFA", state="enabledForReportingButNotEnforced")))
    assert found["5.2.2.2"].status == "Fail"
    assert "report-only: not enforced" in found["5.2.2.2"].evidence["MFA"]


def test_an_excluded_user_fails_unless_declared_break_glass_by_upn_or_id():
    tenant = with_policies(ca_policy("MFA", conditions__users__excludeUsers=[BREAK_GLASS_ID]))
    assert results(tenant)["5.2.2.2"].status == "Fail"
    upn = {"audit": {"break_glass": [BREAK_GLASS_UPN]}}
    assert results(tenant, upn)["5.2.2.2"].status == "Pass"
    assert results(tenant, {"audit": {"break_glass": [BREAK_GLASS_ID]}})["5.2.2.2"].status == "Pass"


def test_an_excluded_group_that_is_not_break_glass_fails_the_legacy_block():
    policy = ca_policy(
        "Legacy",
        conditions__clientAppTypes=["exchangeActiveSync", "other"],
        grantControls={"operator": "OR", "builtInControls": ["block"]},
        conditions__users__excludeGroups=["grp-contractors"],
    )
    found = results(with_policies(policy), COMPLIANT_CONFIG)["5.2.2.3"]
    assert found.status == "Fail"
    assert any("excludeGroups" in p for p in found.evidence["Legacy"])


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        (
            {
                "conditions__locations": {
                    "includeLocations": ["All"],
                    "excludeLocations": ["AllTrusted"],
                }
            },
            "locations",
        ),
        ({"conditions__platforms": {"includePlatforms": ["android", "iOS"]}}, "platforms"),
        ({"conditions__devices": {"deviceFilter": {"mode": "exclude", "rule": "x"}}}, "devices"),
        ({"conditions__userRiskLevels": ["high"]}, "userRisk"),
        ({"conditions__clientAppTypes": ["browser"]}, "clientApps"),
        ({"conditions__users__excludeRoles": [ep.GLOBAL_ADMIN]}, "excludes roles"),
        (
            {
                "conditions__users__excludeGuestsOrExternalUsers": {
                    "guestOrExternalUserTypes": "b2b"
                }
            },
            "guests",
        ),
        ({"conditions__applications__excludeApplications": ["app-1"]}, "excludes applications"),
        ({"conditions__applications__includeApplications": ["app-1"]}, "all cloud apps"),
        (
            {"grantControls": {"operator": "OR", "builtInControls": ["mfa", "compliantDevice"]}},
            "instead of MFA",
        ),
    ],
)
def test_a_narrowed_or_weakened_all_users_policy_does_not_pass(override, reason):
    found = results(with_policies(ca_policy("MFA", **override)), COMPLIANT_CONFIG)["5.2.2.2"]
    assert found.status == "Fail"
    assert any(reason in problem for problem in found.evidence["MFA"]), found.evidence


def test_mfa_and_compliant_device_with_and_still_requires_mfa():
    policy = ca_policy(
        "MFA", grantControls={"operator": "AND", "builtInControls": ["mfa", "compliantDevice"]}
    )
    assert results(with_policies(policy))["5.2.2.2"].status == "Pass"


def test_an_admin_policy_missing_a_role_fails_and_all_users_covers_admins():
    roles = list(ep.ADMIN_ROLES)[1:]
    partial = ca_policy(
        "Admins", conditions__users__includeUsers=[], conditions__users__includeRoles=roles
    )
    assert results(with_policies(partial))["5.2.2.1"].status == "Fail"
    assert results(with_policies(ca_policy("Everyone")))["5.2.2.1"].status == "Pass"


def test_a_high_risk_policy_does_not_satisfy_the_generic_mfa_rule():
    risky = ca_policy("Risky", conditions__signInRiskLevels=["high"])
    assert results(with_policies(risky))["5.2.2.2"].status == "Fail"


def test_a_custom_strength_of_phishing_resistant_methods_only_passes():
    def admins(strength):
        return ca_policy(
            "PR",
            conditions__users__includeUsers=[],
            conditions__users__includeRoles=list(ep.ADMIN_ROLES),
            grantControls={
                "operator": "OR",
                "builtInControls": [],
                "authenticationStrength": strength,
            },
        )

    good = admins({"id": "custom", "allowedCombinations": ["fido2", "windowsHelloForBusiness"]})
    weak = admins(
        {
            "id": "custom2",
            "displayName": "Any MFA",
            "allowedCombinations": ["fido2", "password,sms"],
        }
    )
    assert results(with_policies(good))["5.2.2.5"].status == "Pass"
    assert results(with_policies(weak))["5.2.2.5"].status == "Fail"


def test_no_policies_at_all_fail_without_crashing():
    found = results(with_policies())
    assert {found[i].status for i in ("5.2.2.1", "5.2.2.2", "5.2.2.12")} == {"Fail"}


# -- refusals, errors and exceptions ---------------------------------------------------------


def test_a_403_on_conditional_access_skips_every_ca_control_naming_the_licence():
    tenant = compliant()
    tenant[ep.CONDITIONAL_ACCESS] = Outcome(
        ep.CONDITIONAL_ACCESS,
        403,
        error="HTTP 403 Forbidden: Tenant does not have a valid AAD Premium license",
    )
    tenant[ep.REGISTRATION] = Outcome(
        ep.REGISTRATION, 403, error="HTTP 403 Authorization_RequestDenied: Insufficient privileges"
    )
    found = results(tenant, COMPLIANT_CONFIG)
    for cid in ("5.2.2.1", "5.2.2.2", "5.2.2.3", "5.2.2.12"):
        assert found[cid].status == "Skipped"
        assert "licence Entra ID P1" in found[cid].reason
    assert found["5.2.3.4"].status == "Skipped"
    assert "AuditLog.Read.All" in found["5.2.3.4"].reason
    assert found["5.1.2.2"].status == "Pass"


def test_throttling_that_never_ended_is_an_error_not_a_failure():
    tenant = compliant()
    tenant[ep.SHAREPOINT] = Outcome(ep.SHAREPOINT, 429, error="HTTP 429 TooManyRequests")
    found = results(tenant)
    assert {found[i].status for i in ("7.2.1", "7.2.3", "7.2.5", "7.2.6")} == {"Error"}
    assert "failed: HTTP 429" in found["7.2.1"].reason


def test_an_unexpected_body_shape_is_an_error_naming_the_problem():
    tenant = compliant()
    tenant[ep.AUTHORIZATION_POLICY] = ["not", "an", "object"]
    assert results(tenant)["5.1.6.2"].status == "Error"


def test_an_active_exception_accepts_a_failure_and_an_expired_one_does_not():
    config = {
        "exceptions": [
            {
                "control": "5.1.2.2",
                "reason": "dev team registers apps",
                "owner": "ciso@contoso.com",
                "expires": date(2026, 12, 31),
            }
        ]
    }
    accepted = results(noncompliant(), config)["5.1.2.2"]
    assert accepted.status == "Accepted"
    assert "ciso@contoso.com" in accepted.reason and "dev team" in accepted.reason
    expired = results(noncompliant(), config, today=date(2027, 1, 1))["5.1.2.2"]
    assert expired.status == "Fail" and "expired on 2026-12-31" in expired.reason
    assert results(compliant(), config)["5.1.2.2"].status == "Pass"


@pytest.mark.parametrize("control_id", IDS)
def test_each_control_reads_only_the_endpoints_it_declares(control_id):
    """What collection asks for (declared + derived) is all a check needs."""
    control = BY_ID[control_id]
    # no break-glass accounts: they make collection ask for the users whatever the controls
    config = parse_config({"audit": {"approved_public_groups": ["All Company"]}})
    for tenant in (compliant(), noncompliant()):
        full = outcomes(tenant)
        first = {p: full[p] for p in plan([control], config) if p in full}
        asked = {**first, **{p: full[p] for p in derived_paths(first) if p in full}}
        alone = evaluate(asked, config, today=TODAY, controls=[control])[0]
        whole = evaluate(full, config, today=TODAY, controls=[control])[0]
        assert (alone.status, alone.actual) == (whole.status, whole.actual)


def test_the_docs_table_lists_every_control_with_its_permissions():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "audit-engine.md").read_text("utf-8")
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in docs.splitlines()
        if line.startswith("| ") and line[2:3].isdigit()
    }
    for control in CONTROLS:
        assert control.id in rows, control.id
        assert ", ".join(control.permissions) in rows[control.id], control.id


def test_listing_every_client_app_type_is_not_narrowing():
    every = ["browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"]
    policy = ca_policy("MFA", conditions__clientAppTypes=every)
    assert results(with_policies(policy))["5.2.2.2"].status == "Pass"


def test_a_phishing_resistant_strength_or_a_compliant_device_does_not_pass():
    policy = ca_policy(
        "PR",
        conditions__users__includeRoles=list(ep.ADMIN_ROLES),
        grantControls={
            "operator": "OR",
            "builtInControls": ["compliantDevice"],
            "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000004"},
        },
    )
    found = results(with_policies(policy))["5.2.2.5"]
    assert found.status == "Fail" and "instead" in found.evidence["PR"][0]
