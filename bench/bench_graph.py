"""Benchmark the Graph audit engine on a synthetic tenant served by the tests' fake Graph.

Usage (from the repo root)::

    python bench/bench_graph.py                      # 50,000 users, 2,000 groups
    python bench/bench_graph.py --users 5000 --groups 200

The fake Graph and token endpoint (``tests/graph/fakegraph.py``) run over loopback HTTPS in a
separate process, so the peak memory measured here is the engine's alone. One full run of
every control: sign-in with real azure-identity code, collection (``$top=999`` pages), the
snapshot file, evaluation and the results file. Goals: a run under 20 s, peak memory under
250 MB, the engine's import under 0.5 s.

With ``--msgraph-python PY`` (the interpreter of a throwaway virtual environment with
msgraph-sdk installed; never a dependency of this project), the same run also collects the
same v1.0 paths twice on the same fake Graph: with the engine's client, and with msgraph-sdk's
fluent request builders (``bench/_msgraph_collect.py``, in its own process); it checks that
both read the same number of objects and prints the ratio (goal: the engine at least 5x
faster), and each one's time from a cold start to its first answer. The SDK builds a typed
model of every object, about 10 ms each here (msgraph-sdk-python issue #584): at 50,000 users
its side alone takes a quarter of an hour, so measure the ratio with ``--users 5000
--groups 200``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fake Graph lives with the tests

from m365_toolkit.m365.audit.graph import endpoints as ep  # noqa: E402
from m365_toolkit.m365.audit.graph import parse_config  # noqa: E402
from m365_toolkit.m365.audit.graph.tenant import audit_tenant  # noqa: E402
from tests.graph.fakegraph import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    FakeGraph,
    Server,
    make_certificate,
)
from tests.graph.tenants import COMPLIANT_CONFIG, TENANT_ID, compliant, user  # noqa: E402

GOALS = {"run_seconds": 20.0, "peak_rss_mb": 250.0, "import_seconds": 0.5}
SDK_GOAL = 5.0
# What msgraph-sdk v1.0 can ask too: the engine's paths less the beta ones and
# deviceManagement/settings (a property, not a resource, in the SDK's model).
COMPARED = [
    ep.AUTHORIZATION_POLICY, ep.ADMIN_CONSENT_POLICY, ep.SECURITY_DEFAULTS,
    ep.AUTH_METHODS_POLICY, ep.TIMEOUT_POLICIES, ep.CONDITIONAL_ACCESS, ep.DOMAINS,
    ep.ORGANIZATION, ep.ON_PREM_SYNC, ep.DIRECTORY_ROLES, ep.SUBSCRIBED_SKUS, ep.REGISTRATION,
    ep.SHAREPOINT, ep.USERS, ep.GROUPS, ep.GA_ELIGIBLE, ep.THIRD_PARTY_STORAGE,
    ep.GROUP_SETTINGS,
]  # fmt: skip
FIRST_REQUEST = """
import sys, time
started = time.perf_counter()
import anyio
from m365_toolkit.m365.graph.auth import GraphSettings
from m365_toolkit.m365.graph.client import open_client
table = dict(zip(("tenant_id", "client_id", "client_secret", "authority_host", "graph_endpoint",
                  "ca_bundle"), sys.argv[1:7]))
async def first():
    async with open_client(GraphSettings.resolve(table)) as client:
        await client.get("/v1.0/organization?$select=id,displayName,onPremisesSyncEnabled")
anyio.run(first)
print(time.perf_counter() - started)
"""


def synthetic(users: int, groups: int) -> dict[str, Any]:
    """The compliant fixture tenant grown to ``users`` users and ``groups`` groups."""
    tenant = compliant()
    people = [
        user(
            f"u{n:06d}",
            f"user{n:06d}@contoso.com",
            assignedLicenses=[{"skuId": "06ebc4ee-1bb5-47dd-8120-11324bc54e06"}],
        )
        for n in range(users)
    ]
    tenant[ep.USERS]["value"] += people
    tenant[ep.REGISTRATION]["value"] += [
        {"id": u["id"], "userPrincipalName": u["userPrincipalName"], "isMfaCapable": n % 50 != 0,
         "isMfaRegistered": True, "isAdmin": False}
        for n, u in enumerate(people)
    ]  # fmt: skip
    tenant[ep.GROUPS]["value"] += [
        {"id": f"g{n:05d}", "displayName": f"Team {n}", "groupTypes": ["Unified"],
         "visibility": "Private", "membershipRule": None}
        for n in range(groups)
    ]  # fmt: skip
    return tenant


def _serve(users: int, groups: int, folder: str, ready: Any, stop: Any) -> None:
    cert, key = make_certificate(Path(folder))
    fake = FakeGraph(tenant=synthetic(users, groups), page_size=999)
    with Server(fake, cert, key):
        ready.put((fake.base_url, str(cert)))
        stop.wait()


def import_seconds(module: str, rounds: int = 5) -> float:
    """The median cold import time of ``module`` in fresh interpreters."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(rounds)
    ]  # fmt: skip
    return statistics.median(times)


def _objects(outcomes: dict[str, Any]) -> int:
    """Objects read: the members of each collection, one for each single resource."""
    total = 0
    for outcome in outcomes.values():
        body = outcome.body if outcome.ok else None
        if isinstance(body, dict):
            total += len(body["value"]) if isinstance(body.get("value"), list) else 1
    return total


async def engine_collection(table: dict[str, str]) -> tuple[float, int]:
    """The engine's client on the compared paths, then the admin roles' members."""
    from m365_toolkit.m365.graph.auth import GraphSettings
    from m365_toolkit.m365.graph.client import open_client

    async with open_client(GraphSettings.resolve(table)) as client:
        await client.get(ep.ORGANIZATION)  # signed in, as the SDK's side is
        started = time.perf_counter()
        first = await client.get_many(COMPARED)
        second = await client.get_many(ep.derived_paths(first))
        seconds = time.perf_counter() - started
    return seconds, _objects(first) + _objects(second)


def _sdk_run(python: str, argv: list[str]) -> dict[str, Any]:
    done = subprocess.run([python, *argv], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the msgraph-sdk collection failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def sdk_comparison(python: str, table: dict[str, str]) -> dict[str, Any]:
    """The SDK's collection once, the engine's best of three, and both cold starts (median
    of three), on the same fake Graph."""
    argv = [table[key] for key in ("graph_endpoint", "ca_bundle", "tenant_id", "client_id",
                                   "client_secret")]  # fmt: skip
    script = str(ROOT / "bench" / "_msgraph_collect.py")
    sdk_runs = [_sdk_run(python, [script, *argv, ",".join(ep.ADMIN_ROLES)])]
    ours = [anyio.run(engine_collection, table) for _ in range(3)]
    sdk_objects = {sum(run["counts"].values()) for run in sdk_runs}
    our_objects = {objects for _, objects in ours}
    if sdk_objects != our_objects:
        raise SystemExit(f"the two collections differ: SDK {sdk_objects}, engine {our_objects}")
    cold = [table[key] for key in ("tenant_id", "client_id", "client_secret", "authority_host",
                                   "graph_endpoint", "ca_bundle")]  # fmt: skip
    our_first = statistics.median(
        float(subprocess.run([sys.executable, "-c", FIRST_REQUEST, *cold], capture_output=True,
                             text=True, check=True).stdout)
        for _ in range(3)
    )  # fmt: skip
    sdk_best = min(run["collect_seconds"] for run in sdk_runs)
    our_best = min(seconds for seconds, _ in ours)
    return {
        "msgraph_sdk_version": sdk_runs[0]["version"],
        "compared_objects": our_objects.pop(),
        "engine_collect_seconds": round(our_best, 3),
        "msgraph_collect_seconds": round(sdk_best, 3),
        "msgraph_ratio": round(sdk_best / our_best, 1),
        "engine_first_answer_seconds": round(our_first, 3),
        "msgraph_first_answer_seconds": round(
            statistics.median(
                run["import_seconds"] + run["first_request_seconds"] for run in sdk_runs
            ),
            3,
        ),  # fmt: skip
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument(
        "--msgraph-python",
        help="A Python with msgraph-sdk installed: also time the same collection with it.",
    )
    args = parser.parse_args()

    context = mp.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    with tempfile.TemporaryDirectory() as folder:
        server = context.Process(target=_serve, args=(args.users, args.groups, folder, ready, stop))
        server.start()
        try:
            base_url, cert = ready.get(timeout=120)
            table = {"tenant_id": TENANT_ID, "client_id": CLIENT_ID,
                     "client_secret": CLIENT_SECRET, "authority_host": base_url,
                     "graph_endpoint": base_url, "ca_bundle": cert}  # fmt: skip
            config = parse_config({"graph": table, **COMPLIANT_CONFIG})
            started = time.perf_counter()
            run = anyio.run(lambda: audit_tenant(Path(folder) / "root", config))
            seconds = time.perf_counter() - started
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            sdk = sdk_comparison(args.msgraph_python, table) if args.msgraph_python else {}
        finally:
            stop.set()
            server.join(10)
    figures = {
        "users": args.users,
        "groups": args.groups,
        "controls": len(run.evaluations),
        "counts": run.counts(),
        "run_seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "import_seconds": round(import_seconds("m365_toolkit.m365.audit.graph"), 3),
        "client_import_seconds": round(import_seconds("m365_toolkit.m365.graph.client"), 3),
        **sdk,
    }
    met = {name: figures[name] < goal for name, goal in GOALS.items()}
    if sdk:
        met["msgraph_ratio"] = sdk["msgraph_ratio"] >= SDK_GOAL
    if args.json:
        print(json.dumps({**figures, "goals_met": met}, indent=2))
    else:
        for name, value in figures.items():
            goal = ""
            if name in GOALS:
                goal = f"  (goal < {GOALS[name]:g}: {'met' if met[name] else 'MISSED'})"
            elif name == "msgraph_ratio":
                goal = f"  (goal >= {SDK_GOAL:g}: {'met' if met[name] else 'MISSED'})"
            print(f"{name:>22}: {value}{goal}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
