"""Benchmark the Graph audit engine on a synthetic tenant served by the tests' fake Graph.

Usage (from the repo root)::

    python bench/bench_graph.py                      # 50,000 users, 2,000 groups
    python bench/bench_graph.py --users 5000 --groups 200

The fake Graph and token endpoint (``tests/graph/fakegraph.py``) run over loopback HTTPS in a
separate process, so the peak memory measured here is the engine's alone. One full run of
every control: sign-in with real azure-identity code, collection (``$top=999`` pages), the
snapshot file, evaluation and the results file. Goals: a run under 20 s, peak memory under
250 MB, the engine's import under 0.5 s. The msgraph-sdk comparison is not measured here
(it is not installed in this environment).
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


def synthetic(users: int, groups: int) -> dict[str, Any]:
    """The compliant fixture tenant grown to ``users`` users and ``groups`` groups."""
    tenant = compliant()
    people = [
        user(f"u{n:06d}", f"user{n:06d}@contoso.com", assignedLicenses=[{"skuId": "sku-e5"}])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
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
        finally:
            stop.set()
            server.join(10)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "users": args.users,
        "groups": args.groups,
        "controls": len(run.evaluations),
        "counts": run.counts(),
        "run_seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "import_seconds": round(import_seconds("m365_toolkit.m365.audit.graph"), 3),
        "client_import_seconds": round(import_seconds("m365_toolkit.m365.graph.client"), 3),
    }
    met = {name: figures[name] < goal for name, goal in GOALS.items()}
    if args.json:
        print(json.dumps({**figures, "goals_met": met}, indent=2))
    else:
        for name, value in figures.items():
            goal = (
                f"  (goal < {GOALS[name]:g}: {'met' if met[name] else 'MISSED'})"
                if name in GOALS
                else ""
            )
            print(f"{name:>22}: {value}{goal}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
