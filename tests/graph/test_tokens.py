"""A token Graph refuses (401): one fresh sign-in and one more try, then an error."""

from __future__ import annotations

from collections import Counter

import pytest

from m365_toolkit.m365.audit.graph import endpoints as ep
from m365_toolkit.m365.audit.graph import load_snapshot

from .fakegraph import TOKEN
from .tenants import COMPLIANT_CONFIG, compliant
from .test_live import run, statuses

pytestmark = pytest.mark.anyio


async def test_a_revoked_token_is_replaced_once_and_the_run_succeeds(tmp_path, graph, graph_table):
    graph.tenant = compliant()
    graph.revoked.add(TOKEN)  # the first token is refused, as after an early revocation
    result, _ = await run(tmp_path, graph_table, COMPLIANT_CONFIG)
    assert set(statuses(result).values()) == {"Pass", "Skipped"}  # 5.1.8.1: cloud-only
    assert graph.issued == [TOKEN, f"{TOKEN}.2"]  # a new sign-in, not azure-identity's cache
    asked = Counter(graph.graph_requests())
    assert max(asked.values()) == 2  # the refused try and the one with the fresh token
    outcomes = load_snapshot(result.snapshot_file).outcomes
    assert all(o.ok for p, o in outcomes.items() if p != ep.ON_PREM_SYNC)


async def test_a_token_refused_again_is_an_error_after_one_retry(tmp_path, graph, graph_table):
    graph.tenant = compliant()
    graph.reject_every_token = True
    result, _ = await run(tmp_path, graph_table, COMPLIANT_CONFIG, controls=["5.1.2.2", "7.2.1"])
    assert statuses(result) == {"5.1.2.2": "Error", "7.2.1": "Error"}
    reason = result.evaluations[0].reason
    assert reason.startswith("401 on /policies/authorizationPolicy: Graph rejected the token")
    assert "Lifetime validation failed" in reason
    asked = Counter(graph.graph_requests())
    assert asked[ep.AUTHORIZATION_POLICY] == asked[ep.SHAREPOINT] == 2
    assert set(asked.values()) == {2}  # every path: the first try and one retry, no more
    assert len(graph.issued) >= 2
