"""cbor.py, the one decoder of untrusted CBOR: generated items, well-formed or not, come
back as WebAuthn's plain types or are refused with CborError, never anything else."""

from __future__ import annotations

import struct
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passkey_api.ceremonies import structures
from passkey_api.errors import ApiError
from passkey_api.kit import cbor

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.integers(-30, 30) | st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for extra, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if value < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | extra]) + struct.pack(fmt, value)
    raise ValueError(value)


@st.composite
def hostile(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Items a strict decoder must refuse somewhere inside, or plain ones: duplicate map
    keys, indefinite lengths, tags, floats, simple values, truncations."""
    kinds = ["plain", "float", "simple", "tag", "indefinite", "duplicate", "truncated"]
    if depth < 3:
        kinds += ["array", "map"]
    kind = draw(st.sampled_from(kinds))
    if kind == "plain":
        return cbor2.dumps(draw(plain))
    if kind == "float":
        return b"\xfb" + struct.pack(">d", draw(st.floats(allow_nan=False)))
    if kind == "simple":
        return (
            bytes([draw(st.sampled_from([0xF7, 0xF0, 0xF8]))]) + b"\x20"[: draw(st.integers(0, 1))]
        )
    if kind == "tag":
        return _head(6, draw(st.integers(0, 70000))) + cbor2.dumps(draw(plain))
    if kind == "indefinite":
        items = draw(st.lists(hostile(depth + 1), max_size=3))
        return b"\x9f" + b"".join(items) + b"\xff"
    if kind == "duplicate":
        key = cbor2.dumps(draw(st.integers(-5, 5) | st.text(max_size=3)))
        return b"\xa2" + key + cbor2.dumps(1) + key + cbor2.dumps(2)
    if kind == "truncated":
        whole = cbor2.dumps(draw(plain))
        return whole[: draw(st.integers(0, max(0, len(whole) - 1)))]
    items = draw(st.lists(hostile(depth + 1), max_size=3))
    if kind == "array":
        return _head(4, len(items)) + b"".join(items)
    keys = [cbor2.dumps(k) for k in draw(st.lists(st.integers(-9, 9), max_size=len(items)))]
    pairs = list(zip(keys, items, strict=False))
    return _head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def _plain_types(value: Any) -> bool:
    if isinstance(value, (bool, int, bytes, str, type(None))):
        return True
    if isinstance(value, list):
        return all(_plain_types(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (int, str)) and _plain_types(v) for k, v in value.items())
    return False


@settings(max_examples=400)
@given(hostile())
def test_generated_items_decode_to_plain_types_or_are_refused(raw: bytes) -> None:
    try:
        value = cbor.decode(raw)
    except cbor.CborError:
        return
    assert _plain_types(value)
    assert cbor2.dumps(value) == raw or len(cbor2.dumps(value)) <= len(raw)


@given(plain)
def test_plain_items_round_trip(value: Any) -> None:
    assert cbor.decode(cbor2.dumps(value)) == value


@settings(max_examples=300)
@given(hostile(), st.binary(max_size=8))
def test_attestation_objects_from_generated_items_never_escape(raw: bytes, tail: bytes) -> None:
    for candidate in (raw, raw + tail):
        try:
            structures.attestation_object(candidate)
        except ApiError:
            continue


@pytest.mark.parametrize(
    "raw",
    [
        b"\xa2\x01\x02\x01\x03",  # a key twice
        b"\x9f\x01\xff",  # an indefinite array
        b"\x5f\x41\x00\xff",  # an indefinite byte string
        b"\xc2\x41\x01",  # a bignum
        b"\xc1\x1a\x51\x4b\x67\xb0",  # an epoch date
        b"\xd9\xd9\xf7\xa0",  # the self-describe tag
        b"\xf9\x3c\x00",  # a half float
        b"\xf7",  # undefined
        b"\xf0",  # simple(16)
        b"\xa1\x80\x01",  # an array as a map key
        b"\x01\x02",  # two items
        b"\x81" * (cbor.MAX_DEPTH + 2) + b"\x00",  # nested too deeply
        b"\x7f\x61\x61\xff",  # an indefinite text
        b"\x62\xc3\x28",  # text that is not UTF-8
    ],
)
def test_refused(raw: bytes) -> None:
    with pytest.raises(cbor.CborError):
        cbor.decode(raw)


def test_decode_prefix_tells_where_the_item_ends() -> None:
    assert cbor.decode_prefix(cbor2.dumps({1: 2}) + b"rest") == ({1: 2}, 3)
