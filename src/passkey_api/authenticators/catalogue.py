"""One verified version of the metadata, indexed: an authenticator model found by its
AAGUID, or, for an old U2F key (which has none), by its attestation certificate's key
identifier (no I/O)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from cryptography import x509
from fido2.mds3 import (
    MetadataBlobPayload,
    MetadataBlobPayloadEntry,
    StatusReport,
)


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
    def model_id(self) -> str | None:
        """How a passkey names the model: its AAGUID (canonical text), or for a U2F model
        its first attestation key identifier (hex, the one Catalogue.compromise() finds
        it by); None for an entry with neither (a UAF authenticator's)."""
        if self.aaguid is not None:
            return str(self.aaguid)
        return self.key_identifiers[0].hex() if self.key_identifiers else None

    @property
    def names(self) -> frozenset[str]:
        """Every id an allow-list may name the model by: its AAGUID, each of its key
        identifiers."""
        found = {identifier.hex() for identifier in self.key_identifiers}
        if self.aaguid is not None:
            found.add(str(self.aaguid))
        return frozenset(found)

    @property
    def status(self) -> str | None:
        """The status of the latest report in effect (FIDO_CERTIFIED_L1, REVOKED, ...)."""
        return _latest_in_effect(self.status_reports, lambda status: True)

    @property
    def certification(self) -> str | None:
        """The status of the latest certification report in effect: NOT_FIDO_CERTIFIED or
        a FIDO_CERTIFIED level; None when there is none. Reports of another kind
        (UPDATE_AVAILABLE, SELF_ASSERTION_SUBMITTED, RETIRED, FIPS140_CERTIFIED_*, and the
        compromise statuses, which policy.py weighs whenever they came) say nothing of
        whether the model is certified."""
        return _latest_in_effect(self.status_reports, _is_certification)

    @property
    def distrusted(self) -> tuple[str, ...]:
        """The statuses that make any attestation of this model worthless, whatever the
        policy beyond `any` (policy.py): REVOKED, and ATTESTATION_KEY_COMPROMISE for the
        whole model (no certificate named, an unreadable one, or a CA's, whose
        attestation certificates are not known). A report naming an attestation
        certificate is Catalogue.attestation_key_compromised()'s."""
        found: set[str] = set()
        for report in self.status_reports:
            status = str(report.status.value)
            if status == "REVOKED":
                found.add(status)
            elif status == "ATTESTATION_KEY_COMPROMISE":
                named = _named_certificate(report)
                if named is None or named[1]:
                    found.add(status)
        return tuple(sorted(found))


def _is_certification(status: str) -> bool:
    return status == "NOT_FIDO_CERTIFIED" or status.startswith("FIDO_CERTIFIED")


def _latest_in_effect(reports: Sequence[StatusReport], kind: Callable[[str], bool]) -> str | None:
    """The status of the latest report of `kind` in effect today (FIDO Metadata Service
    3.0, 3.1.3): one dated in the future is not yet; an undated one is in effect while
    the metadata carries it, so it is the latest; the metadata's order breaks ties."""
    today = datetime.now(UTC).date()
    in_effect = [
        (report.effective_date is None, report.effective_date or today, order, report)
        for order, report in enumerate(reports)
        if kind(str(report.status.value))
        and (report.effective_date is None or report.effective_date <= today)
    ]
    if not in_effect:
        return None
    return str(max(in_effect, key=lambda found: found[:3])[3].status.value)


# The status reports that say a model's authenticators can no longer be trusted (FIDO
# Metadata Service 3.0, 3.1.4): an attestation key or user keys extracted, user
# verification bypassed, or the model revoked. `certified` refuses a model ever so
# reported (policy.py); the passkey list shows them and sign-in may refuse them.
COMPROMISE_STATUSES = frozenset(
    {
        "ATTESTATION_KEY_COMPROMISE",
        "USER_VERIFICATION_BYPASS",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
        "REVOKED",
    }
)


# What each report means for the owner of such an authenticator, in words.
STATUS_WORDS = {
    "ATTESTATION_KEY_COMPROMISE": "its attestation key was compromised, so counterfeit "
    "keys can pass for it",
    "USER_VERIFICATION_BYPASS": "its PIN or fingerprint check can be bypassed",
    "USER_KEY_REMOTE_COMPROMISE": "the keys it holds can be extracted remotely",
    "USER_KEY_PHYSICAL_COMPROMISE": "the keys it holds can be extracted by someone who "
    "has it in hand",
    "REVOKED": "it was revoked by the FIDO Alliance",
}


Scope = Literal["model", "certificate", "shared_root"]


@dataclass(frozen=True)
class Compromise:
    """The latest compromise report of the metadata that applies to one passkey."""

    status: str
    since: date | None
    # "model": the report is for the whole model, or names an attestation certificate
    # that the passkey cannot be matched against (it stored no certificate: every passkey
    # of an AAGUID model), and is taken as the whole model's. "certificate": the report
    # names the attestation certificate this passkey's attestation was signed with
    # (matched by key identifier, as U2F keys store it). "shared_root": the report is of
    # another model that the passkey's attestation could not be told apart from (its
    # certificate named no model, under a root both models list), taken as its own.
    scope: Scope
    # The model, as the metadata describes it (or its AAGUID / key identifier).
    model: str
    model_id: str

    @property
    def words(self) -> str:
        """`"Model X" is reported compromised: its PIN ... bypassed (since 2025-01-01)`."""
        since = f" (since {self.since.isoformat()})" if self.since else ""
        which = {
            "model": f'"{self.model}"',
            "certificate": "the batch of its attestation certificate",
            "shared_root": f'"{self.model}", a model this passkey\'s attestation could not '
            "be told apart from",
        }[self.scope]
        why = STATUS_WORDS.get(self.status, self.status)
        return f"The FIDO Metadata Service reports {which}: {why}{since}"


@dataclass(frozen=True)
class _Reported:
    """One compromise report of a model: when, and the certificate it names, if any."""

    status: str
    since: date | None
    order: int
    # The named certificate's key identifier (hex), and whether it is a CA's (a root or
    # intermediate: which attestation certificates chain to it is not stored).
    certificate: tuple[str, bool] | None


@dataclass(frozen=True)
class _CompromisedModel:
    name: str
    model_id: str
    reports: tuple[_Reported, ...]
    # The entry's (id()): one model, however many key identifiers name it.
    entry: int
    # The names of the roots its entry lists (ca_name_key()), and of the attestation
    # certificates and the AAGUID it can be found by (anchor_token(), model_token()).
    roots: frozenset[str]

    def applying(
        self, key_identifier: str | None, *, shared: bool
    ) -> list[tuple[_Reported, Scope]]:
        """The reports that apply to a passkey of this model (`shared`: of a model its
        attestation could not be told apart from, whose certificate it did not store)
        with this attestation key identifier (None: the passkey stored none)."""
        applies: list[tuple[_Reported, Scope]] = []
        for report in self.reports:
            if shared:
                applies.append((report, "shared_root"))
            elif report.certificate is None or key_identifier is None or report.certificate[1]:
                applies.append((report, "model"))
            elif report.certificate[0] == key_identifier:
                applies.append((report, "certificate"))
            # else: it names another attestation certificate of the model than this one's
        return applies

    def for_passkey(self, key_identifier: str | None, *, shared: bool = False) -> Compromise | None:
        """The latest report of applying(): by effective date, the metadata's order
        breaking ties. An undated report is no later than a dated one here, unlike
        for certification (_latest_in_effect(), which asks what is in effect today): any
        report at all refuses, and what the list shows is the newest news of the model."""
        applies = self.applying(key_identifier, shared=shared)
        if not applies:
            return None
        latest, scope = max(applies, key=lambda pair: (_dated(pair[0].since), pair[0].order))
        return Compromise(latest.status, latest.since, scope, self.name, self.model_id)

    def signature(self) -> tuple[object, ...]:
        """What decides whether two versions report the model alike."""
        return (tuple((r.status, r.since, r.certificate) for r in self.reports), self.roots)


def _dated(since: date | None) -> date:
    return since or date.min


def ca_name_key(name: x509.Name) -> str:
    """How a passkey keeps the name of a CA its attestation chain named, and how the
    metadata's roots are matched against it: the SHA-256 (hex) of the name's attributes
    in order, each value case-folded, trimmed, its runs of white space made one. A chain
    is built by names compared so (RFC 5280 7.1, OpenSSL's canonical names), not by their
    DER, whose string types, case and spaces may differ between a certificate's issuer
    and its CA's subject. A root is matched by its name, not its bytes: a re-issued copy
    (other dates, serial, or key) and a cross certificate are the same CA to a chain.
    Names that differ only so are taken as one (more candidates, never fewer). Raises
    what cryptography raises for a value it cannot decode."""
    text = "\n".join(
        "\t".join(
            sorted(
                f"{attribute.oid.dotted_string}="
                + (
                    " ".join(attribute.value.casefold().split())
                    if isinstance(attribute.value, str)
                    else attribute.value.hex()
                )
                for attribute in rdn
            )
        )
        for rdn in name.rdns
    )
    return hashlib.sha256(text.encode()).hexdigest()


def key_identifier(certificate: x509.Certificate) -> bytes:
    """A certificate's key identifier as MDS3 lists a U2F model's attestation
    certificates and names a compromised one: the SHA-1 of its subjectPublicKey (RFC
    5280 4.2.1.2 (1)). Raises what cryptography raises for a key it cannot read."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _named_certificate(report: StatusReport) -> tuple[str, bool] | None:
    der = report.certificate or report.batch_certificate
    if not der:
        return None
    try:
        certificate = x509.load_der_x509_certificate(der)
        identifier = key_identifier(certificate)
        try:
            ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
    except Exception:  # unreadable: who it names cannot be told, so the whole model
        return ("", True)
    return identifier.hex(), bool(ca)


def _compromised(
    entry: MetadataBlobPayloadEntry, name: str, model_id: str, roots: frozenset[str]
) -> _CompromisedModel:
    reports = tuple(
        _Reported(
            str(report.status.value),
            report.effective_date,
            order,
            _named_certificate(report)
            if str(report.status.value) == "ATTESTATION_KEY_COMPROMISE"
            else None,
        )
        for order, report in enumerate(entry.status_reports)
        if str(report.status.value) in COMPROMISE_STATUSES
    )
    return _CompromisedModel(name, model_id, reports, id(entry), roots)


def root_names(der: bytes) -> tuple[str, str] | None:
    """The subject's and the issuer's name (ca_name_key()) of a root the metadata lists;
    None for an unreadable one (it can verify no chain)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        return ca_name_key(certificate.subject), ca_name_key(certificate.issuer)
    except Exception:  # malformed metadata must not stop the catalogue
        return None


def anchor_token(name: str, key_identifier: str) -> str:
    """How an attestation certificate listed as a trust anchor is found and kept: its
    name (ca_name_key()) and its key identifier (hex)."""
    return f"{name}#{key_identifier}"


MODEL_PREFIX = "aaguid:"


def model_token(aaguid: uuid.UUID) -> str:
    """How a model an attestation certificate names by AAGUID is found and kept."""
    return f"{MODEL_PREFIX}{aaguid}"


def certificate_key(der: bytes) -> str | None:
    """A listed certificate's key identifier (hex); None when its key cannot be read."""
    try:
        return key_identifier(x509.load_der_x509_certificate(der)).hex()
    except Exception:  # an unreadable key: matches no certificate
        return None


def _is_ca(der: bytes) -> bool:
    try:
        certificate = x509.load_der_x509_certificate(der)
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except Exception:  # no BasicConstraints, or unreadable: no CA
        return False


class Catalogue:
    """The entries of one BLOB version, by AAGUID and by key identifier. Lookups see
    every entry, revoked ones too: what a status means is the policy's to decide."""

    def __init__(self, payload: MetadataBlobPayload) -> None:
        self.payload = payload
        # The entries of each AAGUID and each key identifier (the metadata should let
        # one only; one that two carry names neither), revoked ones too. Nothing here
        # verifies an attestation: the chain is ceremonies/attestation.py's, and what
        # compromise and revocation reports refuse is policy.py's.
        self._by_aaguid: dict[bytes, list[MetadataBlobPayloadEntry]] = {}
        self._by_key_identifier: dict[bytes, list[MetadataBlobPayloadEntry]] = {}
        for entry in payload.entries:
            if entry.aaguid:
                self._by_aaguid.setdefault(bytes(entry.aaguid), []).append(entry)
            for identifier in set(entry.attestation_certificate_key_identifiers or ()):
                self._by_key_identifier.setdefault(identifier, []).append(entry)
        self._models: dict[int, AuthenticatorModel] = {}
        self._order = {id(entry): order for order, entry in enumerate(payload.entries)}
        # The entries that list each attestation root, by its name: a vendor's root
        # usually serves several of its models. And the issuers of those that are not
        # self-issued: MDS3 lets an entry list an intermediate (or the attestation
        # certificate itself) as its trust anchor, and a chain to it reaches its issuer
        # too, whose models it could equally be of (closure()).
        self._by_root_name: dict[str, list[MetadataBlobPayloadEntry]] = {}
        self._issuers: dict[str, set[str]] = {}
        # Listed roots whose names cryptography cannot read (OpenSSL, which verifies the
        # chains, may): a chain that verifies to one proves no model by name
        # (ceremonies/attestation.py).
        unnamed: list[bytes] = []
        roots_of: dict[int, frozenset[str]] = {}
        for entry in payload.entries:
            statement = entry.metadata_statement
            listed = statement.attestation_root_certificates or () if statement else ()
            held: set[str] = set()
            for der in listed:
                found = root_names(der)
                if found is None:
                    unnamed.append(der)
                    continue
                held.add(found[0])
                if _is_ca(der):
                    # A CA's issuer is above every chain through it.
                    if found[1] != found[0]:
                        self._issuers.setdefault(found[0], set()).add(found[1])
                elif (key := certificate_key(der)) is not None:
                    # An attestation certificate listed as an anchor: that certificate
                    # (its name and key), not every batch certificate of its name.
                    held.add(anchor_token(found[0], key))
            if entry.aaguid:
                # The model an attestation certificate names (a U2F statement's).
                held.add(model_token(uuid.UUID(bytes=bytes(entry.aaguid))))
            roots_of[id(entry)] = frozenset(held)
            for subject in held:
                self._by_root_name.setdefault(subject, []).append(entry)
        self.unnamed_roots = tuple(unnamed)
        # What the CA names reach, for the refresh to tell whether it changed.
        self.issuer_edges = frozenset(
            (subject, issuer) for subject, issuers in self._issuers.items() for issuer in issuers
        )
        # The key identifiers (hex) of the certificates that ATTESTATION_KEY_COMPROMISE
        # reports name, of every entry: a chain holding one proves nothing.
        self.compromised_attestation_keys = frozenset(
            named[0]
            for entry in payload.entries
            for report in entry.status_reports
            if str(report.status.value) == "ATTESTATION_KEY_COMPROMISE"
            and (named := _named_certificate(report)) is not None
            and named[0]
        )
        # The models reported compromised, by the text a passkey stores (its AAGUID,
        # canonical; a U2F key's key identifier, hex): what a sign-in looks up, in a
        # dict lookup, when PASSKEY_COMPROMISED_AUTHENTICATORS=refuse. Every entry of
        # an id: the metadata should not name two models alike, and if it does, a
        # passkey answers for both.
        self.compromised_by_aaguid: dict[str, list[_CompromisedModel]] = {}
        self.compromised_by_key_identifier: dict[str, list[_CompromisedModel]] = {}
        # The same, by entry (id()): a model another passkey could be (_reporting()),
        # named as AuthenticatorModel.model_id names it.
        self._compromised_by_entry: dict[int, _CompromisedModel] = {}
        for entry in payload.entries:
            if not any(str(r.status.value) in COMPROMISE_STATUSES for r in entry.status_reports):
                continue
            statement = entry.metadata_statement
            roots = roots_of[id(entry)]
            ids = (
                [(str(uuid.UUID(bytes=bytes(entry.aaguid))), self.compromised_by_aaguid)]
                if entry.aaguid
                else []
            )
            ids += [
                (identifier.hex(), self.compromised_by_key_identifier)
                for identifier in entry.attestation_certificate_key_identifiers or ()
            ]
            for model_id, by_id in ids:
                name = (statement.description if statement else None) or model_id
                reported = _compromised(entry, name, model_id, roots)
                by_id.setdefault(model_id, []).append(reported)
                self._compromised_by_entry.setdefault(id(entry), reported)
            if id(entry) not in self._compromised_by_entry:
                # Neither AAGUID nor key identifier (a UAF authenticator's entry): no
                # passkey is of it, but one whose chain it could be of answers for it.
                model_id = f"aaid:{entry.aaid}" if entry.aaid else "unnamed"
                name = (statement.description if statement else None) or model_id
                self._compromised_by_entry[id(entry)] = _compromised(entry, name, model_id, roots)
        # What every reported entry says, to tell whether a new version changed it.
        self.reported_entries = frozenset(
            (reported.model_id, reported.signature())
            for reported in self._compromised_by_entry.values()
        )

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
        return self._model(self._last(self._by_aaguid.get(value.bytes)))

    def models_of_aaguid(self, aaguid: uuid.UUID) -> tuple[AuthenticatorModel, ...]:
        """Every model that carries this AAGUID (the metadata should let one only)."""
        return tuple(
            model
            for entry in self._by_aaguid.get(aaguid.bytes, ())
            if (model := self._model(entry)) is not None
        )

    def models_listing(self, identifier: bytes) -> tuple[AuthenticatorModel, ...]:
        """The models whose entries list this attestation certificate key identifier."""
        return tuple(
            model
            for entry in self._by_key_identifier.get(identifier, ())
            if (model := self._model(entry)) is not None
        )

    def by_key_identifier(self, identifier: bytes) -> AuthenticatorModel | None:
        """The U2F model one of whose attestation certificates has this key identifier."""
        return self._model(self._last(self._by_key_identifier.get(identifier)))

    @staticmethod
    def _last(
        entries: list[MetadataBlobPayloadEntry] | None,
    ) -> MetadataBlobPayloadEntry | None:
        """Of several entries for one id, the last (as fido2's own lookup took it):
        registration proves neither of them (models_of_aaguid, models_listing)."""
        return entries[-1] if entries else None

    def models_anchored_at(self, token: str) -> tuple[AuthenticatorModel, ...]:
        """The models whose entries list this attestation certificate (anchor_token())
        as a trust anchor, or carry this AAGUID (model_token()); no CA above them."""
        return tuple(
            model
            for entry in self._by_root_name.get(token, ())
            if (model := self._model(entry)) is not None
        )

    def closure(self, ca_names: Iterable[str]) -> frozenset[str]:
        """These CA names, and the issuers of the listed roots so named, up to the top:
        every CA a chain naming these is under."""
        found = set(ca_names)
        pending = list(found)
        while pending:
            for issuer in self._issuers.get(pending.pop(), ()):
                if issuer not in found:
                    found.add(issuer)
                    pending.append(issuer)
        return frozenset(found)

    def models_under(self, ca_names: Iterable[str]) -> tuple[AuthenticatorModel, ...]:
        """The models whose entries list a root named as one of these CAs or a CA above
        them (ca_name_key(), closure()): those an attestation chain naming these CAs
        could be of. In the metadata's order."""
        found: dict[int, MetadataBlobPayloadEntry] = {}
        for name in self.closure(ca_names):
            for entry in self._by_root_name.get(name, ()):
                found[id(entry)] = entry
        order = sorted(found.values(), key=lambda entry: self._order[id(entry)])
        return tuple(model for entry in order if (model := self._model(entry)) is not None)

    def compromise(
        self, aaguid: str, key_identifier: str | None, ca_names: Sequence[str] = ()
    ) -> Compromise | None:
        """What the metadata reports of a stored passkey's model (its AAGUID as stored,
        its key identifier if it has one) and of the models its attestation could not be
        told apart from (those under the CAs its chain named, `ca_names`, as it stored
        them), when it reports one compromised: the latest such report, its own model's
        when two are as late. In memory: a few dict lookups, and for a passkey that keeps
        CA names, a walk of the CAs above them and the entries under those."""
        latest: Compromise | None = None
        for model, shared in self._reporting(aaguid, key_identifier, ca_names):
            found = model.for_passkey(key_identifier, shared=shared)
            if found is not None and (latest is None or _dated(found.since) > _dated(latest.since)):
                latest = found
        return latest

    def reported(
        self, aaguid: str, key_identifier: str | None, ca_names: Sequence[str] = ()
    ) -> tuple[object, ...]:
        """What decides whether two versions report a stored passkey alike: every report
        that applies to it, of every model compromise() weighs (not only the latest, which
        an older report may outrank)."""
        # As text: an undated report's None cannot be ordered with a date.
        return tuple(
            sorted(
                (
                    model.model_id,
                    tuple(
                        (r.status, r.since.isoformat() if r.since else "", scope)
                        for r, scope in model.applying(key_identifier, shared=shared)
                    ),
                )
                for model, shared in self._reporting(aaguid, key_identifier, ca_names)
                if model.applying(key_identifier, shared=shared)
            )
        )

    def _reporting(
        self, aaguid: str, key_identifier: str | None, ca_names: Sequence[str]
    ) -> list[tuple[_CompromisedModel, bool]]:
        """The reported models a stored passkey answers for: its own (False), and those
        under the CAs its chain named (True)."""
        # By its AAGUID, and by its attestation certificate's key identifier when an
        # entry lists it (a U2F key's model; a U2F entry of a FIDO2 key's batch).
        own: list[_CompromisedModel] = []
        seen: set[int] = set()
        by_key = self.compromised_by_key_identifier.get(key_identifier or "", [])
        # And the model its certificate names (a FIDO2 key's, over U2F): as its own,
        # with the same certificate, not as a model it merely could be.
        named = [
            reported
            for name in ca_names
            if name.startswith(MODEL_PREFIX)
            for reported in self.compromised_by_aaguid.get(name[len(MODEL_PREFIX) :], [])
        ]
        ca_names = [name for name in ca_names if not name.startswith(MODEL_PREFIX)]
        for reported in [*self.compromised_by_aaguid.get(aaguid, []), *by_key, *named]:
            if reported.entry not in seen:
                seen.add(reported.entry)
                own.append(reported)
        found = [(reported, False) for reported in own]
        if ca_names:
            for model in self.models_under(ca_names):
                other = self._compromised_of(model)
                if other is not None and other.entry not in seen:
                    seen.add(other.entry)
                    found.append((other, True))
        return found

    def _compromised_of(self, model: AuthenticatorModel) -> _CompromisedModel | None:
        return self._compromised_by_entry.get(id(model.entry))

    def attestation_key_compromised(self, key_identifiers: Iterable[str]) -> bool:
        """Whether an ATTESTATION_KEY_COMPROMISE report of any entry names a certificate
        with one of these keys (key identifiers in hex: an attestation chain's)."""
        return not self.compromised_attestation_keys.isdisjoint(key_identifiers)

    def by_passkey(self, aaguid: str, key_identifier: str | None) -> AuthenticatorModel | None:
        """A stored passkey's model: by its AAGUID, or by its key identifier (U2F)."""
        try:
            model = self.by_aaguid(aaguid)
        except ValueError:
            model = None
        # By key identifier only for a key without an AAGUID: a FIDO2 key keeps one when
        # a U2F entry of its batch lists it, which is not its model.
        if model is None and key_identifier is not None and aaguid == str(uuid.UUID(int=0)):
            try:
                model = self.by_key_identifier(bytes.fromhex(key_identifier))
            except ValueError:
                return None
        return model

    def _model(self, entry: MetadataBlobPayloadEntry | None) -> AuthenticatorModel | None:
        if entry is None:
            return None
        model = self._models.get(id(entry))
        if model is None:
            model = self._models[id(entry)] = AuthenticatorModel.of(entry)
        return model
