"""Each JSON store keeps its own cost log, named after its file (issue 9: two stores in one
folder shared ``gpt5_cost_log.json``, and one showed a cost with 0 sessions). The shared log
of earlier versions is taken over only when it is provably this store's; else it is left as
it was, with a warning saying how to attach it."""

from __future__ import annotations

import json
import warnings
from decimal import Decimal
from pathlib import Path

import pytest

from m365_toolkit import SessionManager

pytest.importorskip("genai_prices")
from m365_toolkit.costs.tracker import GPT5CostTracker  # noqa: E402

PRICE = {"gpt-5": {"input": 1, "cached_input": 0.1, "output": 2}}
SHARED = "gpt5_cost_log.json"


def _record(location: Path, requests: int = 1) -> str:
    with SessionManager(location) as manager:
        session = manager.create_session("gpt5_analysis")
        tracker = GPT5CostTracker(manager=manager, session_id=session.session_id, prices=PRICE)
        for _ in range(requests):
            tracker.track_request("gpt-5", prompt_tokens=1000, completion_tokens=500)
        manager.complete_session(session.session_id)
    return session.session_id


def _total(location: Path) -> Decimal:
    with SessionManager(location) as manager:
        return manager.store.costs.total()


def test_two_json_stores_in_one_folder_keep_their_costs_apart(tmp_path: Path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _record(a, requests=2)
    _record(b, requests=1)
    assert _total(a) == 2 * _total(b) > 0
    assert (tmp_path / "a.costs.json").is_file() and (tmp_path / "b.costs.json").is_file()
    assert not (tmp_path / SHARED).exists()
    with SessionManager(a) as manager:
        assert str(tmp_path / "a.costs.json") in map(str, manager.store.files())


def _old_layout(tmp_path: Path, *stores: str) -> bytes:
    """Stores as an earlier version left them: their costs in the one shared log."""
    entries: list[object] = []
    for name in stores:
        _record(tmp_path / name)
        own = tmp_path / name.replace(".json", ".costs.json")
        entries += json.loads(own.read_text(encoding="utf-8"))
        own.unlink()
        (tmp_path / f"{own.name}.lock").unlink(missing_ok=True)
    body = json.dumps(entries, indent=2).encode()
    (tmp_path / SHARED).write_bytes(body)
    return body


def test_the_shared_log_of_a_lone_store_becomes_its_own(tmp_path: Path):
    body = _old_layout(tmp_path, "sessions.json")
    assert _total(tmp_path / "sessions.json") > 0  # nothing lost
    assert (tmp_path / "sessions.costs.json").read_bytes() == body
    assert not (tmp_path / SHARED).exists()


@pytest.mark.parametrize("why", ["two stores", "a foreign session"])
def test_a_shared_log_that_may_be_another_stores_is_left_alone(tmp_path: Path, why: str):
    if why == "two stores":
        body = _old_layout(tmp_path, "a.json", "b.json")
    else:
        body = _old_layout(tmp_path, "a.json")
        entries = json.loads(body)
        entries[0]["session_id"] = "not-in-a"
        body = json.dumps(entries).encode()
        (tmp_path / SHARED).write_bytes(body)
    with pytest.warns(UserWarning, match=SHARED) as caught:
        total = _total(tmp_path / "a.json")
    assert total == 0
    assert "sessions import" in str(caught[0].message) and "--store" in str(caught[0].message)
    assert (tmp_path / SHARED).read_bytes() == body  # untouched
    assert not (tmp_path / "a.costs.json").exists()


def test_a_store_that_already_has_its_own_log_never_touches_the_shared_one(tmp_path: Path):
    _record(tmp_path / "a.json")
    (tmp_path / SHARED).write_text("[]", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _total(tmp_path / "a.json") > 0
    assert (tmp_path / SHARED).read_text(encoding="utf-8") == "[]"
