"""The MCP surface of bench/fuzz.py: random tool calls over the SDK's in-process client.

Each input is one ``tools/call``: a tool of the server (now and then a name it does not
have), each argument left out, valid for its schema, of a hostile value or of a random JSON
value, and now and then an argument the tool does not take. The client is the MCP SDK's
``Client(server)`` (the real protocol, in memory); the store is a memory store, renewed
with the server every ``RENEW`` inputs so each dashboard stays small.

- a rejection is an error result of one line that names the call's session;
- an acceptance is a result whose ``session_id`` is a stored session;
- a crash is an exception out of the client, an internal error, an error without its
  session or of several lines, or a remediation applied without ``preview_only: false`` and
  ``force_apply: true`` given as JSON booleans (counted as "changed" too).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import traceback
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from m365_toolkit.mcp_server import build_server
from m365_toolkit.store import open_store

RENEW = 500
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "m365_toolkit" / "samples"
STRINGS = ["", "x", "../../etc/passwd", "/etc/passwd", "export.csv", "missing.csv",
           "https://contoso-admin.sharepoint.com", "http://admin:pw@h", "5.2.2.1", "[/]",
           "\x1b[2J", "\u202eevil", "é" * 3, "00000000-0000-7000-8000-000000000000", "a" * 300,
           "true", "false", "null", "1", "7", "NaN", "all"]  # fmt: skip
JSON_VALUES: list[Any] = [None, True, False, 0, 1, -1, 7, 2**53, 2**64, -(2**63), 0.5, -0.0,
                          1e308, 1e-320, 30, 365.25, [], [1], ["5.2.2.1"], {},
                          {"a": 1}]  # fmt: skip


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError):
        return False
    return True


def _valid(schema: dict[str, Any], rng: random.Random) -> Any:
    options = schema.get("anyOf") or [schema]
    option = rng.choice(options)
    if "enum" in option:
        return rng.choice(option["enum"])
    kind = option.get("type")
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "integer":
        return rng.choice([0, 1, 5, 50, 200, -1])
    if kind == "number":
        return rng.choice([0, 0.5, 1, 7, 30, 365.25, 1e6, -1])
    if kind == "string":
        return rng.choice(STRINGS)
    if kind == "array":
        return [rng.choice(STRINGS) for _ in range(rng.randint(0, 3))]
    return None


def _random(rng: random.Random, hostile: list[Any], depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.45 or depth > 2:
        return rng.choice(hostile)
    if roll < 0.65:
        return rng.choice(JSON_VALUES + STRINGS)
    if roll < 0.75:
        return "".join(chr(rng.randrange(1, 0xD7FF)) for _ in range(rng.randint(0, 8)))
    if roll < 0.85:
        return [_random(rng, hostile, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.9:
        return rng.randint(-(2**70), 2**70)
    return {str(_random(rng, hostile, depth + 1))[:8]: _random(rng, hostile, depth + 1)}


def arguments(schema: dict[str, Any], rng: random.Random, hostile: list[Any]) -> dict[str, Any]:
    """Random arguments for one tool's input schema."""
    args: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        roll = rng.random()
        if roll < 0.25 and name not in schema.get("required", []):
            continue
        args[name] = _valid(prop, rng) if roll < 0.65 else _random(rng, hostile)
    if rng.random() < 0.08:
        args[str(_random(rng, hostile))[:20] or "extra"] = _random(rng, hostile)
    if not _jsonable(args):  # what the SDK's client cannot send (NaN, lone surrogates)
        return {key: value for key, value in args.items() if _jsonable(value)}
    return args


def _applies(args: dict[str, Any]) -> bool:
    return args.get("preview_only") is False and args.get("force_apply") is True


def run_mcp(inputs: int, rng: random.Random, work: Path, tally: Any, hostile: list[Any]) -> Any:
    """Call tools ``inputs`` times; count into ``tally`` (bench/fuzz.py's :class:`Tally`)."""
    root = work / "mcp-root"
    (root / "site").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "sharepoint_permissions_sample.csv", root / "export.csv")
    os.environ["M365_TOOLKIT_AUDIT_COMMAND"] = "/bin/true"  # succeeds, writes no results
    os.environ["M365_TOOLKIT_REMEDIATION_COMMAND"] = "/bin/echo"
    for name in [key for key in os.environ if key.startswith("AZURE_")]:
        del os.environ[name]  # the Graph engine must not sign in anywhere
    logging.disable(logging.WARNING)  # the server logs every refusal: keep output short

    async def batch(count: int) -> None:
        store = open_store("memory:")
        async with Client(build_server(root, store)) as client:
            tools = {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}
            names = sorted(tools)
            for _ in range(count):
                name = rng.choice(names) if rng.random() > 0.02 else rng.choice(STRINGS)
                args = arguments(tools.get(name, {}), rng, hostile)
                tally.inputs += 1
                try:
                    result = await client.call_tool(name, args)
                except Exception:
                    tally.crash(f"{name} {args!r:.200}: " + traceback.format_exc(limit=-3)[-600:])
                    continue
                text = "\n".join(getattr(block, "text", "") for block in result.content)
                if result.is_error:
                    if "internal error" in text or "\n" in text.strip() or "session " not in text:
                        tally.crash(f"{name} {args!r:.200}: {text[:300]!r}")
                    else:
                        tally.rejected += 1
                    continue
                data = result.structured_content or {}
                applied = name == "remediate_security_issues" and data.get("mode") == "apply"
                if applied and not _applies(args):
                    tally.changed += 1
                    tally.crash(f"remediation applied with {args!r:.200}")
                    continue
                if not data.get("session_id") or store.get(data["session_id"]) is None:
                    tally.crash(f"{name} {args!r:.200}: no session id in {data!r:.200}")
                    continue
                tally.accepted += 1

    done = 0
    while done < inputs:
        count = min(RENEW, inputs - done)
        anyio.run(batch, count)
        done += count
        for leftover in (root / "output").rglob("*") if (root / "output").exists() else ():
            if leftover.is_file():
                leftover.unlink()  # dashboards and workbooks of accepted calls
    return tally


__all__ = ["arguments", "run_mcp"]
