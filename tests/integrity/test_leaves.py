"""Verify's fast path (``store/_leaves.py``) gives, for every walked row it answers, the very
bytes the general path gives for the record rebuilt from that row; rows it cannot prove so
(damaged columns, non-plain or non-ASCII JSON, odd spacing) it leaves to the general path."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from m365_toolkit.store._canonical import canonical
from m365_toolkit.store._leaves import MEMO, Leaves
from m365_toolkit.store.chain import ChainRow
from m365_toolkit.store.sql_chain import _stored

LIMIT = 2**53 - 1
values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=6), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """A JSON column as a store writes it (compact, sorted) or as it may be found: other
    spacing, escapes, floats, big numbers, non-ASCII keys, no JSON at all."""
    value = draw(values)
    spacing = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps(value, sort_keys=draw(st.booleans()), separators=spacing,
                      ensure_ascii=draw(st.booleans()))  # fmt: skip
    return draw(st.sampled_from([text, text, text, " " + text, text + "x", "{}", "null", "[1.0]"]))


texts = st.none() | st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["2026-11-02T09:00:00.000000+00:00", "success", "é\n\"\\\x00\u2028"]
)  # fmt: skip
columns = texts | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats() | st.binary()
numbers = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats() | texts | st.none()
jsons = json_texts() | st.none() | st.integers() | st.binary()


def general(kind: str, outcome: object, walked: tuple[object, ...]) -> bytes:
    row = ChainRow(0, kind, 1, b"", b"", False, outcome if isinstance(outcome, str) else None)
    record, _, plain = _stored(row, walked)
    assert record is not None
    return canonical(record, plain=plain)


@settings(max_examples=800)
@given(
    st.sampled_from(["start", "event", "complete"]),
    st.none() | json_texts(),
    st.tuples(st.just(1), columns, columns, columns, columns, jsons),
    st.tuples(columns, columns, jsons, columns, columns, numbers, jsons),
)
def test_event_rows_get_the_general_paths_bytes(kind, outcome, event, session):
    found = Leaves().event(kind, outcome, event + session)
    if found is not None:
        assert found == general(kind, outcome, event + session + (None,) * 17)


@settings(max_examples=800)
@given(
    st.tuples(st.just(1), *[texts | columns] * 6),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=8, max_size=8),
    st.none() | st.tuples(st.integers(min_value=0, max_value=7), numbers),
    st.tuples(texts | columns, json_texts() | jsons),
)
def test_cost_rows_get_the_general_paths_bytes(head, amounts, odd, tail):
    if odd is not None:  # one amount or count of another type
        amounts[odd[0]] = odd[1]
    cost = head + tuple(amounts) + tail
    found = Leaves().cost(cost)
    if found is not None:
        assert found == general("cost", None, (None,) * 13 + cost)


def test_the_rows_stores_write_take_the_fast_path():
    process = '{"boot":"b","pid_namespace":"pid:[1]","started":444965}'
    event = (7, "s-1", "2026-11-02T09:00:00.000000+00:00", "start", "Session started", "{}")
    session = ("u@contoso.com", "audit", '{"run":3,"tenant":"contoso"}',
               "2026-11-02T09:00:00.000000+00:00", "vm", 11345, process)  # fmt: skip
    outcome = (
        '{"duration_seconds":"2.0","end_time":"2026-11-02T09:00:02.000000+00:00",'
        '"status":"success"}'
    )
    leaves = Leaves()
    for kind, closed in [("start", None), ("event", None), ("complete", outcome)] + [
        ("start", outcome)  # a session whose only event is its start
    ]:
        found = leaves.event(kind, closed, event + session)
        assert found == general(kind, closed, event + session + (None,) * 17)
    cost = (9, "2026-11-02T09:00:00.000000+00:00", None, "u@contoso.com", "audit", "gpt-5",
            "chat", 1200, 300, 200, 0, 1500000000, 50000000, 3000000000, 4550000000,
            "override", '{"tag":"x"}')  # fmt: skip
    assert leaves.cost(cost) == general("cost", None, (None,) * 13 + cost)


def test_what_it_cannot_prove_is_left_to_the_general_path():
    event = (7, "s-1", "2026-11-02T09:00:00.000000+00:00", "progress", "step")
    leaves = Leaves()
    spaced = (*event, '{ "x": 1}')  # plain, only spaced otherwise: re-encoded, same bytes
    assert leaves.event("event", None, spaced) == general("event", None, spaced + (None,) * 24)
    for data in ('{"x":1.0}', '{"é":1}', '{"\\u00e9":1}', '{"n":9007199254740993}',
                 "NaN", "{", b"{}", 5):  # fmt: skip
        assert leaves.event("event", None, (*event, data)) is None, data
    assert leaves.event("event", '"closed"', (*event, "{}")) is None  # an outcome not an object
    amounts = (1200, 300, 200, 0, 1500000000, 50000000, 3000000000, 4550000000)
    head = (9, "2026-11-02T09:00:00.000000+00:00", None, "u", "audit", "gpt-5", "chat")
    assert leaves.cost((*head, *amounts, "override", "{}")) is not None
    assert leaves.cost((*head, *amounts[:-1], 4.55, "override", "{}")) is None
    assert leaves.cost((*head, *amounts, b"override", "{}")) is None


def test_the_memo_is_bounded():
    leaves = Leaves()
    for n in range(MEMO * 2 + 3):
        assert leaves.json(f'{{"i":{n}}}') == f'{{"i":{n}}}'
    assert len(leaves._memo) <= MEMO
