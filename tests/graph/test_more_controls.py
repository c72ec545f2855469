"""The controls added later, as pure functions over snapshot outcomes: PIM in 1.1.3, hire
dates in 5.2.3.4, the org settings, Authenticator context, admin sessions."""

from __future__ import annotations

import json
from datetime import date

import pytest

from m365_toolkit.m365.audit.graph import endpoints as ep
from m365_toolkit.m365.audit.graph import evaluate, parse_config
from m365_toolkit.m365.graph import Outcome

from .more_fixtures import NEW_HIRE_UPN, PIM_USER_UPN, eligibility, feature, timeout_policy
from .tenants import COMPLIANT_CONFIG, compliant, noncompliant, outcomes, user

TODAY = date(2026, 12, 1)


def results(tenant, config=None, today=TODAY):
    found = evaluate(outcomes(tenant), parse_config(config or {}), today=today)
    return {e.control.id: e for e in found}


def test_pim_eligible_global_admins_are_counted_once_and_named():
    found = results(compliant())["1.1.3"]
    assert found.status == "Pass"
    assert found.actual == {"global_admins": 3, "active": 2, "eligible_only": 1}
    assert found.evidence["eligible"] == [PIM_USER_UPN]
    assert found.evidence["eligible_non_user_principals"] == ["grp-pim"]


def test_too_many_global_admins_through_pim_fail():
    tenant = compliant()
    extra = [user(f"pim-x{n}", f"pimx{n}@contoso.com") for n in range(3)]
    tenant[ep.USERS]["value"] += extra
    tenant[ep.GA_ELIGIBLE]["value"] += [eligibility(u["id"], 10 + n) for n, u in enumerate(extra)]
    found = results(tenant)["1.1.3"]
    assert found.status == "Fail" and found.actual["global_admins"] == 6


def test_without_pim_the_count_rests_on_active_members_and_says_so():
    tenant = compliant()
    tenant[ep.GA_ELIGIBLE] = Outcome(
        ep.GA_ELIGIBLE, 403, error="HTTP 403 AadPremiumLicenseRequired: needs Entra ID P2"
    )
    found = results(tenant)["1.1.3"]
    assert found.status == "Pass" and found.actual["global_admins"] == 2
    assert "AadPremiumLicenseRequired" in found.evidence["eligible_not_read"]


def test_a_new_hire_who_has_not_started_is_not_counted_but_named():
    found = results(compliant())["5.2.3.4"]
    assert found.status == "Pass"
    assert found.evidence["not_started_yet"] == [NEW_HIRE_UPN]


def test_once_the_hire_date_has_passed_the_new_hire_counts():
    found = results(compliant(), today=date(2026, 12, 20))["5.2.3.4"]
    assert found.status == "Fail" and found.evidence["not_mfa_capable"] == [NEW_HIRE_UPN]


def test_a_far_future_hire_date_does_not_hide_an_account():
    tenant = compliant()
    tenant[ep.USERS]["value"][-1]["employeeHireDate"] = "2099-01-01T00:00:00Z"
    found = results(tenant)["5.2.3.4"]
    assert found.status == "Fail"
    assert found.evidence["implausible_hire_dates_counted"] == [NEW_HIRE_UPN]


def test_a_malformed_hire_date_counts_the_account():
    tenant = compliant()
    tenant[ep.USERS]["value"][-1]["employeeHireDate"] = "next spring"
    assert results(tenant)["5.2.3.4"].status == "Fail"


@pytest.mark.parametrize(
    ("idle", "status"),
    [("03:00:00", "Pass"), ("00:15:00", "Pass"), ("03:00:01", "Fail"), ("1.00:00:00", "Fail")],
)
def test_idle_timeout_durations(idle, status):
    tenant = compliant()
    tenant[ep.TIMEOUT_POLICIES] = {"value": [timeout_policy(idle)]}
    assert results(tenant)["1.3.2"].status == status


def test_no_default_timeout_policy_fails_and_a_broken_definition_is_an_error():
    tenant = compliant()
    tenant[ep.TIMEOUT_POLICIES] = {"value": []}
    assert results(tenant)["1.3.2"].status == "Fail"
    broken = timeout_policy("01:00:00")
    broken["definition"] = ["{not json"]
    tenant[ep.TIMEOUT_POLICIES] = {"value": [broken]}
    found = results(tenant)["1.3.2"]
    assert found.status == "Error" and "JSONDecodeError" in found.reason


def test_a_non_default_timeout_policy_is_not_read():
    policy = dict(timeout_policy("01:00:00"), isOrganizationDefault=False)
    tenant = compliant()
    tenant[ep.TIMEOUT_POLICIES] = {"value": [policy]}
    assert results(tenant)["1.3.2"].status == "Fail"


def test_user_owned_apps_need_both_switches_off():
    tenant = noncompliant()
    assert results(tenant)["1.3.4"].actual == {
        "isOfficeStoreEnabled": False,
        "isAppAndServicesTrialEnabled": True,
    }


def test_an_enabled_third_party_storage_principal_fails():
    tenant = compliant()
    tenant[ep.THIRD_PARTY_STORAGE]["value"][0]["accountEnabled"] = True
    assert results(tenant)["1.3.7"].status == "Fail"


def test_beta_endpoints_refused_skip_naming_the_permission():
    tenant = compliant()
    tenant[ep.FORMS] = Outcome(ep.FORMS, 403, error="HTTP 403 Forbidden: Insufficient privileges")
    found = results(tenant)["1.3.5"]
    assert found.status == "Skipped" and "OrgSettings-Forms.Read.All" in found.reason


def test_banned_password_list_enforced_but_empty_fails():
    tenant = compliant()
    values = tenant[ep.GROUP_SETTINGS]["value"][0]["values"]
    next(v for v in values if v["name"] == "BannedPasswordList")["value"] = ""
    found = results(tenant)["5.2.3.2"]
    assert found.status == "Fail" and found.actual["banned_words"] == 0
    tenant[ep.GROUP_SETTINGS] = {"value": []}
    assert "absent" in results(tenant)["5.2.3.2"].actual["password_rule_settings"]


def test_authenticator_context_for_one_group_only_fails_and_disabled_is_not_applicable():
    tenant = compliant()
    methods = tenant[ep.AUTH_METHODS_POLICY]["authenticationMethodConfigurations"]
    methods[-1]["featureSettings"]["displayAppInformationRequiredState"] = feature(
        "enabled", "grp-pilot"
    )
    found = results(tenant)["5.2.3.1"]
    assert found.status == "Fail" and "not all users" in found.evidence["problems"][0]
    methods[-1]["state"] = "disabled"
    assert results(tenant)["5.2.3.1"].status == "Skipped"


@pytest.mark.parametrize(
    ("frequency", "status"),
    [
        (
            {"isEnabled": True, "type": "hours", "value": 4, "frequencyInterval": "timeBased"},
            "Pass",
        ),
        ({"isEnabled": True, "frequencyInterval": "everyTime"}, "Pass"),
        (
            {"isEnabled": True, "type": "hours", "value": 8, "frequencyInterval": "timeBased"},
            "Fail",
        ),
        ({"isEnabled": True, "type": "days", "value": 1, "frequencyInterval": "timeBased"}, "Fail"),
        ({"isEnabled": False, "type": "hours", "value": 1}, "Fail"),
    ],
)
def test_admin_sign_in_frequency(frequency, status):
    tenant = compliant()
    policy = next(
        p for p in tenant[ep.CONDITIONAL_ACCESS]["value"] if p["displayName"] == "Admin sessions"
    )
    policy["sessionControls"]["signInFrequency"] = frequency
    assert results(tenant, COMPLIANT_CONFIG)["5.2.2.4"].status == status


def test_a_persistent_browser_fails_the_admin_session_rule():
    tenant = compliant()
    policy = next(
        p for p in tenant[ep.CONDITIONAL_ACCESS]["value"] if p["displayName"] == "Admin sessions"
    )
    policy["sessionControls"]["persistentBrowser"]["mode"] = "always"
    found = results(tenant, COMPLIANT_CONFIG)["5.2.2.4"]
    assert found.status == "Fail"
    assert "persistent browser" in json.dumps(found.evidence)


def test_a_403_names_the_refused_endpoint_and_its_permission():
    tenant = compliant()
    tenant[ep.SUBSCRIBED_SKUS] = Outcome(
        ep.SUBSCRIBED_SKUS,
        403,
        error="HTTP 403 Authorization_RequestDenied: Insufficient privileges",
    )
    reason = results(tenant)["1.1.4"].reason
    assert reason.startswith("Skipped: 403 on /subscribedSkus: needs Organization.Read.All.")
    assert "Insufficient privileges" in reason
    tenant[ep.CONDITIONAL_ACCESS] = Outcome(
        ep.CONDITIONAL_ACCESS, 403, error="HTTP 403 AccessDenied: Insufficient privileges"
    )
    assert results(tenant)["5.2.2.2"].reason.startswith(
        "Skipped: 403 on /identity/conditionalAccess/policies: needs Policy.Read.All "
        "(or the tenant lacks Entra ID P1)."
    )


def test_every_declared_endpoint_has_its_permission_among_the_controls():
    from m365_toolkit.m365.audit.graph import CONTROLS

    for control in CONTROLS:
        for path in control.endpoints:
            assert ep.permission_for(path) in control.permissions, (control.id, path)
    assert ep.permission_for(ep.role_members_path("x")) == "RoleManagement.Read.Directory"
