"""One verified version of the metadata, indexed: an authenticator model found by its
AAGUID, or, for an old U2F key (which has none), by its attestation certificate's key
identifier (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from cryptography import x509
from fido2.mds3 import (
    MdsAttestationVerifier,
    MetadataBlobPayload,
    MetadataBlobPayloadEntry,
    StatusReport,
)
from fido2.webauthn import Aaguid


@dataclass(frozen=True)
class AuthenticatorModel:
    """What the metadata says of one authenticator model."""

    description: str | None
    # A data: URL (PNG), as the metadata carries it.
    icon: str | None
    aaguid: uuid.UUID | None
    # Key identifiers (SHA-1 of the public key) of a U2F model's attestation certificates.
    key_identifiers: tuple[bytes, ...]
    # Oldest first, as the metadata lists them; the last says where the model stands.
    status_reports: tuple[StatusReport, ...]
    # DER: the roots a genuine authenticator of this model's attestation chains to.
    attestation_roots: tuple[bytes, ...]
    # fido2's entry itself, for what the fields above leave out.
    entry: MetadataBlobPayloadEntry

    @classmethod
    def of(cls, entry: MetadataBlobPayloadEntry) -> AuthenticatorModel:
        statement = entry.metadata_statement
        return cls(
            description=statement.description if statement else None,
            icon=statement.icon if statement else None,
            aaguid=uuid.UUID(bytes=bytes(entry.aaguid)) if entry.aaguid else None,
            key_identifiers=tuple(entry.attestation_certificate_key_identifiers or ()),
            status_reports=tuple(entry.status_reports),
            attestation_roots=tuple(statement.attestation_root_certificates if statement else ()),
            entry=entry,
        )

    @property
    def status(self) -> str | None:
        """The latest status report's status (FIDO_CERTIFIED_L1, REVOKED, ...)."""
        if not self.status_reports:
            return None
        latest = max(
            enumerate(self.status_reports),
            key=lambda pair: (pair[1].effective_date or date.min, pair[0]),
        )
        return str(latest[1].status.value)


class Catalogue:
    """The entries of one BLOB version, by AAGUID and by key identifier. Lookups see
    every entry, revoked ones too: what a status means is the policy's to decide."""

    def __init__(self, payload: MetadataBlobPayload) -> None:
        self.payload = payload
        # fido2's verifier, without its default filters (they hide revoked models), is
        # also what the attestation check at registration can build on.
        self.verifier = MdsAttestationVerifier(payload, entry_filter=None, attestation_filter=None)
        self._models: dict[int, AuthenticatorModel] = {}
        self._by_key_identifier: dict[bytes, MetadataBlobPayloadEntry] = {
            identifier: entry
            for entry in payload.entries
            for identifier in entry.attestation_certificate_key_identifiers or ()
        }

    @property
    def number(self) -> int:
        return self.payload.no

    @property
    def next_update(self) -> date:
        return self.payload.next_update

    def __len__(self) -> int:
        return len(self.payload.entries)

    def by_aaguid(self, aaguid: uuid.UUID | str) -> AuthenticatorModel | None:
        """The model of an AAGUID; None for the zero AAGUID (no model: U2F keys, and
        authenticators that do not tell) and for a model the metadata does not list."""
        value = aaguid if isinstance(aaguid, uuid.UUID) else uuid.UUID(aaguid)
        if value.int == 0:
            return None
        return self._model(self.verifier.find_entry_by_aaguid(Aaguid(value.bytes)))

    def by_key_identifier(self, identifier: bytes) -> AuthenticatorModel | None:
        """The U2F model one of whose attestation certificates has this key identifier."""
        return self._model(self._by_key_identifier.get(identifier))

    def by_certificate_chain(self, chain: Sequence[bytes]) -> AuthenticatorModel | None:
        """The U2F model whose key identifiers name a certificate of this attestation
        chain (DER, the attestation certificate first)."""
        for der in chain:
            certificate = x509.load_der_x509_certificate(der)
            identifier = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
            found = self.by_key_identifier(identifier.digest)
            if found is not None:
                return found
        return None

    def _model(self, entry: MetadataBlobPayloadEntry | None) -> AuthenticatorModel | None:
        if entry is None:
            return None
        model = self._models.get(id(entry))
        if model is None:
            model = self._models[id(entry)] = AuthenticatorModel.of(entry)
        return model
