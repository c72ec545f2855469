import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from m365_toolkit import Session, SessionManager
from m365_toolkit._util.values import is_secret_key

from .conftest import STORE_KINDS, FakeClock

names = st.text(min_size=1, max_size=20).filter(lambda s: s.strip())
keys = st.text(max_size=12).filter(lambda k: not is_secret_key(k))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
mappings = st.dictionaries(keys, json_values, max_size=5)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
events = st.lists(st.tuples(names, st.text(max_size=40), mappings), max_size=5)
statuses = st.sampled_from(["success", "error", "cancelled", None])


@given(names, names, mappings, moments, events, statuses, st.integers(0, 10**6))
def test_to_dict_and_from_dict_round_trip(user, operation, metadata, start, steps, status, ms):
    clock = FakeClock(start)
    session = Session(None, user, operation, metadata, clock=clock)
    for event_type, description, data in steps:
        session.add_event(event_type, description, data)
    clock.advance(milliseconds=ms)
    if status:
        session.complete(status)
    data = session.to_dict()
    assert Session.from_dict(json.loads(json.dumps(data))).to_dict() == data


def _has_nul(*texts: str) -> bool:
    return any("\x00" in text for text in texts)


@pytest.fixture(params=STORE_KINDS)
def kind(request):
    if request.param == "postgres":
        request.getfixturevalue("pg_schemas")  # skip (or fail in CI) without a server
    return request.param


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names, names, mappings, events, statuses, st.integers(0, 10**7))
def test_every_store_returns_what_was_stored(new_store, kind, user, operation, metadata, steps,
                                             status, ms):  # fmt: skip
    if kind == "postgres":  # PostgreSQL text cannot hold NUL: see test_postgres.py
        assume(not _has_nul(user, operation, *(text for step in steps for text in step[:2])))
    clock = FakeClock()
    with SessionManager(new_store(kind), clock=clock) as manager:
        session = manager.create_session(operation, user=user, metadata=metadata)
        for event_type, description, data in steps:
            session.add_event(event_type, description, data)
        clock.advance(microseconds=ms)
        if status:
            manager.complete_session(session.session_id, status)
        expected = session.to_dict()
        assert manager.get_session(session.session_id) is session or status is not None
        with SessionManager(manager.storage_path) as other:
            assert other.store.get(session.session_id) == expected
        assert manager.get_session_history(days=None, user=user)[0] == expected
