"""The one CBOR decoder for untrusted input: attestation objects, authenticator data's
credential public keys and extensions, and the keys read back from storage.

WebAuthn's structures use a small part of CBOR (RFC 8949): integers, byte and text
strings, arrays, maps, true/false/null. cbor2 decodes all of CBOR leniently by default, so
it runs here with its strict options (no duplicate map keys, no indefinite lengths, a
nesting bound), every tag refused before cbor2 gives it a meaning (a bignum would turn
into an ordinary integer, a date into a datetime), and the decoded value checked for the
types WebAuthn knows: a float, `undefined` or a simple value is refused, not coerced.
"""

from __future__ import annotations

import io
from typing import Any, NoReturn

import cbor2

# WebAuthn's deepest structure is an attestation statement's certificate list inside the
# attestation object (3 levels); extensions add a few more. Far below cbor2's own bound.
MAX_DEPTH = 16

# The exact Python types a decoded WebAuthn structure is made of (cbor2 gives these).
_SCALAR_TYPES = frozenset({int, bool, bytes, str, type(None)})
_KEY_TYPES = frozenset({int, str})


class CborError(ValueError):
    """The input is not one well-formed item of the CBOR WebAuthn uses."""


class _NoTags(dict[int, Any]):
    """cbor2's table of tag decoders, answering every tag with a refusal."""

    def __missing__(self, tag: int) -> Any:
        return _refuse_tag

    def get(self, tag: int, default: Any = None) -> Any:
        return _refuse_tag

    def __contains__(self, tag: object) -> bool:
        return True


def _refuse_tag(*_: Any) -> NoReturn:
    # Both cbor2's tag decoders (called with the decoder) and its tag_hook (called with
    # the tag) land here.
    raise CborError("CBOR tags are not used in WebAuthn structures.")


_NO_TAGS = _NoTags()


def decode_prefix(data: bytes | memoryview) -> tuple[Any, int]:
    """The first CBOR item of `data` and how many bytes it took (the rest is the caller's:
    authenticator data holds a credential public key and then, maybe, extensions)."""
    stream = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(
        stream,
        tag_hook=_refuse_tag,
        semantic_decoders=_NO_TAGS,
        max_depth=MAX_DEPTH,
        allow_indefinite=False,
        allow_duplicate_keys=False,
    )
    try:
        value = decoder.decode()
    except CborError:
        raise
    except Exception as exc:  # cbor2 raises CBORDecodeError, and ValueError, EOFError, ...
        raise CborError(f"Not well-formed CBOR ({type(exc).__name__}).") from None
    _check_types(value, 0)
    return value, stream.tell()


def decode(data: bytes | memoryview) -> Any:
    """Exactly one CBOR item, the whole input consumed."""
    value, used = decode_prefix(data)
    if used != len(data):
        raise CborError(f"{len(data) - used} bytes follow the CBOR item.")
    return value


def _check_types(value: Any, depth: int) -> None:
    # Iterative, on exact types: it runs over every item of every attestation object.
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        kind = type(item)
        if kind in _SCALAR_TYPES:
            continue
        if level >= MAX_DEPTH:
            raise CborError("The CBOR item is nested too deeply.")
        if kind is list:
            stack.extend((child, level + 1) for child in item)
        elif kind is dict:
            for key, child in item.items():
                # Map keys are integers or text in every WebAuthn and COSE structure.
                if type(key) not in _KEY_TYPES:
                    raise CborError("A CBOR map key is neither an integer nor text.")
                stack.append((child, level + 1))
        else:
            # float, cbor2.undefined, CBORSimpleValue, and anything a later cbor2 may add
            raise CborError(f"A CBOR {kind.__name__} is not used in WebAuthn structures.")
