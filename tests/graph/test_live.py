"""Whole runs against the fake Graph over HTTPS, signing in with real azure-identity code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from m365_toolkit.m365.audit import compliance_status
from m365_toolkit.m365.audit.graph import endpoints as ep
from m365_toolkit.m365.audit.graph import (
    evaluate_snapshot,
    load_snapshot,
    parse_config,
    run_graph_audit,
)
from m365_toolkit.m365.graph import GraphError, Outcome
from m365_toolkit.m365.graph.auth import GraphSettings
from m365_toolkit.m365.graph.client import Retry, open_client

from .fakegraph import CLIENT_SECRET, TOKEN, ConnectProxy, Reply, make_certificate
from .tenants import COMPLIANT_CONFIG, compliant, noncompliant

pytestmark = pytest.mark.anyio


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def run(root: Path, table, audit=None, *, controls=None, sleep=None, **client):
    config = parse_config({"graph": table, **(audit or {})})
    settings = GraphSettings.resolve(config.graph)
    steps = []

    async def progress(step):
        steps.append(step)

    options = {"sleep": Sleeps() if sleep is None else sleep, "jitter": lambda: 0.0, **client}
    async with open_client(settings, **options) as graph_client:
        result = await run_graph_audit(
            root,
            graph_client,
            config,
            controls=controls,
            connection=settings.describe(),
            progress=progress,
        )
    return result, steps


def statuses(result):
    return {e.control.id: e.status for e in result.evaluations}


async def test_a_compliant_tenant_passes_end_to_end_and_status_reads_the_results(
    tmp_path, graph, graph_table
):
    graph.tenant = compliant()
    result, steps = await run(tmp_path, graph_table, COMPLIANT_CONFIG)
    assert set(statuses(result).values()) == {"Pass", "Skipped"}  # 5.1.8.1: cloud-only
    assert result.pass_rate() == 100.0
    assert result.results_file.parent == tmp_path / "output" / "reports" / "security"
    status = compliance_status(tmp_path)
    assert status.results_file == result.results_file
    assert status.summary.total == len(result.evaluations)
    per_control = [s for s in steps if "control_id" in s.data]
    assert [s.data["control_id"] for s in per_control] == [e.control.id for e in result.evaluations]
    assert set(per_control[0].data) >= {"control_id", "status", "severity", "expected", "actual"}
    assert steps[-1].data["counts"]["Pass"] == len(result.evaluations) - 1


async def test_every_url_is_asked_once_and_the_token_once(tmp_path, graph, graph_table):
    graph.tenant = compliant()
    await run(tmp_path, graph_table, COMPLIANT_CONFIG)
    asked = graph.graph_requests()
    assert len(asked) == len(set(asked))
    assert ep.role_members_path("role-ga") in asked
    assert ep.role_members_path("role-reader") not in asked  # not a privileged role
    assert len(graph.token_requests) == 1
    assert graph.token_requests[0]["scope"] == [f"{graph.base_url}/.default"]


async def test_no_secret_or_token_reaches_the_snapshot_or_the_results(tmp_path, graph, graph_table):
    graph.tenant = compliant()
    result, steps = await run(tmp_path, graph_table, COMPLIANT_CONFIG)
    for path in (result.snapshot_file, result.results_file):
        text = path.read_text(encoding="utf-8")
        assert CLIENT_SECRET not in text and TOKEN not in text
    assert CLIENT_SECRET not in repr(steps) and CLIENT_SECRET not in repr(result)
    assert load_snapshot(result.snapshot_file).connection["sign_in_with"] == "secret"


async def test_offline_re_evaluation_gives_the_live_results(tmp_path, graph, graph_table):
    graph.tenant = noncompliant()
    live, _ = await run(tmp_path, graph_table)
    offline = evaluate_snapshot(load_snapshot(live.snapshot_file), parse_config({}))
    assert [e.to_result("t") for e in offline.evaluations] == [
        e.to_result("t") for e in live.evaluations
    ]
    assert set(statuses(live).values()) == {"Fail"}


async def test_report_only_conditional_access_fails_over_http(tmp_path, graph, graph_table):
    tenant = compliant()
    for policy in tenant[ep.CONDITIONAL_ACCESS]["value"]:
        policy["state"] = "enabledForReportingButNotEnforced"
    graph.tenant = tenant
    result, _ = await run(tmp_path, graph_table, COMPLIANT_CONFIG)
    found = statuses(result)
    assert {found[c] for c in ("5.2.2.1", "5.2.2.2", "5.2.2.3", "5.2.2.12")} == {"Fail"}


async def test_break_glass_exclusions_pass_only_when_declared(tmp_path, graph, graph_table):
    graph.tenant = compliant()  # "MFA all users" excludes the break-glass account
    declared, _ = await run(tmp_path, graph_table, COMPLIANT_CONFIG, controls=["5.2.2.2"])
    undeclared, _ = await run(tmp_path, graph_table, controls=["5.2.2.2"])
    assert statuses(declared) == {"5.2.2.2": "Pass"}
    assert statuses(undeclared) == {"5.2.2.2": "Fail"}


async def test_an_unlicensed_tenant_is_skipped_never_failed(tmp_path, graph, graph_table):
    tenant = compliant()
    tenant[ep.CONDITIONAL_ACCESS] = Outcome(
        ep.CONDITIONAL_ACCESS,
        403,
        error="HTTP 403 Forbidden: Tenant is not licensed for AAD Premium",
    )
    tenant[ep.REGISTRATION] = Outcome(
        ep.REGISTRATION,
        403,
        error="HTTP 403 Authentication_RequestFromNonPremiumTenant: "
        "Calling principal does not have required MSGraph permissions AuditLog.Read.All",
    )
    graph.tenant = tenant
    result, _ = await run(tmp_path, graph_table, COMPLIANT_CONFIG)
    found = statuses(result)
    assert "Fail" not in found.values()
    skipped = [e for e in result.evaluations if e.status == "Skipped" and e.control.id != "5.1.8.1"]
    assert {e.control.id for e in skipped} == {
        "5.2.2.1",
        "5.2.2.2",
        "5.2.2.3",
        "5.2.2.4",
        "5.2.2.5",
        "5.2.2.6",
        "5.2.2.7",
        "5.2.2.12",
        "5.2.3.4",
    }
    snapshot = json.loads(result.snapshot_file.read_text(encoding="utf-8"))
    assert snapshot["endpoints"][ep.CONDITIONAL_ACCESS]["status"] == 403


async def test_429_with_retry_after_and_503_are_retried(tmp_path, graph, graph_table):
    graph.tenant = compliant()
    graph.scripts[ep.AUTHORIZATION_POLICY] = [Reply(429, {"Retry-After": "7"}), Reply(503)]
    sleeps = Sleeps()
    result, _ = await run(
        tmp_path, graph_table, COMPLIANT_CONFIG, controls=["5.1.2.2"], sleep=sleeps
    )
    assert statuses(result) == {"5.1.2.2": "Pass"}
    assert sleeps == [7.0, 1.0]  # Retry-After, then the second back-off (0.5 * 2) without jitter
    assert graph.graph_requests().count(ep.AUTHORIZATION_POLICY) == 3
    assert load_snapshot(result.snapshot_file).outcomes[ep.AUTHORIZATION_POLICY].requests == 3


async def test_throttling_beyond_the_caps_is_an_error_recorded_per_endpoint(
    tmp_path, graph, graph_table
):
    graph.tenant = compliant()
    graph.scripts[ep.SHAREPOINT] = [Reply(429, {"Retry-After": "5"}) for _ in range(10)]
    graph.scripts[ep.DOMAINS] = [Reply(503, {"Retry-After": "500"})]
    sleeps = Sleeps()
    result, _ = await run(
        tmp_path,
        graph_table,
        controls=["7.2.1", "1.3.1"],
        sleep=sleeps,
        retry=Retry(attempts=3, total_wait=60),
    )
    assert statuses(result) == {"1.3.1": "Error", "7.2.1": "Error"}
    assert graph.graph_requests().count(ep.SHAREPOINT) == 3  # capped attempts
    assert graph.graph_requests().count(ep.DOMAINS) == 1  # a wait beyond the cap is not made
    assert sorted(sleeps) == [5.0, 5.0]
    outcome = load_snapshot(result.snapshot_file).outcomes[ep.SHAREPOINT]
    assert outcome.status == 429 and outcome.requests == 3


async def test_many_pages_are_followed_and_merged(tmp_path, graph, graph_table):
    tenant = compliant()
    tenant[ep.USERS]["value"] += [
        {
            "id": f"x-{n}",
            "userPrincipalName": f"x{n}@contoso.com",
            "userType": "Member",
            "accountEnabled": True,
            "assignedLicenses": [],
        }
        for n in range(30)
    ]
    tenant[ep.REGISTRATION]["value"] += [
        {"id": f"x-{n}", "isMfaCapable": n != 29} for n in range(30)
    ]
    graph.tenant, graph.page_size = tenant, 4
    result, _ = await run(tmp_path, graph_table, COMPLIANT_CONFIG, controls=["5.2.3.4"])
    [evaluation] = result.evaluations
    assert evaluation.status == "Fail"
    assert evaluation.actual == {"members_checked": 40, "not_mfa_capable": 1}
    users = load_snapshot(result.snapshot_file).outcomes[ep.USERS]
    assert users.pages == 11 and len(users.body["value"]) == 43
    asked = graph.graph_requests()
    assert len(asked) == len(set(asked))


async def test_a_wrong_secret_is_a_graph_error_that_does_not_show_the_secret(
    tmp_path, graph, graph_table
):
    graph.tenant = compliant()
    table = {**graph_table, "client_secret": "wrong-" + CLIENT_SECRET}
    with pytest.raises(GraphError) as caught:
        await run(tmp_path, table, controls=["5.1.2.2"])
    assert "AADSTS7000215" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)
    assert graph.graph_requests() == []


async def test_azure_identity_variables_and_the_ca_bundle_variable_are_honoured(
    tmp_path, graph, graph_table, monkeypatch, certificate
):
    graph.tenant = compliant()
    monkeypatch.setenv("AZURE_TENANT_ID", graph_table["tenant_id"])
    monkeypatch.setenv("AZURE_CLIENT_ID", graph_table["client_id"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", graph.base_url)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    result, _ = await run(tmp_path, {"graph_endpoint": graph.base_url}, controls=["5.1.2.3"])
    assert statuses(result) == {"5.1.2.3": "Pass"}


async def test_a_certificate_credential_signs_in(tmp_path, graph, graph_table, certificate):
    cert, key = make_certificate(tmp_path, rsa_key=True)
    pem = tmp_path / "app.pem"
    pem.write_bytes(key.read_bytes() + cert.read_bytes())
    table = {k: v for k, v in graph_table.items() if k != "client_secret"}
    graph.tenant = compliant()
    result, _ = await run(tmp_path, {**table, "certificate_path": str(pem)}, controls=["5.1.2.3"])
    assert statuses(result) == {"5.1.2.3": "Pass"}
    [form] = graph.token_requests
    assert "client_secret" not in form and form["client_assertion"]
    assert load_snapshot(result.snapshot_file).connection["sign_in_with"] == "certificate"


async def test_default_azure_credential_uses_the_environment(
    tmp_path, graph, graph_table, monkeypatch
):
    monkeypatch.setenv("AZURE_TENANT_ID", graph_table["tenant_id"])
    monkeypatch.setenv("AZURE_CLIENT_ID", graph_table["client_id"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", graph.base_url)
    graph.tenant = compliant()
    table = {
        "credential": "default",
        "graph_endpoint": graph.base_url,
        "ca_bundle": graph_table["ca_bundle"],
    }
    result, _ = await run(tmp_path, table, controls=["5.1.2.3"])
    assert statuses(result) == {"5.1.2.3": "Pass"}
    assert len(graph.token_requests) == 1


async def test_https_proxy_carries_the_token_and_the_graph_requests(
    tmp_path, graph, graph_table, monkeypatch
):
    graph.tenant = compliant()
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        result, _ = await run(tmp_path, graph_table, controls=["5.1.2.3"])
    assert statuses(result) == {"5.1.2.3": "Pass"}
    host = graph.base_url.removeprefix("https://")
    assert proxy.tunnels and set(proxy.tunnels) == {host}
    assert len(proxy.tunnels) >= 2  # one for azure-identity (requests), one for httpx2
