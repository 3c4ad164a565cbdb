"""Verifying a registration response (WebAuthn 7.1) into a credential to store. No I/O.

With the default settings (PASSKEY_ATTESTATION=none, policy `any`, no allow-list) the
attestation statement is verified as py_webauthn verifies it without roots: its
signature, and for packed, fido-u2f and tpm no chain at all (py_webauthn's
validate_certificate_chain passes when it is given no roots). Nothing is looked up.

Otherwise (examine()) the model is looked up in the authenticator metadata, by AAGUID or,
for a key without one, by its attestation certificate's key identifier, and its roots are
given to py_webauthn for the statement's format. "Verified" is then true only when the
chain verified to one of those roots: py_webauthn checks packed, fido-u2f and tpm chains
against exactly the roots given (EXACT_ROOTS), but adds roots of its own for apple
(Apple's WebAuthn root), android-key (Google's hardware attestation roots) and
android-safetynet (GlobalSign), so for apple the chain is checked once more against the
metadata's roots alone; an android-key chain (which binds no AAGUID) and a safetynet
chain (inside its JWS) never count (NEVER_VERIFIED).
An attestation certificate that does not name the claimed AAGUID proves that model when
its entry, and no other, lists the certificate's key identifier; otherwise it proves
only "one of the models whose entries list a root named as a CA of the chain"
(_models_alike()): verified, each of those must pass the policy, and the passkey keeps
the CAs' names so that what the metadata reports of any model under them, then or later,
is reported of it (a Windows Hello TPM key under Microsoft's root, which several models
list).
A statement that verifies only without the roots is valid but untrusted: stored as not
verified, or refused by the policy (authenticators/policy.py).
"""

from __future__ import annotations

import logging
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from webauthn import verify_registration_response
from webauthn.helpers import validate_certificate_chain
from webauthn.helpers.exceptions import InvalidCertificateChain
from webauthn.helpers.structs import (
    AttestationFormat,
    AuthenticatorAttestationResponse,
    RegistrationCredential,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from passkey_api.authenticators import policy
from passkey_api.authenticators.catalogue import (
    AuthenticatorModel,
    anchor_token,
    ca_name_key,
    certificate_key,
    key_identifier,
    model_token,
    root_names,
)
from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import checks, options, structures
from passkey_api.ceremonies.checks import ClientData
from passkey_api.ceremonies.schemas import RegistrationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import AuthenticatorNotAllowed, InvalidCredential

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    attestation_format: str
    transports: list[str]
    backup_eligible: bool
    backup_state: bool
    discoverable: bool | None
    user_verified: bool
    # none, self, basic, attca or anonca (attestation_type()).
    attestation_type: str = "none"
    # The chain verified to a root the metadata gives for the model (examine()).
    attestation_verified: bool = False
    # A key without an AAGUID (U2F): its attestation certificate's key identifier (hex).
    attestation_key_identifier: str | None = None
    # When the verified chain left the model uncertain: the names of the CAs it named
    # (catalogue.ca_name_key()), by which the models it could be are found (Examined).
    attestation_ca_names: tuple[str, ...] = ()


# Formats whose chain py_webauthn checks against exactly the roots it is given.
EXACT_ROOTS = frozenset({"packed", "fido-u2f", "tpm"})
# Formats for which py_webauthn adds roots of its own to those it is given: the chain is
# checked once more against the metadata's alone (apple), or never counts (android-key).
OWN_ROOTS = frozenset({"apple", "android-key"})
# Formats whose chain never counts as verified, whatever roots the metadata lists (the
# statement must still verify): stored as not verified, refused by a restrictive policy.
# android-safetynet: its chain is inside a JWS, and Google has retired the format (given
# no roots: py_webauthn's own). android-key: py_webauthn checks the chain and the
# challenge, but neither the AAGUID nor the key description's attestationApplicationId,
# so a chain to Google's roots binds no model: any app on a genuine Android device can
# claim any AAGUID with one.
NEVER_VERIFIED = frozenset({"android-safetynet", "android-key"})
# The attestation type each format implies (WebAuthn L3 8.x); packed: _packed_type().
FORMAT_TYPES = {
    "none": "none",
    "fido-u2f": "basic",
    "tpm": "attca",
    "android-key": "basic",
    "android-safetynet": "basic",
    "apple": "anonca",
}
# Certificates in an attestation chain: real ones hold two to five (an Android key's the
# most); a longer one is no authenticator's, and would only cost work and storage.
MAX_CHAIN = 10
# id-fido-gen-ce-aaguid: the AAGUID a packed attestation certificate is issued for.
AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


def verify(
    settings: Settings,
    credential: RegistrationResponseJSON,
    client_data: ClientData,
    *,
    require_uv: bool,
    require_up: bool = True,
    metadata: MetadataService | None = None,
) -> NewCredential:
    """require_up=False only for a conditional create (WebAuthn Level 3, 7.1 step 14: user
    presence is checked unless the options asked for conditional mediation). `metadata`
    for the models and their roots when the settings examine attestation; refused by the
    policy: AuthenticatorNotAllowed, before anything is written."""
    response = credential.response
    checks.client_data_fits(
        client_data, expected_type="webauthn.create", origins=settings.allowed_origins
    )
    checks.credential_id_fits(credential.rawId, credential.id)
    # Decoded strictly first: py_webauthn below sees only a structure that means one thing,
    # and the key stored is the one validated here, byte for byte.
    decoded = structures.attestation_object(response.attestationObject)
    auth_data = decoded.auth_data
    checks.flags_fit(auth_data, rp_id=settings.rp_id, require_uv=require_uv, require_up=require_up)
    attested = auth_data.attested
    assert attested is not None  # a registration's authenticator data must carry it
    if attested.credential_id != credential.rawId:
        raise InvalidCredential("The attested credential id differs from rawId.")

    if not settings.examines_attestation:  # the default: no lookup, no roots
        verified = _registration(settings, credential, client_data, require_up, require_uv, None)
        kind, proven, key_identifier = (
            attestation_type(decoded.fmt, decoded.att_stmt, None),
            False,
            None,
        )
        ca_names: tuple[str, ...] = ()
    else:
        verified, examined = examine(
            settings,
            metadata,
            credential,
            client_data,
            decoded,
            require_up=require_up,
            require_uv=require_uv,
        )
        try:
            policy.admit(settings, examined.attested)
        except AuthenticatorNotAllowed:
            # Which models people try is worth knowing; an AAGUID or key id is no secret.
            log.info(
                "registration refused by the authenticator policy: model %s (%s), chain %s",
                examined.attested.model_id or "unknown",
                examined.attestation_type,
                "verified" if examined.attested.verified else "not verified",
            )
            raise
        kind, proven = examined.attestation_type, examined.attested.verified
        key_identifier = examined.key_identifier
        ca_names = examined.ca_names

    return NewCredential(
        credential_id=attested.credential_id,
        public_key=attested.public_key,
        sign_count=auth_data.sign_count,
        aaguid=verified.aaguid,
        attestation_format=AttestationFormat(verified.fmt).value,
        transports=sorted({t for t in response.transports if t in options.KNOWN_TRANSPORTS}),
        backup_eligible=auth_data.be,
        backup_state=auth_data.bs,
        discoverable=_discoverable(credential.clientExtensionResults),
        user_verified=verified.user_verified,
        attestation_type=kind,
        attestation_verified=proven,
        attestation_key_identifier=key_identifier,
        attestation_ca_names=ca_names,
    )


@dataclass(frozen=True)
class Examined:
    attestation_type: str
    attested: policy.Attested
    key_identifier: str | None
    # When the chain verified but left the model uncertain (attested.alike): the names
    # of the CAs it named, which the passkey keeps. Empty otherwise.
    ca_names: tuple[str, ...] = ()


def examine(
    settings: Settings,
    metadata: MetadataService | None,
    credential: RegistrationResponseJSON,
    client_data: ClientData,
    decoded: structures.AttestationObject,
    *,
    require_up: bool,
    require_uv: bool,
) -> tuple[VerifiedRegistration, Examined]:
    """Verify the statement with the model's roots from the metadata; what it proved."""
    attested = decoded.auth_data.attested
    assert attested is not None
    aaguid = uuid.UUID(bytes=attested.aaguid)
    x5c = _x5c(decoded.att_stmt)
    key_identifier = _key_identifier(x5c[0]) if x5c and aaguid.int == 0 else None
    model: AuthenticatorModel | None = None
    if metadata is not None:
        if aaguid.int != 0:
            # An AAGUID two entries carry names neither (the metadata should not let
            # it): nothing is proven, as for a U2F key identifier two entries list.
            if len(metadata.models_of_aaguid(aaguid)) == 1:
                model = metadata.by_aaguid(aaguid)
        elif key_identifier is not None:
            identifier = bytes.fromhex(key_identifier)
            # A U2F key is its model by its certificate's key identifier; one that two
            # entries list names neither (and what a passkey stores, the key identifier,
            # could not tell them apart later): nothing is proven.
            if len(metadata.models_listing(identifier)) == 1:
                model = metadata.by_key_identifier(identifier)
    roots = [_pem(der) for der in model.attestation_roots] if model and x5c else []

    chained = False
    if roots and decoded.fmt in EXACT_ROOTS | OWN_ROOTS:
        try:
            verified = _registration(
                settings, credential, client_data, require_up, require_uv, {decoded.fmt: roots}
            )
            chained = decoded.fmt not in NEVER_VERIFIED and (
                decoded.fmt in EXACT_ROOTS or _chains_to(x5c, roots)
            )
        except InvalidCredential:
            # Valid without the roots: a good signature by a certificate that does not
            # chain to the model's roots (an untrusted chain); else invalid after all.
            verified = _registration(
                settings, credential, client_data, require_up, require_uv, None
            )
    else:
        verified = _registration(settings, credential, client_data, require_up, require_uv, None)
    names_aaguid = _certificate_fits(decoded.fmt, x5c[0], aaguid) if x5c else False
    # The CAs the chain names, and every CA above them that the metadata knows of: the
    # store py_webauthn verifies against holds all the model's trust anchors, so the
    # path it built may run through one that x5c leaves out.
    chain_names = _ca_names(x5c, model) if chained and model is not None else ()
    path = metadata.closure(chain_names) if metadata is not None else frozenset(chain_names)
    alike: tuple[AuthenticatorModel, ...] = ()
    listed_by: tuple[AuthenticatorModel, ...] = ()
    ca_names: tuple[str, ...] = ()
    if chained and model is not None and metadata is not None:
        # The attestation certificate's key identifier (a U2F key's already is), what
        # entries may list it by.
        leaf_key = key_identifier or _key_identifier(x5c[0])
        leaf = bytes.fromhex(leaf_key)
        listing = metadata.models_listing(leaf)
        uncertain = (
            aaguid.int != 0
            and not names_aaguid
            and (leaf not in model.key_identifiers or len(listing) != 1)
        )
        # Entries listing that very certificate as their trust anchor (MDS3 allows it):
        # it is their model's too, whether or not it names its own.
        token = _anchor_token(x5c[0], leaf_key)
        anchored = _anchored_elsewhere(token, model, metadata)
        found: tuple[AuthenticatorModel, ...] | None = ()
        if uncertain:
            # A certificate that names no AAGUID, and that the claimed model's entry
            # does not list alone: one of the models under the chain's names.
            found = _models_alike(chain_names, model, metadata, x5c, listing)
        # A U2F statement (no AAGUID) whose certificate names a FIDO2 model's AAGUID (a
        # FIDO2 key answering over U2F): it is that model's too.
        named = _named_models(x5c[0], metadata) if aaguid.int == 0 else ()
        also = (*anchored, *named)
        if len(named) > 1:
            found = None  # it names an AAGUID two entries carry: neither is proven
        if found is not None:
            weighed = {id(model.entry)} | {id(m.entry) for m in found}
            found += tuple(m for m in also if id(m.entry) not in weighed)
            if any(m.model_id is None for m in found):
                found = None  # a UAF entry: nothing the policy could judge by name
        chained, alike = found is not None, found or ()
        # Kept, proven or not: the chain's names with what they reached that day
        # (should a later version stop listing an intermediate, the passkey still
        # answers for the models above it), the certificate itself when an entry lists
        # it as an anchor, and the model it names.
        kept = set(path) if uncertain else set()
        if anchored:
            kept.add(token)
        if len(named) == 1 and named[0].aaguid is not None:
            kept.add(model_token(named[0].aaguid))
        ca_names = tuple(sorted(kept))
        # Entries that list this certificate by key identifier (a U2F entry of the same
        # batch as a FIDO2 model's): not the model, but what makes their batch
        # worthless makes this key so too (policy.admit), and the passkey keeps the key
        # identifier, by which their reports reach it later.
        weighed = {id(model.entry)} | {id(m.entry) for m in alike}
        listed_by = tuple(m for m in listing if id(m.entry) not in weighed)
        if listing and key_identifier is None:
            key_identifier = leaf_key

    # Only a policy that restricts refuses for it: under `any` the passkey list shows it.
    compromised = (
        settings.restricts_authenticators
        and metadata is not None
        and bool(x5c)
        and metadata.attestation_key_compromised(
            [_key_identifier(der) for der in x5c] + _anchors_on_path(model, path)
        )
    )

    model_id = str(aaguid) if aaguid.int != 0 else key_identifier
    return verified, Examined(
        attestation_type=attestation_type(decoded.fmt, decoded.att_stmt, model),
        attested=policy.Attested(
            model_id=model_id,
            model=model,
            verified=chained,
            compromised_certificate=compromised,
            alike=alike,
            listed_by=listed_by,
        ),
        key_identifier=key_identifier,
        ca_names=ca_names,
    )


def attestation_type(
    fmt: str, att_stmt: Mapping[str, Any], model: AuthenticatorModel | None
) -> str:
    """What kind of attestation the statement is (WebAuthn L3 6.5.4): none; self (packed
    without a certificate: signed by the credential key itself); basic; attca (a TPM's
    attestation CA); anonca (Apple's anonymization CA)."""
    if fmt == "packed":
        return _packed_type(model) if "x5c" in att_stmt else "self"
    return FORMAT_TYPES.get(fmt, "basic")


def _packed_type(model: AuthenticatorModel | None) -> str:
    """Packed with a certificate is basic, unless the metadata says the model attests
    through an attestation CA or an anonymization CA only."""
    statement = model.entry.metadata_statement if model is not None else None
    kinds = set(statement.attestation_types or ()) if statement is not None else set()
    if "basic_full" in kinds or not kinds:
        return "basic"
    if "attca" in kinds:
        return "attca"
    if "anonca" in kinds:
        return "anonca"
    return "basic"


def _registration(
    settings: Settings,
    credential: RegistrationResponseJSON,
    client_data: ClientData,
    require_up: bool,
    require_uv: bool,
    roots: dict[str, list[bytes]] | None,
) -> VerifiedRegistration:
    response = credential.response
    try:
        return verify_registration_response(
            credential=RegistrationCredential(
                id=credential.id,
                raw_id=credential.rawId,
                response=AuthenticatorAttestationResponse(
                    client_data_json=response.clientDataJSON,
                    attestation_object=response.attestationObject,
                ),
            ),
            expected_challenge=client_data.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.allowed_origins,
            require_user_presence=require_up,
            require_user_verification=require_uv,
            supported_pub_key_algs=options.ALGORITHMS,
            pem_root_certs_bytes_by_fmt=(
                {AttestationFormat(fmt): pems for fmt, pems in roots.items()} if roots else None
            ),
        )
    except Exception as exc:  # py_webauthn raises several families; all mean "did not verify"
        log.info("registration did not verify: %s", type(exc).__name__)
        raise InvalidCredential() from None


def _x5c(att_stmt: Mapping[str, Any]) -> list[bytes]:
    x5c = att_stmt.get("x5c")
    if x5c is None:
        return []
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, bytes) for c in x5c):
        raise InvalidCredential("The attestation statement's x5c is not a list of certificates.")
    if len(x5c) > MAX_CHAIN:
        raise InvalidCredential("The attestation chain is longer than any authenticator's.")
    return x5c


def _certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except Exception:  # ValueError, but whatever cryptography raises is the input's
        raise InvalidCredential("The attestation certificate is not a DER certificate.") from None


def _key_identifier(der: bytes) -> str:
    """An attestation certificate's key identifier (catalogue.key_identifier), in hex."""
    certificate = _certificate(der)
    try:
        identifier = key_identifier(certificate)
    except Exception:  # an unsupported or malformed key: cryptography's several kinds
        raise InvalidCredential("The attestation certificate's key cannot be read.") from None
    return identifier.hex()


def _certificate_fits(fmt: str, der: bytes, aaguid: uuid.UUID) -> bool:
    """What py_webauthn 3 leaves out of packed and tpm attestation (WebAuthn L3 8.2.1,
    8.3.1): the attestation certificate is no CA, and an AAGUID it names is the
    authenticator data's. Without this check a chain verified for one model of a vendor
    would vouch for any AAGUID the authenticator claims, whose roots the vendor shares
    across its models. Whether the certificate names the AAGUID (never, for the other
    formats): one that names none is judged by _models_alike()."""
    if fmt not in ("packed", "tpm"):
        return False
    certificate = _certificate(der)
    try:
        extensions = certificate.extensions
    except Exception:  # cryptography's several kinds, not all ValueError
        # Duplicate (x509.DuplicateExtension), unsupported names in a SAN
        # (x509.UnsupportedGeneralNameType) or malformed extensions: an authenticator's
        # input, a 400 like any other that does not verify.
        raise InvalidCredential("The attestation certificate's extensions are malformed.") from None
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise InvalidCredential("The attestation certificate is a CA's.")
    try:
        named = extensions.get_extension_for_oid(AAGUID_EXTENSION).value
    except x509.ExtensionNotFound:
        return False
    raw = named.value if isinstance(named, x509.UnrecognizedExtension) else b""
    # An OCTET STRING holding the 16 bytes.
    if raw != b"\x04\x10" + aaguid.bytes:
        raise InvalidCredential("The attestation certificate names another AAGUID.")
    return True


def _ca_names(x5c: list[bytes], model: AuthenticatorModel) -> tuple[str, ...]:
    """The names of the CAs a chain names (catalogue.ca_name_key()): every certificate's
    issuer, every certificate's subject above the first, and those of the claimed
    model's roots the chain verifies to (whatever its certificates call them). By name,
    not only the root the chain verified to: a cross certificate (another root's name
    and key, issued by the root the claimed model lists) puts that other root's models
    among the candidates. Not the leaf's own: an entry listing the attestation
    certificate itself is matched by its name and key (_anchored_elsewhere()), where a
    batch certificate's name alone is often every batch's."""
    names: dict[str, None] = {}
    for index, der in enumerate(x5c):
        certificate = _certificate(der)
        try:
            names[ca_name_key(certificate.issuer)] = None
            if index:
                names[ca_name_key(certificate.subject)] = None
        except Exception:  # a name cryptography cannot decode (ValueError, ...)
            raise InvalidCredential("An attestation certificate's name is malformed.") from None
    for root in model.attestation_roots:
        listed = root_names(root)
        # Not without roots: validate_certificate_chain passes any chain when given none.
        if listed is not None and _chains_to(x5c, [_pem(root)]):
            names[listed[0]] = None
    return tuple(names)


def _anchored_elsewhere(
    token: str, model: AuthenticatorModel, metadata: MetadataService
) -> tuple[AuthenticatorModel, ...]:
    """The models other than the claimed one whose entries list the attestation
    certificate itself as a trust anchor: one of its name and its key (a namesake with
    another key is another certificate)."""
    return tuple(
        other for other in metadata.models_anchored_at(token) if other.entry is not model.entry
    )


def _anchor_token(leaf: bytes, key: str) -> str:
    """The attestation certificate as an entry would list it as an anchor (`key`: its
    key identifier, hex)."""
    try:
        name = ca_name_key(_certificate(leaf).subject)
    except Exception:  # a name cryptography cannot decode (ValueError, ...)
        raise InvalidCredential("An attestation certificate's name is malformed.") from None
    return anchor_token(name, key)


def _named_models(leaf: bytes, metadata: MetadataService) -> tuple[AuthenticatorModel, ...]:
    """The models that carry the AAGUID a certificate's AAGUID extension names (one,
    unless the metadata lets two carry it); none when it names none, or a value that is
    no AAGUID."""
    try:
        named = _certificate(leaf).extensions.get_extension_for_oid(AAGUID_EXTENSION).value
    except Exception:  # none, or extensions cryptography cannot read: names no model
        return ()
    raw = named.value if isinstance(named, x509.UnrecognizedExtension) else b""
    if len(raw) != 18 or raw[:2] != b"\x04\x10":
        return ()
    aaguid = uuid.UUID(bytes=raw[2:])
    return metadata.models_of_aaguid(aaguid) if aaguid.int != 0 else ()


def _anchors_on_path(model: AuthenticatorModel | None, path: frozenset[str]) -> list[str]:
    """The key identifiers (hex) of the claimed model's trust anchors that are on the
    chain's path (named among `path`): an ATTESTATION_KEY_COMPROMISE report may name one
    that x5c left out."""
    found: list[str] = []
    for der in model.attestation_roots if model is not None else ():
        listed = root_names(der)
        # One whose name cannot be read may be on the path: it is checked too.
        if listed is None or listed[0] in path:
            key = certificate_key(der)
            if key is not None:  # an unreadable key: no report can name it
                found.append(key)
    return found


def _models_alike(
    ca_names: tuple[str, ...],
    model: AuthenticatorModel,
    metadata: MetadataService,
    x5c: list[bytes],
    listing: tuple[AuthenticatorModel, ...],
) -> tuple[AuthenticatorModel, ...] | None:
    """What a chain that verified to one of the claimed model's roots proves when its
    attestation certificate neither names the claimed AAGUID nor is listed by the model's
    entry alone: only the claim ties it to the model, and a vendor's root usually serves several
    of its models (WebAuthn L3 8.2.1: the AAGUID extension MUST then be present, yet
    Windows Hello's TPM keys omit it). So: the other models whose entries list a root
    named as one of the chain's CAs, each as likely as the claimed one (empty: the model
    alone). None (nothing proven) when one of them names itself by neither AAGUID nor key
    identifier (a UAF authenticator's entry), which the policy could not judge by name;
    when the claimed model, or an entry listing the certificate (`listing`), is not
    among them; or when a root whose name cannot be read verifies the chain."""
    under = metadata.models_under(ca_names)
    alike = tuple(m for m in under if m.entry is not model.entry)
    if any(m.model_id is None for m in alike) or len(alike) == len(under):
        # The claimed model must be among them (its root verified the chain); were it
        # not, its root's other models could be missing too: nothing is proven.
        return None
    entries = {id(m.entry) for m in under}
    if any(id(m.entry) not in entries for m in listing):
        # An entry lists the attestation certificate itself, yet none of its roots is
        # named: it is the certificate's model more surely than any, and a passkey
        # could not find it again by names.
        return None
    # With the claimed model's anchors as intermediates: the path may run through one
    # that x5c leaves out.
    through = x5c + list(model.attestation_roots)
    if any(_chains_to(through, [_pem(der)]) for der in metadata.unnamed_roots):
        # A root no name could be read from verifies the chain: its models are not
        # found by name.
        return None
    return alike


def _chains_to(x5c: list[bytes], roots: list[bytes]) -> bool:
    """The chain verifies to one of `roots` alone (py_webauthn's own chain check)."""
    try:
        return validate_certificate_chain(x5c=x5c, pem_root_certs_bytes=roots)
    except InvalidCertificateChain:
        return False


def _pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


def _discoverable(extension_results: dict[str, Any]) -> bool | None:
    """credProps.rk: True/False when the browser says, None when it does not."""
    cred_props = extension_results.get("credProps")
    if isinstance(cred_props, dict) and isinstance(cred_props.get("rk"), bool):
        return bool(cred_props["rk"])
    return None
