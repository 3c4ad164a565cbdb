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
from typing import Any

import cbor2

# WebAuthn's deepest structure is an attestation statement's certificate list inside the
# attestation object (3 levels); extensions add a few more. Far below cbor2's own bound.
MAX_DEPTH = 16

# Plain Python types a decoded WebAuthn structure is made of (bool is an int subclass).
_SCALARS = (int, bytes, str, type(None))


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


def _refuse_tag(decoder: cbor2.CBORDecoder) -> Any:
    raise CborError("CBOR tags are not used in WebAuthn structures.")


def _refuse_unknown_tag(tag: cbor2.CBORTag, immutable: bool) -> Any:
    raise CborError("CBOR tags are not used in WebAuthn structures.")


_NO_TAGS = _NoTags()


def decode_prefix(data: bytes | memoryview) -> tuple[Any, int]:
    """The first CBOR item of `data` and how many bytes it took (the rest is the caller's:
    authenticator data holds a credential public key and then, maybe, extensions)."""
    stream = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(
        stream,
        tag_hook=_refuse_unknown_tag,
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
    if depth > MAX_DEPTH:
        raise CborError("The CBOR item is nested too deeply.")
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list):
        for item in value:
            _check_types(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            # Map keys are integers or text in every WebAuthn and COSE structure.
            if not isinstance(key, int | str) or isinstance(key, bool):
                raise CborError("A CBOR map key is neither an integer nor text.")
            _check_types(item, depth + 1)
        return
    # float, cbor2.undefined, CBORSimpleValue, and anything a future cbor2 may add
    raise CborError(f"A CBOR {type(value).__name__} is not used in WebAuthn structures.")
