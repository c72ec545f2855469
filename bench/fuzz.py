"""Fuzz every input surface with many random inputs; count clean refusals, acceptances and
crashes, and stores changed by an input they refused.

Usage (from the repo root)::

    python bench/fuzz.py                          # 100,000 inputs per surface
    python bench/fuzz.py --inputs 2000            # a quick try
    python bench/fuzz.py --surface import-json --store sqlite --seed 7

Surfaces:

- ``import-json``, ``import-jsonl``, ``import-costs``: a valid file mutated (a field set to a
  hostile value, bytes flipped, inserted or cut, the file truncated), imported into a store
  (``--store memory``, ``sqlite``, ``json`` or a ``postgresql://`` URL). A refused import
  must leave the store's counts as they were.
- ``cli``: a random command of the CLI with a random option value, through click's runner.
- ``sqlite-bits``: a small SQLite store with random bits flipped, then read (history, scan,
  statistics, get of every session). A read must never change the file.
- ``mcp``: random ``tools/call`` requests over the MCP SDK's in-process client
  (bench/fuzz_mcp.py); "changed" counts remediations applied without both JSON booleans.

A "crash" is any exception that is not a toolkit error (``SessionsError``), or a toolkit
error whose message spans several lines. The first few of each are printed.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from fuzz_mcp import run_mcp

from m365_toolkit import SessionManager, SessionQuery, open_store
from m365_toolkit.cli import cli
from m365_toolkit.data.transfer import import_file
from m365_toolkit.errors import DamagedRecordWarning, SessionsError

START = "2026-01-01T00:00:00+00:00"
SESSION: dict[str, Any] = {
    "session_id": "s", "user": "alice", "operation_type": "security_audit",
    "metadata": {"tenant": "contoso", "controls": [1, 2, {"id": "1.1"}]}, "start_time": START,
    "end_time": "2026-01-01T00:01:00+00:00", "status": "success", "duration_seconds": 60.0,
    "host": "h", "pid": 12,
    "events": [
        {"timestamp": START, "type": "start", "description": "d", "data": {}, "seq": 1},
        {"timestamp": START, "type": "step", "description": "e", "data": {"k": "v"}, "seq": 2},
    ],
}  # fmt: skip
COST: dict[str, Any] = {
    "timestamp": START, "session_id": "s", "user": "alice", "model": "gpt-5",
    "request_type": "chat", "tokens": {"input": 10, "output": 5, "cached_input": 2},
    "cost": {"input": 0.1, "output": 0.2}, "price_source": "x", "metadata": {"purpose": "p"},
}  # fmt: skip
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 0.5,
    -0.0, 1e308, 1e-320, math.nan, math.inf, -math.inf, "", " ", "x", "\x00", "\ud800",
    "\udfff", "é", "[/]", "\x1b[2J", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999", "2026-02-30T00:00:00", "NaN",
    "Infinity", "-1", "1e999", [], [1], [[[]]], {}, {"a": None}, "success", "active", "x" * 300,
]  # fmt: skip


@dataclass
class Tally:
    """What one surface did with its inputs."""

    inputs: int = 0
    rejected: int = 0
    accepted: int = 0
    crashes: int = 0
    changed: int = 0
    examples: list[str] = field(default_factory=list)

    kinds: dict[str, int] = field(default_factory=dict)

    def crash(self, what: str) -> None:
        self.crashes += 1
        kind = what.strip().splitlines()[-1][:160] if what.strip() else "?"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if self.kinds[kind] == 1 and len(self.examples) < 10:  # one example of each kind
            self.examples.append(what)


def clean(error: SessionsError) -> bool:
    message = str(error)
    return bool(message) and "\n" not in message


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if len(prefix) > 6:
        return found
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _hostile(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.6 or depth > 2:
        return copy.deepcopy(rng.choice(HOSTILE))  # a later mutation must not change HOSTILE
    if roll < 0.7:
        return rng.randint(-(2**70), 2**70)
    if roll < 0.8:
        return "".join(chr(rng.randrange(0, 0x11000)) for _ in range(rng.randint(1, 6)))
    if roll < 0.9:
        return [_hostile(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.95:  # deep nesting
        value: Any = 1
        for _ in range(rng.choice([50, 99, 100, 101, 500, 900])):
            value = {"a": value}
        return value
    return {str(_hostile(rng, depth + 1))[:8]: _hostile(rng, depth + 1)}


def mutate_record(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    mutated = json.loads(json.dumps(record))
    for _ in range(rng.randint(1, 3)):
        paths = _paths(mutated)
        path = rng.choice(paths)
        target: Any = mutated
        for part in path[:-1]:
            target = target[part]
        if rng.random() < 0.1 and isinstance(target, dict):
            target.pop(path[-1], None)
        else:
            target[path[-1]] = _hostile(rng)
    return mutated


def mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        position = rng.randrange(len(data)) if data else 0
        if kind < 0.4 and data:
            data[position] = rng.randrange(256)
        elif kind < 0.6:
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif kind < 0.8 and data:
            del data[position : position + rng.randint(1, 8)]
        elif kind < 0.9:
            data = data[: rng.randrange(len(data) + 1)]
        else:
            data = bytearray(bytes(data).decode("utf-8", "replace").encode("utf-16"))
    return bytes(data)


def import_input(fmt: str, rng: random.Random, number: int) -> bytes:
    template = COST if fmt == "costs" else SESSION
    records = []
    for index in range(rng.randint(1, 3)):
        record = {**json.loads(json.dumps(template))}
        record["session_id"] = f"f{number}-{index}"
        if rng.random() < 0.7:
            record = mutate_record(record, rng)
        records.append(record)
    if rng.random() < 0.005:  # nested far beyond any parser's stack
        depth = rng.choice([5_000, 100_000])
        return b"[" + b'{"a":' * depth + b"1" + b"}" * depth + b"]"
    if fmt == "jsonl":
        body = "\n".join(json.dumps(r, ensure_ascii=rng.random() < 0.5) for r in records).encode(
            "utf-8", "surrogatepass"
        )
    else:
        body = json.dumps(records, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    return mutate_bytes(body, rng) if rng.random() < 0.4 else body


def run_import(fmt: str, location: str, inputs: int, rng: random.Random, work: Path) -> Tally:
    tally = Tally()
    source = work / f"input.{'jsonl' if fmt == 'jsonl' else 'json'}"
    store = open_store(location)
    try:
        for number in range(inputs):
            try:
                body = import_input(fmt, rng, number)
            except (ValueError, RecursionError):  # the harness could not serialise its input
                continue
            source.write_bytes(body)
            before = store.counts()
            tally.inputs += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", DamagedRecordWarning)
                    import_file(store, source, "auto" if fmt == "jsonl" else fmt)
                    # What was accepted reads back whole, as strict JSON (a full scan now
                    # and then: on every input it would cost as much as the import).
                    json.dumps(store.history(SessionQuery(limit=5)), allow_nan=False)
                    if number % 2000 == 0:
                        json.dumps([s for batch in store.scan() for s in batch], allow_nan=False)
                        list(store.costs.entries())
            except SessionsError as exc:
                if not clean(exc):
                    tally.crash(f"unclear error: {exc!r:.300}")
                    continue
                tally.rejected += 1
                if store.counts() != before:
                    tally.changed += 1
                continue
            except Exception:
                tally.crash(traceback.format_exc(limit=-3)[-900:])
                continue
            tally.accepted += 1
    finally:
        store.close()
    return tally


CLI_VALUES = [
    "0", "1", "-1", "inf", "-inf", "nan", "1e308", "1e309", "99999999999", "all", "", " ",
    "abc", "7d", "0d", "1s", "999999999d", "1e5d", "9" * 400 + "d", "\x00", "[/]", "success",
    "active", "json", "csv", "--help", "30", "12h", "2w", "0.5",
]  # fmt: skip
CLI_COMMANDS = [
    ["sessions", "list", "--days"], ["sessions", "list", "--limit"],
    ["sessions", "list", "--status"], ["sessions", "list", "--type"],
    ["sessions", "list", "--user"], ["sessions", "stats", "--days"],
    ["sessions", "export", "--days"], ["sessions", "export", "--format"],
    ["sessions", "reap", "--dry-run", "--older-than"],
    ["sessions", "prune", "--dry-run", "--older-than"], ["costs", "report", "--days"],
    ["costs", "report", "--by"], ["sessions", "show"], ["sessions", "list", "--store"],
]  # fmt: skip


def run_cli(inputs: int, rng: random.Random, work: Path) -> Tally:
    tally = Tally()
    location = work / "cli.db"
    with SessionManager(location) as manager:
        manager.complete_session(manager.create_session("audit").session_id)
    runner = CliRunner()
    for _ in range(inputs):
        command = rng.choice(CLI_COMMANDS)
        if rng.random() < 0.5:
            value = rng.choice(CLI_VALUES)
        else:
            value = "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randint(0, 10)))
        if command[-1] == "--store":
            value = f"{work}/x.db?{rng.choice(['busy_timeout', 'synchronous'])}={value}"
            arguments = [*command, value]
        else:
            arguments = [*command, value, "--store", str(location)]
        tally.inputs += 1
        result = runner.invoke(cli, arguments)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            tally.crash(f"{arguments!r:.200}: {result.exception!r:.200}")
        elif result.exit_code == 0:
            tally.accepted += 1
        elif result.exit_code in (1, 2) and "Traceback" not in result.output:
            tally.rejected += 1
        else:
            tally.crash(f"{arguments!r:.200}: exit {result.exit_code}: {result.output[:200]!r}")
    return tally


def run_sqlite_bits(inputs: int, rng: random.Random, work: Path) -> Tally:
    tally = Tally()
    location = work / "bits.db"
    with SessionManager(location) as manager:
        for number in range(12):
            created = manager.create_session("audit", metadata={"note": "n" * 20, "i": number})
            created.add_event("step", "d" * 20, {"k": "v" * 20})
            if number % 2:
                manager.complete_session(created.session_id)
    pristine = location.read_bytes()
    for _ in range(inputs):
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        flipped = bytes(data)
        location.write_bytes(flipped)
        tally.inputs += 1
        try:
            with warnings.catch_warnings(), open_store(location) as store:
                warnings.simplefilter("ignore", DamagedRecordWarning)
                history = store.history(SessionQuery())
                for _batch in store.scan(batch=5):
                    pass
                store.statistics(None)
                for record in history:
                    store.get(record["session_id"])
                json.dumps(history)
        except SessionsError as exc:
            if not clean(exc):
                tally.crash(f"unclear error: {exc!r:.300}")
                continue
            tally.rejected += 1
            if location.read_bytes() != flipped:
                tally.changed += 1
            continue
        except Exception:
            tally.crash(traceback.format_exc(limit=-3)[-900:])
            continue
        tally.accepted += 1
    return tally


def surfaces(args: argparse.Namespace, work: Path) -> dict[str, Callable[[random.Random], Tally]]:
    def location(fmt: str) -> str:
        if args.store == "memory":
            return "memory:"
        if args.store.startswith("postgres"):
            return str(args.store)
        folder = Path(tempfile.mkdtemp(dir=work))
        return str(folder / ("s.json" if args.store == "json" else "s.db"))

    def importing(fmt: str) -> Callable[[random.Random], Tally]:
        return lambda rng: run_import(fmt, location(fmt), args.inputs, rng, work)

    return {
        "import-json": importing("json"),
        "import-jsonl": importing("jsonl"),
        "import-costs": importing("costs"),
        "cli": lambda rng: run_cli(args.inputs, rng, work),
        "sqlite-bits": lambda rng: run_sqlite_bits(args.inputs, rng, work),
        "mcp": lambda rng: run_mcp(args.inputs, rng, work, Tally(), HOSTILE),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per surface")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", default="sqlite", help="memory, sqlite, json or a URL")
    parser.add_argument("--surface", action="append", help="only this surface (repeatable)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="m365-fuzz-"))
    try:
        table = surfaces(args, work)
        chosen = args.surface or list(table)
        print(f"{'surface':<14}{'inputs':>9}{'rejected':>10}{'accepted':>10}{'crashes':>9}"
              f"{'changed':>9}{'seconds':>9}", flush=True)  # fmt: skip
        for name in chosen:
            began = time.perf_counter()
            tally = table[name](random.Random(f"{args.seed}-{name}"))
            print(f"{name:<14}{tally.inputs:>9}{tally.rejected:>10}{tally.accepted:>10}"
                  f"{tally.crashes:>9}{tally.changed:>9}{time.perf_counter() - began:>9.0f}",
                  flush=True)  # fmt: skip
            for kind, count in tally.kinds.items():
                print(f"    {count} x {kind}", flush=True)
            for example in tally.examples:
                print(f"    crash: {example}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
