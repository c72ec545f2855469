from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from uuid import UUID

import pytest

from m365_toolkit import SerializationError, ValidationError
from m365_toolkit._util.values import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    REDACTED,
    clean_mapping,
    is_secret_key,
)


@pytest.mark.parametrize(
    "key",
    [
        "password", "Password", "PASSWD", "secret", "client_secret", "M365_CLIENT_SECRET",
        "clientSecret", "token", "access_token", "accessToken", "refresh_token", "api_key",
        "apikey", "x-api-key", "X-API-Key", "APIKey", "authorization", "Authorization",
        "credential", "credentials", "private_key", "privateKey", "db.password",
    ],
)  # fmt: skip
def test_secret_looking_keys_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens", "prompt_tokens", "completion_tokens", "tenant", "keyword", "author",
        "secretary", "tokenizer", "passport", "monkey", "site", "apis",
    ],
)  # fmt: skip
def test_ordinary_keys_are_kept(key):
    assert not is_secret_key(key)


def test_secrets_are_redacted_at_any_depth_and_other_values_kept():
    cleaned = clean_mapping(
        {
            "tenant": "contoso",
            "auth": {"client_secret": "s3cr3t", "client_id": "abc"},
            "headers": [{"Authorization": "Bearer xyz", "Accept": "json"}],
            "max_tokens": 4000,
        },
        "metadata",
    )
    assert cleaned == {
        "tenant": "contoso",
        "auth": {"client_secret": REDACTED, "client_id": "abc"},
        "headers": [{"Authorization": REDACTED, "Accept": "json"}],
        "max_tokens": 4000,
    }


def test_common_types_are_converted_to_strings():
    class Color(Enum):
        RED = "red"

    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    cleaned = clean_mapping(
        {
            "when": moment,
            "day": date(2026, 1, 2),
            "path": Path("/tmp/x"),
            "id": UUID(int=1),
            "color": Color.RED,
            "pair": (1, 2),
        },
        "metadata",
    )
    assert cleaned == {
        "when": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "path": "/tmp/x",
        "id": "00000000-0000-0000-0000-000000000001",
        "color": "red",
        "pair": [1, 2],
    }


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": {"b": [1, object()]}}, "metadata['a']['b'][1]"),
        ({"amount": Decimal("1.5")}, "metadata['amount']"),
        ({"raw": b"bytes"}, "metadata['raw']"),
        ({"tags": {"x", "y"}}, "metadata['tags']"),
    ],
)
def test_unserialisable_values_raise_a_type_error_naming_the_key_path(value, path):
    with pytest.raises(SerializationError) as caught:
        clean_mapping(value, "metadata")
    assert isinstance(caught.value, TypeError)
    assert caught.value.key_path == path
    assert path in str(caught.value)


def test_non_string_keys_and_non_finite_numbers_are_refused():
    with pytest.raises(TypeError, match="key 1"):
        clean_mapping({1: "x"}, "metadata")
    with pytest.raises(ValidationError, match="nan"):
        clean_mapping({"ratio": float("nan")}, "metadata")


def test_a_non_mapping_is_refused():
    with pytest.raises(TypeError, match="metadata"):
        clean_mapping(["a"], "metadata")  # type: ignore[arg-type]


def test_metadata_that_refers_to_itself_raises_a_type_error_naming_the_key_path():
    looped: dict[str, object] = {"a": {"b": []}}
    looped["a"]["b"].append(looped)  # type: ignore[index]
    with pytest.raises(SerializationError) as caught:
        clean_mapping(looped, "metadata")
    assert isinstance(caught.value, TypeError)
    assert caught.value.key_path == "metadata['a']['b'][0]"
    assert "refers to itself" in str(caught.value)
    listed: list[object] = []
    listed.append(listed)
    with pytest.raises(SerializationError, match=r"metadata\['x'\]\[0\] refers to itself"):
        clean_mapping({"x": listed}, "metadata")


def test_the_same_value_twice_is_no_cycle():
    shared = {"k": 1}
    assert clean_mapping({"a": shared, "b": [shared, shared]}, "data") == {
        "a": {"k": 1}, "b": [{"k": 1}, {"k": 1}]
    }  # fmt: skip


@pytest.mark.parametrize("container", ["dict", "list"])
def test_metadata_nested_thousands_deep_raises_a_type_error_naming_the_limit(container):
    deep: object = "leaf"
    for _ in range(5000):
        deep = {"n": deep} if container == "dict" else [deep]
    with pytest.raises(SerializationError) as caught:
        clean_mapping({"deep": deep}, "metadata")
    assert isinstance(caught.value, TypeError)
    assert f"nested more than {MAX_DEPTH} levels deep" in str(caught.value)
    assert caught.value.key_path.startswith("metadata['deep']")


def test_nesting_up_to_the_limit_is_stored():
    deep: object = "leaf"
    for _ in range(MAX_DEPTH - 1):
        deep = {"n": deep}
    assert clean_mapping({"deep": deep}, "metadata")["deep"] == deep


@pytest.mark.parametrize(
    "number", [10**5000, -(10**5000), 10**MAX_INT_DIGITS], ids=["5000", "-5000", "limit"]
)
def test_a_huge_integer_raises_a_type_error_naming_the_key_path(number):
    with pytest.raises(SerializationError) as caught:
        clean_mapping({"a": [number]}, "data")
    assert isinstance(caught.value, TypeError)
    assert caught.value.key_path == "data['a'][0]"
    assert f"at most {MAX_INT_DIGITS} digits" in str(caught.value)


def test_large_but_sane_integers_are_kept():
    assert clean_mapping({"n": 2**128, "m": -(10**MAX_INT_DIGITS - 1)}, "data") == {
        "n": 2**128, "m": -(10**MAX_INT_DIGITS - 1)
    }  # fmt: skip


@pytest.mark.parametrize(
    ("metadata", "where"),
    [({"u": "\udfff"}, "metadata['u']"), ({"u\ud800": 1}, "metadata key"),
     ({"a": ["ok", "\ud800x"]}, "metadata['a'][1]"), ({"a": {"b": "\udc00"}}, "['b']")],
)  # fmt: skip
def test_a_lone_surrogate_is_refused_on_every_store_alike(metadata, where):
    """Memory stores took one (and failed later, sealing), SQLite refused it: now refused
    before anything is stored, naming where."""
    from m365_toolkit import SessionManager
    from m365_toolkit.errors import SerializationError

    with SessionManager("memory:") as manager:
        with pytest.raises(SerializationError, match="surrogate") as caught:
            manager.create_session("x", metadata=metadata)
        assert where in str(caught.value)
        assert manager.get_session_history(days=None) == []
