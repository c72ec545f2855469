"""The CLI shows stored text literally: rich markup in it is text, control characters are
spelled out, and no escape sequence reaches the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.cli.render import literal, visible

CLOSE = "[/]"
LINK = "[link=https://evil.example]click me[/link]"
TITLE = "\x1b]0;pwned\x07"  # OSC: set the window title
CLEAR = "\x1b[2J\x1b[H"  # CSI: clear the screen
C1 = "\x9b31m"  # CSI as one C1 byte
HOSTILE = [CLOSE, LINK, TITLE, CLEAR, C1, "[bold red]loud", "\u202eevil"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        (CLOSE, CLOSE),
        (TITLE, "\\x1b]0;pwned\\x07"),
        (CLEAR, "\\x1b[2J\\x1b[H"),
        (C1, "\\x9b31m"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\u202eevil", "\\u202eevil"),
        ("café ✓", "café ✓"),
    ],
)
def test_control_characters_are_spelled_out(text, shown):
    assert visible(text) == shown
    assert literal(text).plain == shown


@pytest.fixture
def hostile_store(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "sessions.db"
    with SessionManager(store) as manager:
        for text in HOSTILE:
            session = manager.create_session(text, user=text, metadata={"note": text, text: 1})
            session.add_event(text, text, {"value": text})
        last = session.session_id
    return store, last


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert (
        "\x1b" not in result.output and "\x9b" not in result.output and "\x07" not in result.output
    )
    assert "\u202e" not in result.output
    return result.output


def test_sessions_list_shows_hostile_text_literally(hostile_store):
    store, _ = hostile_store
    output = _run("sessions", "list", "--store", str(store))
    assert CLOSE in output and "[link=https://evil.example]" in output and "[bold red]" in output
    assert "\\x1b[2J" in output


def test_sessions_show_shows_hostile_text_literally(hostile_store):
    store, last = hostile_store
    with SessionManager(store) as manager:
        ids = [item["session_id"] for item in manager.get_session_history(days=None)]
    for session_id in ids:
        output = _run("sessions", "show", session_id, "--store", str(store))
        assert session_id in output
    output = _run("sessions", "show", last, "--store", str(store))
    assert "\\u202eevil" in output


def test_sessions_stats_spells_out_control_characters(hostile_store):
    store, _ = hostile_store
    output = _run("sessions", "stats", "--store", str(store))
    assert CLOSE in output and "\\x1b]0;pwned\\x07" in output


def test_costs_report_shows_hostile_models_literally(tmp_path: Path):
    pytest.importorskip("genai_prices")
    from m365_toolkit.costs.tracker import GPT5CostTracker

    store = tmp_path / "sessions.db"
    price = {"input": 1, "cached_input": 0.1, "output": 2}
    with SessionManager(store) as manager:
        session = manager.create_session(CLOSE, user=TITLE)
        tracker = GPT5CostTracker(
            manager=manager, session_id=session.session_id, user=TITLE,
            prices={model: price for model in HOSTILE},
        )  # fmt: skip
        for model in HOSTILE:
            tracker.track_request(model, prompt_tokens=10, completion_tokens=5, request_type=LINK)
    for by in ("model", "type", "operation", "user"):
        output = _run("costs", "report", "--by", by, "--store", str(store))
        assert CLOSE in output or LINK in output or "\\x1b]0;pwned" in output
    output = _run("costs", "budget", "--daily", "5", "--user", TITLE, "--store", str(store))
    assert "\\x1b]0;pwned" in output


INERT = ["\x85", "\x9b", "\x7f", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u200f"]


@pytest.mark.parametrize(
    "command", [["sessions", "list"], ["sessions", "show"], ["sessions", "stats"]]
)
def test_json_output_escapes_c1_and_bidi_characters(tmp_path: Path, command: list[str]):
    store = tmp_path / "sessions.db"
    text = "evil" + "".join(INERT) + "\x1b[2J"
    with SessionManager(store) as manager:
        session = manager.create_session(text, user=text, metadata={"note": text, text: 1})
        session.add_event("progress", text, {"value": text})
    args = [*command, session.session_id] if command[-1] == "show" else command
    result = CliRunner().invoke(cli, [*args, "--json", "--store", str(store)])
    assert result.exit_code == 0, result.output
    for char in [*INERT, "\x1b"]:
        assert char not in result.output, repr(char)
    assert "\\u009b" in result.output and "\\u202e" in result.output
    assert text in _strings(json.loads(result.output))  # still the same data
    assert "café" in _json_echo({"word": "café"})  # other text stays readable


def _strings(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(map(str, value)).union(*map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return {value} if isinstance(value, str) else set()


def _json_echo(data: object) -> str:
    from m365_toolkit.cli.app import json_text

    return json_text(data)
