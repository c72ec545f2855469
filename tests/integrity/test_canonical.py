"""The canonical encoding: the json.dumps fast path gives RFC 8785's bytes on plain values,
and values it cannot take go through rfc8785 (or exact digits for big integers)."""

from __future__ import annotations

import hashlib

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from m365_toolkit.store._canonical import _dumps, _plain, canonical
from m365_toolkit.store.chain import genesis, leaf_hash, link_hash

LIMIT = 2**53 - 1
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-LIMIT, max_value=LIMIT)
    | st.text(st.characters(codec="utf-8"))  # control characters, U+2028, beyond the BMP
)  # fmt: skip
plain = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(st.characters(codec="ascii"), max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=1500)
@given(plain)
def test_the_fast_path_gives_rfc8785_bytes_on_every_plain_value(value):
    assert _plain(value)
    assert _dumps(value).encode("utf-8") == rfc8785.dumps(value)
    assert canonical(value) == rfc8785.dumps(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_take_the_rfc8785_path(value):
    assert not _plain({"x": value})
    assert canonical({"x": value}) == rfc8785.dumps({"x": value})


def test_non_ascii_keys_are_ordered_by_utf16_code_units():
    value = {"\ue000": 1, "\U0001f600": 2}  # code points and UTF-16 disagree on this pair
    assert not _plain(value)
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical(value).startswith('{"\U0001f600"'.encode())


def test_integers_beyond_ijson_are_kept_as_exact_digits():
    assert (
        canonical({"n": 2**60, "b": [2**70, 1.5]})
        == b'{"b":[1180591620717411303424,1.5],"n":1152921504606846976}'
    )
    assert canonical({"n": 2**53 + 1}) != canonical({"n": 2**53})


def test_hashes_are_domain_separated_and_the_genesis_is_bound_to_the_store():
    assert leaf_hash({}) == hashlib.sha256(b"\x00{}").digest()
    assert (
        link_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert genesis("store-1") != genesis("store-2")


anything = st.recursive(
    scalars | st.floats(allow_nan=False) | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=1500)
@given(anything)
def test_a_stored_text_is_called_plain_only_when_the_fast_path_gives_rfc8785_bytes(value):
    import json

    from m365_toolkit.store._canonical import decode

    decoded, is_plain = decode(json.dumps(value))
    assert decoded == value
    assert is_plain == _plain(value)
    if is_plain:
        assert canonical(decoded, plain=True) == rfc8785.dumps(decoded)
