from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from uuid import UUID

import pytest

from m365_toolkit import SerializationError, ValidationError
from m365_toolkit._util.values import REDACTED, clean_mapping, is_secret_key


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
