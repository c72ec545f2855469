"""Benchmark what session tracking adds to an MCP tool call, in one run.

Usage (from the repo root)::

    python bench/bench_mcp.py                 # 9 rounds of 500 calls per tool
    python bench/bench_mcp.py --calls 100     # a quick try

Builds the real server (``build_server``) on a temporary SQLite store pre-filled with 10,000
sessions, adds two trivial tools to that same server, one tracked by the server's real
``SessionTracking`` middleware with one progress step like the toolkit's tools and one
identical but untracked, and calls
both through the SDK's in-process ``Client``. The difference of their times per call is what
tracking costs. Also times the same lifecycle called directly on a ``SessionManager``, and the
real ``session_statistics`` and ``list_sessions`` tools, for context. Runs are interleaved round
by round: each time is the best of its rounds, followed by the median in parentheses.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
from bench_sessions import Spec, generate
from mcp import Client
from mcp.server.mcpserver import MCPServer

from m365_toolkit import SessionManager
from m365_toolkit._util.system import utc_now
from m365_toolkit.m365.progress import Step
from m365_toolkit.mcp_server.server import (
    READ_ONLY,
    AppState,
    Ctx,
    SessionTracking,
    TrackedTool,
    build_server,
    current_call,
)

STORED = 10_000
UNTRACKED_ID = "00000000-0000-4000-8000-000000000000"  # same shape as a real session id
COLUMNS = "{:<34} {:>9} {:>9} {:>15}  {:<8} {}"


# -- the probe tools -------------------------------------------------------------------------


def add_probes(server: MCPServer[AppState]) -> None:
    """Two trivial tools on the real server: one tracked like the toolkit's, one not."""

    @server.tool(annotations=READ_ONLY)
    async def probe_tracked(ctx: Ctx, value: int = 0) -> dict[str, Any]:
        """Echo ``value``, tracked as a session with one progress event."""
        call = current_call()
        await call.step(Step("Probing", done=0, total=1))
        return {"session_id": call.session_id, "value": value}

    [tracking] = [m for m in server.middleware if isinstance(m, SessionTracking)]
    tracking.tools["probe_tracked"] = TrackedTool.of(probe_tracked, "session_query")

    @server.tool(annotations=READ_ONLY)
    async def probe_untracked(ctx: Ctx, value: int = 0) -> dict[str, Any]:
        """Echo ``value``, untracked; the same progress report."""
        await ctx.report_progress(0, 1, "Probing")
        return {"session_id": UNTRACKED_ID, "value": value}


def direct_lifecycle(manager: SessionManager) -> None:
    """What the tracking middleware and one step do to the store, without MCP around it."""
    metadata = {"tool": "probe_direct", "arguments": {"value": 1}, "via": "mcp"}
    session = manager.create_session("session_query", metadata=metadata)
    session.add_event("progress", "Probing")
    session.complete("success")


# -- timing ----------------------------------------------------------------------------------


async def per_call(client: Client, tool: str, arguments: dict[str, Any], count: int) -> float:
    """Seconds per call of ``count`` sequential calls of ``tool``."""
    gc.collect()
    began = time.perf_counter()
    for _ in range(count):
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
    return (time.perf_counter() - began) / count


async def interleave(
    runs: dict[str, Callable[[], Awaitable[float]]], rounds: int
) -> dict[str, list[float]]:
    """Each run once per round, in turn, the order reversed every other round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            times[name].append(await runs[name]())
    return times


def ms(values: list[float]) -> str:
    """Best (median) of seconds, as milliseconds."""
    return f"{min(values) * 1e3:.3f} ({statistics.median(values) * 1e3:.3f})"


def line(label: str, a: str, b: str, diff: str, goal: str, ok: bool | None) -> str:
    """One row of the table; ``ok`` None leaves the verdict empty."""
    verdict = "" if ok is None else ("ok" if ok else "MISS")
    return COLUMNS.format(label, a, b, diff, goal, verdict).rstrip()


def difference(a: list[float], b: list[float]) -> tuple[float, str]:
    """Best A - best B in ms and, as text, with the median of the per-round differences."""
    best = (min(a) - min(b)) * 1e3
    paired = statistics.median(x - y for x, y in zip(a, b, strict=True)) * 1e3
    return best, f"{best:.3f} ({paired:.3f})"


# -- run -------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, root: Path, store: Path) -> list[str]:
    """The queries on the pre-filled store first, then the probes; the table rows."""
    server = build_server(root=root, store=store)
    add_probes(server)
    async with Client(server) as client:
        queries = await query_times(client, args)
        grown = _count(store)
        probes = await probe_times(client, store, args)
    times = probes | queries
    overhead, overhead_text = difference(times["tracked"], times["untracked"])
    base = times["baseline"]
    return [
        line("", "A", "B", "A-B (median)", "goal", None),
        line("1 ms/call, tracked vs untracked", f"{min(times['tracked']) * 1e3:.3f}",
             f"{min(times['untracked']) * 1e3:.3f}", overhead_text, "< 2 ms", overhead < 2.0),
        f"    tracked {ms(times['tracked'])}, untracked {ms(times['untracked'])} ms/call",
        line("  same lifecycle direct, ms", f"{min(times['direct']) * 1e3:.3f}", "", "",
             "", None),
        line("2 session_statistics(days=30) ms", f"{min(times['stats']) * 1e3:.3f}",
             f"{min(base) * 1e3:.3f}", difference(times["stats"], base)[1], "", None),
        line("2 list_sessions(limit=50) ms", f"{min(times['list']) * 1e3:.3f}",
             f"{min(base) * 1e3:.3f}", difference(times["list"], base)[1], "", None),
        f"    (store: {STORED:,} sessions, {grown:,} after the calls of 2)",
    ]  # fmt: skip


async def query_times(client: Client, args: argparse.Namespace) -> dict[str, list[float]]:
    """Row 2: the real query tools, and a bare MCP round trip as their baseline."""
    count, stats, recent = args.query_calls, {"days": 30}, {"limit": 50}
    await per_call(client, "session_statistics", stats, 2)  # warm-up
    await per_call(client, "list_sessions", recent, 2)
    await per_call(client, "probe_untracked", {"value": 1}, 20)
    return await interleave(
        {
            "stats": lambda: per_call(client, "session_statistics", stats, count),
            "list": lambda: per_call(client, "list_sessions", recent, count),
            "baseline": lambda: per_call(client, "probe_untracked", {"value": 1}, count),
        },
        args.rounds,
    )


async def probe_times(
    client: Client, store: Path, args: argparse.Namespace
) -> dict[str, list[float]]:
    """Row 1: the tracked and untracked probes, and the lifecycle called directly."""
    count = args.calls
    with SessionManager(store) as manager:

        async def direct() -> float:
            gc.collect()
            began = time.perf_counter()
            for _ in range(count):
                direct_lifecycle(manager)
            return (time.perf_counter() - began) / count

        for _ in range(20):  # warm-up: connections, caches, the SDK's code paths
            direct_lifecycle(manager)
        await per_call(client, "probe_tracked", {"value": 1}, 20)
        await per_call(client, "probe_untracked", {"value": 1}, 20)
        return await interleave(
            {
                "tracked": lambda: per_call(client, "probe_tracked", {"value": 1}, count),
                "untracked": lambda: per_call(client, "probe_untracked", {"value": 1}, count),
                "direct": direct,
            },
            args.rounds,
        )


def _count(store: Path) -> int:
    with closing(sqlite3.connect(store)) as conn:
        found: int = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    return found


def run(args: argparse.Namespace) -> None:
    print(
        f"bench_mcp: sqlite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, "
        f"mcp {version('mcp')}; {args.calls} probe calls per tool and round, best of "
        f"{args.rounds} interleaved rounds"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root, store = Path(tmp), Path(tmp) / "sessions.db"
        began = time.perf_counter()
        generate(store, Spec(STORED), utc_now().replace(microsecond=0))
        print(
            f"store: temp SQLite file, pre-filled with {STORED:,} sessions "
            f"(over 90 days, 5 events each) in {time.perf_counter() - began:.1f} s"
        )
        for row in anyio.run(measure, args, root, store):
            print(row)
    print(
        "1: two trivial tools added to the real server, called in turn through the in-process\n"
        "Client: A is tracked by the middleware with one step, B is the same body untracked (same\n"
        "progress report, same result shape). A-B = tracking overhead per call: create session\n"
        "+ start event, 1 progress event, complete, each committed (WAL, synchronous=NORMAL);\n"
        "its median is that of the per-round differences. 'direct' = the same lifecycle called\n"
        "on a SessionManager, no MCP. 2 (run before 1): the real tools, "
        f"{args.query_calls} calls per round;\n"
        "B = the untracked probe (a bare MCP round trip), A-B = the tool's work + tracking.\n"
        "Times are per call: best of the rounds, median in parentheses."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per measure")
    parser.add_argument("--calls", type=int, default=500, help="probe calls per tool and round")
    parser.add_argument("--query-calls", type=int, default=50, help="query calls per round")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
