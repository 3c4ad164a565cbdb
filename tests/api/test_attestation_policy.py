"""Verified attestation at registration and the authenticator policy, on both backends:
a vendor's attestation root (tests/mds_forge.py) named by entries of a BLOB signed under
the test's own metadata root, authenticators (tests/softauthn.py) that attest packed with
a certificate under it, packed self attestation, fido-u2f, or none; what is stored per
passkey, and what each policy and the allow-list refuse (403 authenticator_not_allowed,
nothing written) in a sign-up, in adding a passkey, and in a recovery session."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cbor2
import httpx
import pytest
from cryptography import x509
from sqlalchemy import text

from tests import mds_forge as forge
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode

# The tests make each metadata pass themselves, on a database with none stored.
pytestmark = pytest.mark.usefixtures("metadata_by_hand", "no_stored_metadata")

KEY_A = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a01")
KEY_B = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a02")
UNCERTIFIED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a03")
COMPROMISED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a04")
ONCE_BYPASSED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a05")
UNLISTED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a06")
# The only model listing its vendor's root (World.sole_vendor).
SOLE = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a07")
# A model that lists the key identifier of its batch certificate (World.listed_batch).
LISTED_BATCH = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a08")
# A model one of whose batch certificates (World.leaked) is reported compromised.
LEAKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a09")
REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a0a")
# Two models of World.twin_vendor: one lists its root, the other (revoked) a re-issued
# copy of it (the same subject and key, another serial).
TWIN = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a0d")
TWIN_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a0e")
# Two certified models of World.pair_vendor, which both list its root (as Windows Hello's
# models list Microsoft's); and two of World.mixed_vendor, the second not certified.
PAIR_A = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a0f")
PAIR_B = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a10")
MIXED_A = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a11")
MIXED_B = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a12")
# A vendor's root rollover: two models list its first root, a revoked one its second;
# the second root's cross certificate, issued by the first (World.cross).
OLD_A = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a13")
OLD_B = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a14")
NEW_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a15")
# A model that lists an intermediate CA and its root as trust anchors (MDS3 allows it),
# and a revoked one that lists the root alone (World.anchor_ca).
ANCHORED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a16")
ROOT_ONLY_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a17")
# Two models of World.batch_vendor whose entries both list one batch certificate's key
# identifier (World.twice_listed), the second revoked.
BATCH_A = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a18")
BATCH_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a19")
# A model of World.leaf_vendor, and a revoked one that lists one of that vendor's batch
# certificates itself as its trust anchor (MDS3 allows it; World.anchored_leaf).
LEAF_VENDOR_KEY = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a1a")
LEAF_LISTED_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a1b")
# The only model listing World.lone_vendor's root, and one under another root whose entry
# lists a batch certificate of that vendor by key identifier (World.listed_elsewhere).
LONE = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a1c")
LISTS_IT_ELSEWHERE = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a1d")
# A model of World.odd_vendor, and a revoked one listing a copy of its root whose name
# OpenSSL reads as the same and cryptography cannot read (World.odd_copy).
ODD = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a1e")
ODD_COPY_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a1f")
# A model that lists an intermediate CA of Odd Key's root and that root (World.odd_ca).
ODD_VIA_CA = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a20")
# An AAGUID two entries carry: first a revoked model's, then a certified one's under
# World.dup_vendor's root.
DUPLICATED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a21")
# A revoked model whose entry lists a U2F key's batch certificate itself as its trust
# anchor (World.u2f_anchored), which a U2F model's entry lists by key identifier.
U2F_ANCHOR_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a22")
# A FIDO2 model whose batch certificates name it, and a revoked U2F entry that lists one
# of them by key identifier (World.batch_named).
BATCH_NAMED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a23")
# A model whose certificate names it, another entry listing that certificate itself as
# its anchor, and a revoked sibling under their root (World.named_anchored).
NAMED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a24")
NAMED_ANCHOR = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a25")
NAMED_SIBLING_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a26")
# A revoked FIDO2 model whose certificates name it, and a U2F entry of the same batch
# (World.fido2_batch), certified.
FIDO2_REVOKED = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a27")
# A certified FIDO2 model whose batch a U2F entry reports USER_VERIFICATION_BYPASS of
# (World.bypassed_batch).
BYPASSED_BATCH_KEY = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a28")
# A FIDO2 model one of whose batch certificates is reported compromised, and a U2F
# entry listing another of its batches (World.face_batch).
FACE = uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a2a")
NOT_ALLOWED = "authenticator_not_allowed"


@pytest.fixture
def fast_paths() -> bool:
    """The policy is the ceremonies' (below the HTTP edge): one way is enough."""
    return True


@dataclass
class World:
    """The metadata service's PKI, one vendor's attestation PKI, and a BLOB listing the
    vendor's models (their root: the vendor's) in a file the app reads."""

    folder: Path
    mds: forge.MdsPki = field(default_factory=forge.MdsPki.build)
    vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    # A vendor with one model only: its root is listed by SOLE alone.
    sole_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    twin_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    pair_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    mixed_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    first_root: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    second_root: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    cross: forge.Issued = field(init=False)
    anchor_root: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    anchor_ca: forge.AttestationPki = field(init=False)
    batch_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    twice_listed: forge.Issued = field(init=False)
    # A U2F batch certificate whose key identifier two entries list.
    u2f_twice_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    u2f_twice: forge.Issued = field(init=False)
    leaf_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    anchored_leaf: forge.Issued = field(init=False)
    lone_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    listed_elsewhere: forge.Issued = field(init=False)
    odd_vendor: forge.AttestationPki = field(init=False)
    odd_copy: forge.Issued = field(init=False)
    odd_ca: forge.AttestationPki = field(init=False)
    dup_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    u2f_anchored: forge.Issued = field(init=False)
    # A U2F batch certificate of the same name as u2f_anchored, another key: listed by
    # key identifier by its own model's entry.
    u2f_namesake: forge.Issued = field(init=False)
    batch_named_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    batch_named: forge.Issued = field(init=False)
    named_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    named_anchored: forge.Issued = field(init=False)
    fido2_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    fido2_batch: forge.Issued = field(init=False)
    bypassed_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    bypassed_batch: forge.Issued = field(init=False)
    face_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    face_batch: forge.Issued = field(init=False)
    # A batch certificate naming DUPLICATED (an AAGUID two entries carry) that a U2F
    # entry lists.
    dup_batch: forge.Issued = field(init=False)
    u2f_certificate: forge.Issued = field(init=False)
    # A batch certificate of the vendor without the AAGUID extension, whose key
    # identifier LISTED_BATCH's entry lists.
    listed_batch: forge.Issued = field(init=False)
    # LEAKED's batch certificate that its entry reports compromised, and one of Test Key
    # A's that LEAKED's entry reports too (a report names any certificate it names).
    leaked: forge.Issued = field(init=False)
    leaked_key_a: forge.Issued = field(init=False)

    def __post_init__(self) -> None:
        self.u2f_certificate = self.vendor.attestation_certificate()
        self.listed_batch = self.vendor.attestation_certificate()
        self.leaked = self.vendor.attestation_certificate(LEAKED)
        self.leaked_key_a = self.vendor.attestation_certificate(KEY_A)
        self.anchor_ca = forge.AttestationPki(
            forge.issue(
                forge.name_of("Test Vendor Attestation CA"), issuer=self.anchor_root.root, ca=True
            )
        )
        self.twice_listed = self.batch_vendor.attestation_certificate()
        twice = [forge.key_identifier(self.twice_listed.certificate)]
        self.u2f_twice = self.u2f_twice_vendor.attestation_certificate()
        self.anchored_leaf = forge.issue(
            forge.name_of(
                f"Anchored Batch {uuid.uuid4().hex[:8]}",
                organization="Test Vendor",
                unit="Authenticator Attestation",
                country="SE",
            ),
            issuer=self.leaf_vendor.root,
            ca=False,
        )
        self.listed_elsewhere = self.lone_vendor.attestation_certificate()
        self.odd_vendor, self.odd_copy = odd_root()
        anchoring = forge.AttestationPki()
        u2f_batch = forge.name_of(f"U2F Batch {uuid.uuid4().hex[:8]}", organization="Test Vendor")
        self.u2f_anchored = forge.issue(u2f_batch, issuer=anchoring.root, ca=False)
        self.u2f_namesake = forge.issue(u2f_batch, issuer=anchoring.root, ca=False)
        # A third of that name, which only a revoked model's entry lists, as its anchor.
        namesake_anchor = forge.issue(u2f_batch, issuer=anchoring.root, ca=False)
        self.batch_named = self.batch_named_vendor.attestation_certificate(BATCH_NAMED)
        self.named_anchored = self.named_vendor.attestation_certificate(NAMED)
        self.fido2_batch = self.fido2_vendor.attestation_certificate(FIDO2_REVOKED)
        self.bypassed_batch = self.bypassed_vendor.attestation_certificate(BYPASSED_BATCH_KEY)
        self.face_batch = self.face_vendor.attestation_certificate(FACE)
        face_leaked = self.face_vendor.attestation_certificate(FACE)
        self.dup_batch = self.dup_vendor.attestation_certificate(DUPLICATED)
        self.odd_ca = forge.AttestationPki(
            forge.issue(
                forge.name_of(f"Odd CA {uuid.uuid4().hex[:8]}"),
                issuer=self.odd_vendor.root,
                ca=True,
            )
        )
        second = self.second_root.root
        self.cross = forge.issue(
            second.certificate.subject, issuer=self.first_root.root, ca=True, key=second.key
        )
        root = [self.vendor.root.der]
        certified = [forge.status_report("FIDO_CERTIFIED_L1", date(2024, 1, 1))]
        entries = [
            forge.entry(aaguid=KEY_A, description="Test Key A", roots=root),
            forge.entry(aaguid=KEY_B, description="Test Key B", roots=root),
            forge.entry(
                aaguid=UNCERTIFIED,
                description="Uncertified Key",
                roots=root,
                status_reports=[
                    *certified,
                    forge.status_report("NOT_FIDO_CERTIFIED", date(2025, 1, 1)),
                ],
            ),
            forge.entry(
                aaguid=COMPROMISED,
                description="Compromised Key",
                roots=root,
                status_reports=[
                    *certified,
                    forge.status_report("ATTESTATION_KEY_COMPROMISE", date(2025, 1, 1)),
                ],
            ),
            forge.entry(
                aaguid=ONCE_BYPASSED,
                description="Once Bypassed Key",
                roots=root,
                status_reports=[
                    forge.status_report("USER_VERIFICATION_BYPASS", date(2023, 1, 1)),
                    forge.status_report("FIDO_CERTIFIED_L2", date(2024, 6, 1)),
                ],
            ),
            forge.entry(
                key_identifiers=[self.u2f_key_identifier],
                description="Test U2F Key",
                roots=root,
            ),
            forge.entry(aaguid=SOLE, description="Sole Key", roots=[self.sole_vendor.root.der]),
            forge.entry(aaguid=TWIN, description="Twin Key", roots=[self.twin_vendor.root.der]),
            forge.entry(
                aaguid=TWIN_REVOKED,
                description="Revoked Twin Key",
                roots=[
                    forge.issue(
                        self.twin_vendor.root.certificate.subject,
                        ca=True,
                        key=self.twin_vendor.root.key,
                    ).der
                ],
                status_reports=[forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            *(
                forge.entry(
                    aaguid=aaguid,
                    description=description,
                    roots=[pki.root.der],
                    status_reports=reports,
                )
                for aaguid, description, pki, reports in [
                    (PAIR_A, "Pair Key A", self.pair_vendor, certified),
                    (PAIR_B, "Pair Key B", self.pair_vendor, certified),
                    (MIXED_A, "Mixed Key A", self.mixed_vendor, certified),
                    (OLD_A, "Old Key A", self.first_root, certified),
                    (OLD_B, "Old Key B", self.first_root, certified),
                    (
                        NEW_REVOKED,
                        "Revoked New Key",
                        self.second_root,
                        [*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
                    ),
                    (
                        MIXED_B,
                        "Mixed Key B",
                        self.mixed_vendor,
                        [forge.status_report("NOT_FIDO_CERTIFIED", date(2024, 1, 1))],
                    ),
                ]
            ),
            forge.entry(
                aaguid=ANCHORED,
                description="Anchored Key",
                roots=[self.anchor_ca.root.der, self.anchor_root.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=ROOT_ONLY_REVOKED,
                description="Root Only Revoked Key",
                roots=[self.anchor_root.root.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=BATCH_A,
                key_identifiers=twice,
                description="Batch Key A",
                roots=[self.batch_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=BATCH_REVOKED,
                key_identifiers=twice,
                description="Revoked Batch Key",
                roots=[self.batch_vendor.root.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            *(
                forge.entry(
                    key_identifiers=[forge.key_identifier(self.u2f_twice.certificate)],
                    description=description,
                    roots=[self.u2f_twice_vendor.root.der],
                    status_reports=certified,
                )
                for description in ("Twice Listed U2F Key", "Twice Listed U2F Key 2")
            ),
            forge.entry(
                aaguid=LEAF_VENDOR_KEY,
                description="Leaf Vendor Key",
                roots=[self.leaf_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=LEAF_LISTED_REVOKED,
                description="Leaf Listed Revoked Key",
                roots=[self.anchored_leaf.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=LONE,
                description="Lone Key",
                roots=[self.lone_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=LISTS_IT_ELSEWHERE,
                key_identifiers=[forge.key_identifier(self.listed_elsewhere.certificate)],
                description="Lists It Elsewhere Key",
                roots=[forge.AttestationPki().root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=ODD,
                description="Odd Key",
                roots=[self.odd_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.u2f_anchored.certificate)],
                description="Anchored U2F Key",
                roots=[anchoring.root.der],
                status_reports=certified,
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.u2f_namesake.certificate)],
                description="Namesake U2F Key",
                roots=[anchoring.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=uuid.UUID("0e2a4e1c-7a5b-4c53-9d31-2f1a6c0d9a29"),
                description="Namesake Anchor Revoked Key",
                roots=[namesake_anchor.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=U2F_ANCHOR_REVOKED,
                description="U2F Anchor Revoked Key",
                roots=[self.u2f_anchored.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=BATCH_NAMED,
                description="Batch Named Key",
                roots=[self.batch_named_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.batch_named.certificate)],
                description="Revoked Batch U2F Key",
                roots=[self.batch_named_vendor.root.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=FIDO2_REVOKED,
                description="Revoked FIDO2 Key",
                roots=[self.fido2_vendor.root.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.fido2_batch.certificate)],
                description="Its U2F Face",
                roots=[self.fido2_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=FACE,
                description="Face Key",
                roots=[self.face_vendor.root.der],
                status_reports=[
                    *certified,
                    forge.status_report(
                        "ATTESTATION_KEY_COMPROMISE",
                        date(2025, 1, 1),
                        certificate=base64.b64encode(face_leaked.der).decode(),
                    ),
                ],
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.face_batch.certificate)],
                description="Face U2F Key",
                roots=[self.face_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.dup_batch.certificate)],
                description="Duplicated U2F Key",
                roots=[self.dup_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=BYPASSED_BATCH_KEY,
                description="Bypassed Batch Key",
                roots=[self.bypassed_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.bypassed_batch.certificate)],
                description="Bypassed U2F Key",
                roots=[self.bypassed_vendor.root.der],
                status_reports=[
                    *certified,
                    forge.status_report("USER_VERIFICATION_BYPASS", date(2025, 1, 1)),
                ],
            ),
            forge.entry(
                aaguid=NAMED,
                description="Named Key",
                roots=[self.named_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=NAMED_ANCHOR,
                description="Named Anchor Key",
                roots=[self.named_anchored.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=NAMED_SIBLING_REVOKED,
                description="Named Sibling Revoked Key",
                roots=[self.named_vendor.root.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=DUPLICATED,
                description="Duplicated Revoked Key",
                roots=[forge.AttestationPki().root.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=DUPLICATED,
                description="Duplicated Key",
                roots=[self.dup_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=ODD_VIA_CA,
                description="Odd Via CA Key",
                roots=[self.odd_ca.root.der, self.odd_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=ODD_COPY_REVOKED,
                description="Odd Copy Revoked Key",
                roots=[self.odd_copy.der],
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
            forge.entry(
                aaguid=LISTED_BATCH,
                key_identifiers=[forge.key_identifier(self.listed_batch.certificate)],
                description="Listed Batch Key",
                roots=root,
            ),
            forge.entry(
                aaguid=LEAKED,
                description="Leaked Batch Key",
                roots=root,
                status_reports=[
                    *certified,
                    *(
                        forge.status_report(
                            "ATTESTATION_KEY_COMPROMISE",
                            date(2025, 1, 1),
                            certificate=base64.b64encode(leaked.der).decode(),
                        )
                        for leaked in (self.leaked, self.leaked_key_a)
                    ),
                ],
            ),
            forge.entry(
                aaguid=REVOKED,
                description="Revoked Key",
                roots=root,
                status_reports=[*certified, forge.status_report("REVOKED", date(2025, 1, 1))],
            ),
        ]
        (self.folder / "mds-root.pem").write_bytes(self.mds.root.pem)
        (self.folder / "blob.jwt").write_bytes(forge.sign_blob(forge.payload(1, entries), self.mds))

    @property
    def u2f_key_identifier(self) -> bytes:
        return forge.key_identifier(self.u2f_certificate.certificate)

    async def api(self, make_api: ApiFactory, **settings: Any) -> Api:
        """An app with the metadata on and loaded, attestation `direct`, and `settings`."""
        api = await make_api(**(forge.metadata_settings(self.folder) | settings))
        if api.resources.metadata.catalogue is None:  # else loaded at start-up: stored
            async with api.resources.sessionmaker() as db:
                attempt = await api.resources.metadata.refresh(db, datetime.now(UTC))
            assert attempt.updated, attempt.message
        return api

    def packed(
        self,
        aaguid: uuid.UUID,
        pki: forge.AttestationPki | None = None,
        *,
        certificate: forge.Issued | None = None,
    ) -> SoftAuthenticator:
        """A security key of the model `aaguid`, attesting packed with a certificate its
        vendor (or `pki`) issued for that AAGUID, or with `certificate`."""
        certificate = certificate or (pki or self.vendor).attestation_certificate(aaguid)
        return forge.attesting_key(certificate, "packed", aaguid)

    def u2f(self, certificate: forge.Issued | None = None) -> SoftAuthenticator:
        return forge.attesting_key(certificate or self.u2f_certificate, "fido-u2f")


security_key = forge.security_key


def odd_root() -> tuple[forge.AttestationPki, forge.Issued]:
    """A vendor whose root is named "ÿab…" (UTF8String), and a copy of that root (same
    key) naming itself as an IA5String of the byte ff, "ab…" and a space: OpenSSL
    compares names canonically (the byte as U+00FF, the space trimmed), so a chain to the
    one verifies to the other, but cryptography cannot decode the copy's name."""
    tail = uuid.uuid4().hex[:8]
    text = f"ÿab{tail}"
    vendor = forge.AttestationPki(
        forge.issue(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, text)]), ca=True)
    )
    readable = b"\x0c" + bytes([len(text.encode())]) + text.encode()
    odd = b"\xffab" + tail.encode() + b" "
    unreadable = b"\x16" + bytes([len(odd)]) + odd
    tbs = vendor.root.certificate.tbs_certificate_bytes
    assert len(readable) == len(unreadable)
    assert tbs.count(readable) == 2  # subject and issuer
    copy = forge.resigned(vendor.root, vendor.root, tbs.replace(readable, unreadable))
    return vendor, copy


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def stored(api: Api, response: httpx.Response) -> dict[str, Any]:
    """What was stored of the passkey a sign-up made."""
    assert response.status_code == 201, response.text
    async with api.resources.engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT p.attestation_format, p.attestation_type, p.attestation_verified, "
                    "p.attestation_key_identifier, p.aaguid, p.attestation_ca_names "
                    "FROM passkeys p "
                    "JOIN users u ON u.id = p.user_id WHERE u.username = :name"
                ),
                {"name": response.json()["user"]["username"]},
            )
        ).one()
    return {
        "format": row[0],
        "type": row[1],
        "verified": bool(row[2]),
        "key_identifier": row[3],
        "aaguid": row[4],
        # Whether it kept the names of its chain's CAs: its model was left uncertain (JSON:
        # text on both backends, through text()).
        "uncertain": (json.loads(row[5]) if isinstance(row[5], str) else row[5]) != [],
    }


async def could_also_be(api: Api) -> list[str]:
    """What the passkey list says of the newest passkey of the signed-in account."""
    response = await api.client.get("/v1/me/passkeys")
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["passkeys"][-1]["attestation"]["could_also_be"]
    return found


def refused(response: httpx.Response) -> str:
    """The refusal's detail, once it is the policy's."""
    assert response.status_code == 403, response.text
    assert problem_code(response) == NOT_ALLOWED
    detail: str = response.json()["detail"]
    return detail


async def counts(api: Api) -> dict[str, int]:
    return {
        table: await api.scalar(f"SELECT count(*) FROM {table}")  # noqa: S608
        for table in ("users", "passkeys", "sessions", "audit_events")
    }


# --- the default: nothing changes ---------------------------------------------------


async def test_by_default_options_ask_for_none_and_nothing_is_looked_up(
    make_api: ApiFactory, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with the metadata on and holding the model: attestation none, policy any.
    api = await world.api(make_api, attestation="none")
    assert api.settings.authenticator_policy == "any"
    looked_up: list[object] = []
    metadata = api.resources.metadata
    monkeypatch.setattr(metadata, "by_aaguid", lambda *a: looked_up.append(a))
    monkeypatch.setattr(metadata, "by_key_identifier", lambda *a: looked_up.append(a))
    options = await api.post("/v1/registration/options", {"username": new_username()})
    assert options.json()["attestation"] == "none"
    found = await stored(api, await api.sign_up(world.packed(KEY_A)))
    # Its type is what the statement is; its chain was not examined.
    assert found == {
        "format": "packed",
        "type": "basic",
        "verified": False,
        "key_identifier": None,
        "aaguid": str(KEY_A),
        "uncertain": False,
    }
    found = await stored(api, await api.sign_up(world.u2f()))
    assert (found["type"], found["verified"], found["key_identifier"]) == ("basic", False, None)
    assert looked_up == []


async def test_direct_asks_for_the_attestation(make_api: ApiFactory, world: World) -> None:
    api = await world.api(make_api)
    options = await api.post("/v1/registration/options", {"username": new_username()})
    assert options.json()["attestation"] == "direct"
    await api.sign_up(SoftAuthenticator())  # a session, to ask for another passkey
    more = await api.post("/v1/me/passkeys/options", {})
    assert more.json()["attestation"] == "direct"


# --- what is stored ------------------------------------------------------------------


async def test_packed_with_a_chain_to_a_metadata_root_is_basic_and_verified(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    found = await stored(api, await api.sign_up(world.packed(KEY_A)))
    assert found == {
        "format": "packed",
        "type": "basic",
        "verified": True,
        "key_identifier": None,
        "aaguid": str(KEY_A),
        "uncertain": False,
    }


async def test_packed_self_attestation_is_self_and_not_verified(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api)
    key = security_key(aaguid=KEY_A.bytes, attestation="packed")
    found = await stored(api, await api.sign_up(key))
    assert (found["format"], found["type"], found["verified"]) == ("packed", "self", False)

    strict = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await strict.sign_up(security_key(aaguid=KEY_A.bytes, attestation="packed")))
    # Named as what it claims to be: its claim is unproven.
    assert 'it says it is a "Test Key A"' in detail


async def test_fido_u2f_with_its_key_identifier_in_the_metadata_is_verified(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    found = await stored(api, await api.sign_up(world.u2f()))
    assert found == {
        "format": "fido-u2f",
        "type": "basic",
        "verified": True,
        "key_identifier": world.u2f_key_identifier.hex(),
        "aaguid": "00000000-0000-0000-0000-000000000000",
        "uncertain": False,
    }


async def test_fido_u2f_unknown_to_the_metadata_is_not_verified(
    make_api: ApiFactory, world: World
) -> None:
    # Issued by the same vendor root, but its key identifier is not listed.
    unlisted = world.vendor.attestation_certificate()
    api = await world.api(make_api)
    found = await stored(api, await api.sign_up(world.u2f(unlisted)))
    assert (found["type"], found["verified"]) == ("basic", False)
    assert found["key_identifier"] == forge.key_identifier(unlisted.certificate).hex()

    strict = await world.api(make_api, authenticator_policy="attested")
    assert "did not prove" in refused(await strict.sign_up(world.u2f(unlisted)))


async def test_an_untrusted_chain_is_stored_unverified_or_refused(
    make_api: ApiFactory, world: World
) -> None:
    # A certificate for Test Key A's AAGUID under a root the metadata does not list.
    impostor = forge.AttestationPki()
    api = await world.api(make_api)
    found = await stored(api, await api.sign_up(world.packed(KEY_A, impostor)))
    assert (found["type"], found["verified"], found["aaguid"]) == ("basic", False, str(KEY_A))

    strict = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await strict.sign_up(world.packed(KEY_A, impostor)))
    assert 'it says it is a "Test Key A"' in detail


async def test_a_model_the_metadata_does_not_list_is_not_verified(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api)
    found = await stored(api, await api.sign_up(world.packed(UNLISTED)))
    assert (found["type"], found["verified"]) == ("basic", False)
    strict = await world.api(make_api, authenticator_policy="attested")
    assert "This authenticator did not prove" in refused(
        await strict.sign_up(world.packed(UNLISTED))
    )


async def test_a_certificate_for_another_aaguid_does_not_verify(
    make_api: ApiFactory, world: World
) -> None:
    """A certificate the vendor issued for Test Key B, in a key that claims Test Key A:
    the chain reaches the vendor's root (shared by both models), so only the
    certificate's AAGUID extension tells (WebAuthn L3 8.2.1; py_webauthn 3 skips it)."""
    liar = forge.attesting_key(world.vendor.attestation_certificate(KEY_B), "packed", KEY_A)
    api = await world.api(make_api)
    response = await api.sign_up(liar)
    assert response.status_code == 400, response.text
    assert problem_code(response) == "invalid_credential"


async def test_a_certificate_without_an_aaguid_proves_one_of_the_models_its_root_serves(
    make_api: ApiFactory, world: World
) -> None:
    """A vendor certificate without the AAGUID extension in a key that claims Pair Key A:
    its chain reaches the root Pair Key A lists, but Pair Key B lists it too, and nothing
    in the certificate says which of the two it is (WebAuthn L3 8.2.1 asks for the
    extension then; Windows Hello's TPM keys attest so). Verified as "one of the two": the
    passkey keeps Pair Key B beside its AAGUID, and a policy admits it only when it would
    admit each."""
    certificate = world.pair_vendor.attestation_certificate()
    api = await world.api(make_api, authenticator_policy="certified")
    found = await stored(api, await api.sign_up(world.packed(PAIR_A, certificate=certificate)))
    assert (found["verified"], found["aaguid"], found["uncertain"]) == (True, str(PAIR_A), True)
    assert await could_also_be(api) == ["Pair Key B"]
    # A certificate that names its model proves it alone.
    found = await stored(api, await api.sign_up(world.packed(PAIR_A, world.pair_vendor)))
    assert (found["verified"], found["uncertain"]) == (True, False)
    assert await could_also_be(api) == []

    # The allow-list must name both.
    only_a = await world.api(make_api, allowed_authenticators=[str(PAIR_A)])
    detail = refused(await only_a.sign_up(world.packed(PAIR_A, certificate=certificate)))
    assert detail.startswith(
        '"Pair Key A" could not be told apart from "Pair Key B", which is not one of the '
        "authenticators this service accepts."
    ), detail
    assert (await only_a.sign_up(world.packed(PAIR_A, world.pair_vendor))).status_code == 201
    both = await world.api(make_api, allowed_authenticators=[str(PAIR_A), str(PAIR_B)])
    found = await stored(both, await both.sign_up(world.packed(PAIR_A, certificate=certificate)))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert await could_also_be(both) == ["Pair Key B"]

    # `certified` must find both certified.
    mixed = world.mixed_vendor.attestation_certificate()
    detail = refused(await api.sign_up(world.packed(MIXED_A, certificate=mixed)))
    assert detail.startswith(
        '"Mixed Key A" could not be told apart from "Mixed Key B", which is not FIDO '
        "certified (its latest status: NOT_FIDO_CERTIFIED)."
    ), detail
    attested = await world.api(make_api, authenticator_policy="attested")
    found = await stored(attested, await attested.sign_up(world.packed(MIXED_A, certificate=mixed)))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert await could_also_be(attested) == ["Mixed Key B"]


async def test_a_cross_certificate_brings_its_roots_models_among_the_candidates(
    make_api: ApiFactory, world: World
) -> None:
    """A certificate naming no AAGUID under the vendor's second root, whose only model
    is revoked, with the cross certificate the first root issued it: the chain verifies
    to the first root, which two certified models list. Claiming one of those, it could
    still be the revoked model: every CA the chain names counts, not only the root it
    verified to."""
    leaf = world.second_root.attestation_certificate()
    key = forge.security_key(
        aaguid=OLD_A.bytes,
        attestation="packed",
        attestation_key=leaf.key,
        attestation_chain=[leaf.der, world.cross.der],
    )
    api = await world.api(
        make_api, authenticator_policy="certified", allowed_authenticators=[str(OLD_A), str(OLD_B)]
    )
    detail = refused(await api.sign_up(key))
    assert detail.startswith(
        '"Old Key A" could not be told apart from "Revoked New Key", which is reported '
        "compromised or revoked (REVOKED)."
    ), detail
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(key))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert await could_also_be(lenient) == ["Old Key B", "Revoked New Key"]


async def test_a_chain_names_its_root_as_its_issuer_spelled_it(
    make_api: ApiFactory, world: World
) -> None:
    """A batch certificate (no AAGUID extension) whose issuer name is the vendor root's
    in capitals: names compare case-blind in a chain (RFC 5280 7.1; OpenSSL verifies
    it), so the root's models, the compromised and revoked ones among them, are still
    candidates, and `attested` refuses the key."""
    root = world.vendor.root
    shouted = x509.Name(
        [
            x509.NameAttribute(a.oid, str(a.value).upper())
            if a.oid == x509.NameOID.COMMON_NAME
            else a
            for a in root.certificate.subject
        ]
    )
    assert shouted != root.certificate.subject
    leaf = forge.issue(
        x509.Name(
            [
                x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "SE"),
                x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Test Vendor"),
                x509.NameAttribute(
                    x509.NameOID.ORGANIZATIONAL_UNIT_NAME, "Authenticator Attestation"
                ),
                x509.NameAttribute(x509.NameOID.COMMON_NAME, "Test Vendor Batch 2"),
            ]
        ),
        issuer=root,
        issuer_name=shouted,
        ca=False,
    )
    api = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await api.sign_up(world.packed(KEY_A, certificate=leaf)))
    assert detail.startswith('"Test Key A" could not be told apart from'), detail
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(world.packed(KEY_A, certificate=leaf)))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert "Revoked Key" in await could_also_be(lenient)


async def test_a_trust_anchor_the_chain_leaves_out_still_brings_its_roots_models(
    make_api: ApiFactory, world: World
) -> None:
    """Anchored Key lists an intermediate CA and its root; a revoked model lists the root
    alone. A batch certificate of the CA naming no AAGUID, sent without the CA: the chain
    is built through the CA from the trust anchors given, so it reaches the root all the
    same, and the revoked model is a candidate, with the CA in x5c or not."""
    leaf = world.anchor_ca.attestation_certificate()
    api = await world.api(
        make_api, authenticator_policy="certified", allowed_authenticators=[str(ANCHORED)]
    )
    for chain in ([leaf.der], [leaf.der, world.anchor_ca.root.der]):
        key = forge.security_key(
            aaguid=ANCHORED.bytes,
            attestation="packed",
            attestation_key=leaf.key,
            attestation_chain=chain,
        )
        detail = refused(await api.sign_up(key))
        assert detail.startswith(
            '"Anchored Key" could not be told apart from "Root Only Revoked Key", which is '
            "reported compromised or revoked (REVOKED)."
        ), detail
    # One that names its model proves it (the CA in x5c or not).
    named = world.anchor_ca.attestation_certificate(ANCHORED)
    found = await stored(api, await api.sign_up(forge.attesting_key(named, "packed", ANCHORED)))
    assert (found["verified"], found["uncertain"]) == (True, False)


async def test_a_key_identifier_two_entries_list_proves_neither_alone(
    make_api: ApiFactory, world: World
) -> None:
    certificate = world.twice_listed
    api = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await api.sign_up(world.packed(BATCH_A, certificate=certificate)))
    assert detail.startswith(
        '"Batch Key A" could not be told apart from "Revoked Batch Key", which is reported '
        "compromised or revoked (REVOKED)."
    ), detail


async def test_a_u2f_key_identifier_two_entries_list_proves_neither(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    assert "did not prove" in refused(await api.sign_up(world.u2f(world.u2f_twice)))
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(world.u2f(world.u2f_twice)))
    assert (found["format"], found["verified"]) == ("fido-u2f", False)


async def test_an_entry_listing_the_attestation_certificate_itself_is_a_candidate(
    make_api: ApiFactory, world: World
) -> None:
    """A revoked model's entry lists a batch certificate itself as its trust anchor:
    that certificate, claiming the vendor's other model, could be the revoked one's."""
    key = forge.attesting_key(world.anchored_leaf, "packed", LEAF_VENDOR_KEY)
    api = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await api.sign_up(key))
    assert detail.startswith(
        '"Leaf Vendor Key" could not be told apart from "Leaf Listed Revoked Key", which is '
        "reported compromised or revoked (REVOKED)."
    ), detail


async def test_a_certificate_another_entry_lists_proves_nothing_when_its_roots_are_not_named(
    make_api: ApiFactory, world: World
) -> None:
    """Lone Key alone lists its root; another model's entry, under another root, lists
    this batch certificate's key identifier: the certificate is that model's more surely
    than Lone Key's, and a passkey could not find that model again by the chain's names."""
    api = await world.api(make_api, authenticator_policy="attested")
    claimed = world.packed(LONE, certificate=world.listed_elsewhere)
    assert "did not prove" in refused(await api.sign_up(claimed))
    # Another batch certificate of the vendor proves Lone Key: its root is no other's
    # today (the passkey keeps the chain's names, for a model listed under it later).
    other = world.packed(LONE, certificate=world.lone_vendor.attestation_certificate())
    found = await stored(api, await api.sign_up(other))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert await could_also_be(api) == []


async def test_a_root_whose_name_cannot_be_read_verifying_the_chain_proves_nothing(
    make_api: ApiFactory, world: World
) -> None:
    """A revoked model lists a copy of Odd Key's root whose name cryptography cannot
    decode (OpenSSL can, and verifies the chain to it): its models cannot be found by
    name, so a certificate naming no AAGUID under that root proves no model."""
    key = world.packed(ODD, certificate=world.odd_vendor.attestation_certificate())
    api = await world.api(make_api, authenticator_policy="attested")
    assert "did not prove" in refused(await api.sign_up(key))
    # A certificate that names Odd Key proves it.
    found = await stored(api, await api.sign_up(world.packed(ODD, world.odd_vendor)))
    assert (found["verified"], found["uncertain"]) == (True, False)
    # Under `any` stored as not verified, keeping its chain's names all the same (what is
    # reported of the models under them is reported of it).
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(key))
    assert (found["verified"], found["uncertain"]) == (False, True)
    assert await could_also_be(lenient) == []
    # Also when the path runs through an intermediate that x5c leaves out.
    leaf = world.odd_ca.attestation_certificate()
    through = forge.attesting_key(leaf, "packed", ODD_VIA_CA)
    assert "did not prove" in refused(await api.sign_up(through))


async def test_a_certificate_another_entry_lists_as_its_anchor_proves_no_other_model(
    make_api: ApiFactory, world: World
) -> None:
    """A U2F model's entry lists this batch certificate by key identifier; a revoked
    model's entry lists the certificate itself as its trust anchor: it is one of both,
    and `attested` refuses it. A
    certificate of the same name and another key is another certificate: its own
    model's alone."""
    api = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await api.sign_up(world.u2f(world.u2f_anchored)))
    assert detail.startswith(
        '"Anchored U2F Key" could not be told apart from "U2F Anchor Revoked Key", which is '
        "reported compromised or revoked (REVOKED)."
    ), detail
    found = await stored(api, await api.sign_up(world.u2f(world.u2f_namesake)))
    assert (found["verified"], found["uncertain"]) == (True, False)
    # Under `any`: stored as one of both, and answering for both (not for the model
    # that lists a certificate of the same name and another key).
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(world.u2f(world.u2f_anchored)))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert await could_also_be(lenient) == ["U2F Anchor Revoked Key"]


async def test_a_certificate_naming_its_model_and_anchored_elsewhere_is_one_of_both(
    make_api: ApiFactory, world: World
) -> None:
    """Named Key's certificate names it; another entry lists that very certificate as
    its anchor. It is one of the two, not one of every model of its root (a revoked
    sibling among them): an allow-list naming both admits it."""
    key = world.packed(NAMED, certificate=world.named_anchored)
    both = await world.api(make_api, allowed_authenticators=[str(NAMED), str(NAMED_ANCHOR)])
    found = await stored(both, await both.sign_up(key))
    assert (found["verified"], found["uncertain"]) == (True, True)
    assert await could_also_be(both) == ["Named Anchor Key"]
    only = await world.api(make_api, allowed_authenticators=[str(NAMED)])
    detail = refused(await only.sign_up(key))
    assert detail.startswith(
        '"Named Key" could not be told apart from "Named Anchor Key", which is not one of'
    ), detail


async def test_a_u2f_entry_listing_a_named_certificate_answers_for_its_batch(
    make_api: ApiFactory, world: World
) -> None:
    """Batch Named Key's certificate names it; a revoked U2F entry lists that
    certificate by key identifier (a U2F entry of the same batch): what makes that
    batch worthless makes this key so. `attested` refuses it; under `any` the passkey
    keeps the key identifier, and the list shows the report."""
    key = world.packed(BATCH_NAMED, certificate=world.batch_named)
    attested = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await attested.sign_up(key))
    assert detail.startswith(
        '"Batch Named Key"\'s attestation certificate is also listed for "Revoked Batch '
        'U2F Key", which is reported compromised or revoked (REVOKED).'
    ), detail
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(key))
    assert (found["verified"], found["key_identifier"]) == (
        True,
        forge.key_identifier(world.batch_named.certificate).hex(),
    )
    listed = (await lenient.client.get("/v1/me/passkeys")).json()["passkeys"][-1]
    assert listed["compromised"]["status"] == "REVOKED"


async def test_a_u2f_statement_whose_certificate_names_a_model_is_that_models_too(
    make_api: ApiFactory, world: World
) -> None:
    """A FIDO2 key answering over U2F (fido-u2f, no AAGUID) with a batch certificate
    that names its FIDO2 model, revoked, and that a certified U2F entry lists: it is the
    revoked model's too, and `attested` refuses it; under `any` it keeps that model."""
    key = world.u2f(world.fido2_batch)
    attested = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await attested.sign_up(key))
    assert detail.startswith(
        '"Its U2F Face" could not be told apart from "Revoked FIDO2 Key", which is '
        "reported compromised or revoked (REVOKED)."
    ), detail
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(key))
    assert (found["format"], found["verified"], found["uncertain"]) == ("fido-u2f", True, True)
    assert await could_also_be(lenient) == ["Revoked FIDO2 Key"]
    listed = (await lenient.client.get("/v1/me/passkeys")).json()["passkeys"][-1]
    # The model its certificate names: its own, not one it merely could be.
    assert (listed["compromised"]["status"], listed["compromised"]["scope"]) == (
        "REVOKED",
        "model",
    )


async def test_a_u2f_statement_answers_for_its_named_model_as_its_own_certificate(
    make_api: ApiFactory, world: World
) -> None:
    """Face Key's batch certificate over U2F: Face Key's report naming another batch's
    certificate is not this key's (as for the same key registered as packed); a
    certificate naming an AAGUID two entries carry proves nothing."""
    api = await world.api(make_api, authenticator_policy="attested")
    found = await stored(api, await api.sign_up(world.u2f(world.face_batch)))
    assert (found["format"], found["verified"]) == ("fido-u2f", True)
    listed = (await api.client.get("/v1/me/passkeys")).json()["passkeys"][-1]
    assert listed["attestation"]["could_also_be"] == ["Face Key"]
    assert listed["compromised"] is None
    assert "did not prove" in refused(await api.sign_up(world.u2f(world.dup_batch)))


async def test_certified_weighs_what_a_batchs_u2f_entry_reports(
    make_api: ApiFactory, world: World
) -> None:
    """A U2F entry of the batch reports its user verification bypassed: `certified`
    refuses the FIDO2 key whose certificate it lists, as it would the U2F key; `attested`
    (which refuses only what makes an attestation worthless) admits it."""
    key = world.packed(BYPASSED_BATCH_KEY, certificate=world.bypassed_batch)
    certified = await world.api(make_api, authenticator_policy="certified")
    detail = refused(await certified.sign_up(key))
    assert detail.startswith(
        '"Bypassed Batch Key"\'s attestation certificate is also listed for "Bypassed U2F '
        'Key", which is reported compromised or revoked (USER_VERIFICATION_BYPASS).'
    ), detail
    attested = await world.api(make_api, authenticator_policy="attested")
    found = await stored(attested, await attested.sign_up(key))
    assert found["verified"]


async def test_an_aaguid_two_entries_carry_proves_neither(
    make_api: ApiFactory, world: World
) -> None:
    """The metadata should give an AAGUID one entry; when two carry it, a certificate
    naming it proves neither (the first may be revoked, and sign-in would refuse it)."""
    api = await world.api(make_api, authenticator_policy="attested")
    key = world.packed(DUPLICATED, world.dup_vendor)
    assert "did not prove" in refused(await api.sign_up(key))


async def test_an_unreadable_name_in_the_chain_is_a_problem_not_an_error(
    make_api: ApiFactory, world: World
) -> None:
    """One more certificate in x5c, off the path, whose subject is an IA5String of bytes
    that are no text: OpenSSL reads it, cryptography's name does not decode."""
    leaf = world.pair_vendor.attestation_certificate()
    base = forge.issue(forge.name_of("ZZZZ"), issuer=world.pair_vendor.root, ca=False)
    junk = base.der.replace(b"\x0c\x04ZZZZ", b"\x16\x04\xff\xff\xff\xff")
    assert junk != base.der
    key = forge.security_key(
        aaguid=PAIR_A.bytes,
        attestation="packed",
        attestation_key=leaf.key,
        attestation_chain=[leaf.der, junk],
    )
    for policy in ("any", "attested"):
        api = await world.api(make_api, authenticator_policy=policy)
        response = await api.sign_up(key)
        assert (response.status_code, problem_code(response)) == (400, "invalid_credential")


async def test_a_certificate_without_an_aaguid_answers_for_every_model_of_its_root(
    make_api: ApiFactory, world: World
) -> None:
    """The U2F key's batch certificate (no AAGUID extension) in a key that claims Test
    Key B: its root serves every model of the vendor, the compromised and revoked ones
    among them, so `attested` and an allow-list refuse it; under `any` it is stored,
    verified, with every other model of the root."""
    certificate = world.u2f_certificate
    strict = await world.api(make_api, allowed_authenticators=[str(KEY_B)])
    detail = refused(await strict.sign_up(world.packed(KEY_B, certificate=certificate)))
    assert detail.startswith('"Test Key B" could not be told apart from "Compromised Key", which')
    assert "ATTESTATION_KEY_COMPROMISE" in detail
    attested = await world.api(make_api, authenticator_policy="attested")
    refused(await attested.sign_up(world.packed(KEY_B, certificate=certificate)))
    api = await world.api(make_api)
    found = await stored(api, await api.sign_up(world.packed(KEY_B, certificate=certificate)))
    assert (found["type"], found["verified"], found["aaguid"]) == ("basic", True, str(KEY_B))
    assert found["uncertain"]
    assert await could_also_be(api) == [
        "Test Key A",
        "Uncertified Key",
        "Compromised Key",
        "Once Bypassed Key",
        "Test U2F Key",
        "Listed Batch Key",
        "Leaked Batch Key",
        "Revoked Key",
    ]


async def test_a_certificate_without_an_aaguid_proves_a_model_alone_on_its_root_or_listing_it(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    # The only model whose entry lists the root.
    sole = world.sole_vendor.attestation_certificate()
    found = await stored(api, await api.sign_up(world.packed(SOLE, certificate=sole)))
    assert (found["verified"], found["aaguid"]) == (True, str(SOLE))
    assert await could_also_be(api) == []
    # A shared root, but the model's entry lists the certificate's key identifier.
    batch = world.packed(LISTED_BATCH, certificate=world.listed_batch)
    found = await stored(api, await api.sign_up(batch))
    assert (found["verified"], found["aaguid"], found["uncertain"]) == (
        True,
        str(LISTED_BATCH),
        False,
    )
    # That certificate claiming another model of the root is one of the root's models.
    detail = refused(await api.sign_up(world.packed(KEY_A, certificate=world.listed_batch)))
    assert detail.startswith('"Test Key A" could not be told apart from'), detail


async def test_a_root_listed_again_in_a_reissued_copy_is_the_same_root(
    make_api: ApiFactory, world: World
) -> None:
    """Twin Key lists its maker's root, and a revoked model a re-issued copy of it (same
    name and key): a chain verifies to either, so a certificate naming no AAGUID could be
    the revoked model's, and `attested` refuses it."""
    certificate = world.twin_vendor.attestation_certificate()
    api = await world.api(make_api, authenticator_policy="attested")
    detail = refused(await api.sign_up(world.packed(TWIN, certificate=certificate)))
    assert detail.startswith(
        '"Twin Key" could not be told apart from "Revoked Twin Key", which is reported '
        "compromised or revoked (REVOKED)."
    ), detail
    # A certificate that names Twin Key proves it.
    found = await stored(api, await api.sign_up(world.packed(TWIN, world.twin_vendor)))
    assert (found["verified"], found["aaguid"], found["uncertain"]) == (True, str(TWIN), False)


# --- the policies ----------------------------------------------------------------------


async def test_none_attestation_is_refused_under_attested(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    assert "did not prove" in refused(await api.sign_up(security_key(aaguid=KEY_A.bytes)))
    # Under any, stored as none.
    lenient = await world.api(make_api)
    found = await stored(lenient, await lenient.sign_up(security_key(aaguid=KEY_A.bytes)))
    assert (found["format"], found["type"], found["verified"]) == ("none", "none", False)


async def test_certified_refuses_models_not_certified_or_reported_compromised(
    make_api: ApiFactory, world: World
) -> None:
    certified = await world.api(make_api, authenticator_policy="certified")
    attested = await world.api(make_api, authenticator_policy="attested")
    assert (await certified.sign_up(world.packed(KEY_A))).status_code == 201
    for aaguid, name, why in [
        (UNCERTIFIED, "Uncertified Key", "is not FIDO certified (its latest status: NOT_FIDO"),
        (COMPROMISED, "Compromised Key", "ATTESTATION_KEY_COMPROMISE"),
        # Certified again since, but once reported: refused all the same.
        (ONCE_BYPASSED, "Once Bypassed Key", "USER_VERIFICATION_BYPASS"),
    ]:
        detail = refused(await certified.sign_up(world.packed(aaguid)))
        assert detail.startswith(f'"{name}" '), detail
        assert why in detail, detail
    # Attested asks for the chain, and for nothing that makes it worthless.
    for aaguid in (UNCERTIFIED, ONCE_BYPASSED):
        found = await stored(attested, await attested.sign_up(world.packed(aaguid)))
        assert found["verified"]


async def test_attested_refuses_what_makes_an_attestation_worthless(
    make_api: ApiFactory, world: World
) -> None:
    """A model whose attestation key is reported compromised (no certificate named: the
    whole model) or that was revoked, and any attestation certificate that a report of
    ATTESTATION_KEY_COMPROMISE names, whichever model's entry it is in: refused by
    `attested` and by an allow-list naming the model, not only by `certified`."""
    attested = await world.api(make_api, authenticator_policy="attested")
    allowing = await world.api(make_api, allowed_authenticators=[str(LEAKED), str(KEY_A)])
    for api in (attested, allowing):
        for aaguid, why in [
            (COMPROMISED, "ATTESTATION_KEY_COMPROMISE"),
            (REVOKED, "REVOKED"),
        ]:
            detail = refused(await api.sign_up(world.packed(aaguid)))
            assert why in detail, detail
        for aaguid, certificate in [(LEAKED, world.leaked), (KEY_A, world.leaked_key_a)]:
            detail = refused(await api.sign_up(world.packed(aaguid, certificate=certificate)))
            assert "a certificate that is reported compromised" in detail, detail
        # Another batch of the model: the report names only that certificate.
        found = await stored(api, await api.sign_up(world.packed(LEAKED)))
        assert found["verified"]
        found = await stored(api, await api.sign_up(world.packed(KEY_A)))
        assert found["verified"]
    # Under any, without an allow-list: stored, verified (the list shows the reports).
    lenient = await world.api(make_api)
    found = await stored(
        lenient, await lenient.sign_up(world.packed(LEAKED, certificate=world.leaked))
    )
    assert found["verified"]


async def test_the_allow_list_names_models_by_aaguid(make_api: ApiFactory, world: World) -> None:
    api = await world.api(make_api, allowed_authenticators=[str(KEY_A).upper()])
    assert api.settings.authenticator_policy == "any"
    found = await stored(api, await api.sign_up(world.packed(KEY_A)))
    assert found["verified"]
    # Another model of the same vendor, genuinely attested: named, and refused.
    detail = refused(await api.sign_up(world.packed(KEY_B)))
    assert detail.startswith('"Test Key B" is not one of the authenticators')
    # Claiming an allowed AAGUID proves nothing: self attestation, none, another root.
    for claimant in (
        security_key(aaguid=KEY_A.bytes, attestation="packed"),
        security_key(aaguid=KEY_A.bytes),
        world.packed(KEY_A, forge.AttestationPki()),
    ):
        assert "did not prove" in refused(await api.sign_up(claimant))
    # The U2F key is attested, but not on the list.
    assert "Test U2F Key" in refused(await api.sign_up(world.u2f()))


async def test_the_allow_list_may_name_a_model_by_a_key_identifier_its_entry_lists(
    make_api: ApiFactory, world: World
) -> None:
    listed = forge.key_identifier(world.listed_batch.certificate).hex()
    api = await world.api(make_api, allowed_authenticators=[listed])
    batch = world.packed(LISTED_BATCH, certificate=world.listed_batch)
    found = await stored(api, await api.sign_up(batch))
    assert (found["verified"], found["aaguid"]) == (True, str(LISTED_BATCH))
    assert "is not one of" in refused(await api.sign_up(world.packed(KEY_A)))


async def test_the_allow_list_names_u2f_keys_by_key_identifier(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(
        make_api,
        authenticator_policy="certified",
        allowed_authenticators=[world.u2f_key_identifier.hex().upper()],
    )
    found = await stored(api, await api.sign_up(world.u2f()))
    assert found["verified"]
    assert "Test Key A" in refused(await api.sign_up(world.packed(KEY_A)))
    unlisted = world.vendor.attestation_certificate()
    assert "did not prove" in refused(await api.sign_up(world.u2f(unlisted)))


# --- a refusal writes nothing, wherever it comes --------------------------------------


async def test_a_refused_sign_up_writes_nothing(make_api: ApiFactory, world: World) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    before = await counts(api)
    username = new_username()
    options = await api.post("/v1/registration/options", {"username": username})
    credential = security_key(aaguid=KEY_A.bytes, attestation="packed").create(
        options.json(), origin=ORIGIN
    )
    refused(await api.post("/v1/registration/verify", credential))
    assert await counts(api) == before
    assert "session" not in api.client.cookies
    # The challenge was used: the same response cannot be tried again.
    again = await api.post("/v1/registration/verify", credential)
    assert problem_code(again) == "challenge_expired"
    # The username is still free.
    assert (await api.sign_up(world.packed(KEY_A), username)).status_code == 201


async def test_adding_a_passkey_follows_the_policy(make_api: ApiFactory, world: World) -> None:
    api = await world.api(make_api, authenticator_policy="certified")
    assert (await api.sign_up(world.packed(KEY_A))).status_code == 201
    before = await counts(api)
    detail = refused(await api.add_passkey(world.packed(COMPROMISED)))
    assert "Compromised Key" in detail
    refused(await api.add_passkey(security_key(aaguid=KEY_B.bytes, attestation="packed")))
    assert await counts(api) == before
    added = await api.add_passkey(world.packed(KEY_B))
    assert added.status_code == 201, added.text


async def test_adding_a_passkey_in_a_recovery_session_follows_the_policy(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api, authenticator_policy="attested")
    username = new_username()
    key_a = world.packed(KEY_A)
    assert (await api.sign_up(key_a, username)).status_code == 201
    assert (await api.reauthenticate(key_a, "recovery")).status_code == 200
    codes = await api.client.post("/v1/me/recovery-codes")
    assert codes.status_code == 201, codes.text
    code = codes.json()["codes"][0]
    transport = api.client._transport
    async with httpx.AsyncClient(
        transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
    ) as phone:
        recovered = await phone.post(
            "/v1/recovery/verify", json={"username": username, "code": code}
        )
        assert recovered.status_code == 200, recovered.text
        session = (await phone.get("/v1/session")).json()["session"]
        assert session["scope"] == "recovery"
        before = await counts(api)
        options = await phone.post("/v1/me/passkeys/options", json={})
        unproven = security_key(attestation="packed").create(options.json(), origin=ORIGIN)
        refused(await phone.post("/v1/me/passkeys/verify", json=unproven))
        assert await counts(api) == before
        # Still the recovery session: nothing was upgraded.
        assert (await phone.get("/v1/session")).json()["session"]["scope"] == "recovery"
        options = await phone.post("/v1/me/passkeys/options", json={})
        good = world.packed(KEY_B).create(options.json(), origin=ORIGIN)
        added = await phone.post("/v1/me/passkeys/verify", json=good)
        assert added.status_code == 201, added.text
        assert added.json()["recovered"]["session"]["scope"] == "full"


MALFORMED_X5C: list[tuple[str, object]] = [
    ("garbage", [b"not a certificate"]),
    ("bytes", b"not a list"),
    ("empty", []),
    ("text", ["text"]),
    ("truncated-der", [b"\x30\x03\x02\x01\x01"]),
    # The signing certificate, then more than any authenticator sends (filled in below).
    ("too-long", None),
]
# Attestation certificates the key signs with, whose extensions cryptography cannot read
# (its DuplicateExtension and UnsupportedGeneralNameType are no ValueError).
MALFORMED_LEAVES = ["duplicate", "x400", "edi"]


@pytest.mark.parametrize(
    ("fmt", "malformed"),
    [
        *(
            pytest.param(fmt, x5c, id=f"{fmt}-{name}")
            for fmt in ("packed", "fido-u2f")
            for name, x5c in MALFORMED_X5C
        ),
        *(pytest.param("packed", kind, id=f"packed-leaf-{kind}") for kind in MALFORMED_LEAVES),
    ],
)
@pytest.mark.parametrize("policy", ["attested", "any"])
async def test_a_malformed_chain_is_a_problem_not_an_error(
    make_api: ApiFactory, world: World, fmt: str, malformed: object, policy: str
) -> None:
    api = await world.api(make_api, authenticator_policy=policy)
    options = await api.post("/v1/registration/options", {"username": new_username()})
    if isinstance(malformed, str):  # a leaf that signs the statement
        leaf = world.vendor.malformed_attestation_certificate(malformed)
        credential = world.packed(KEY_A, certificate=leaf).create(options.json(), origin=ORIGIN)
    else:  # the chain replaced after signing
        key = world.packed(KEY_A) if fmt == "packed" else world.u2f()
        credential = key.create(options.json(), origin=ORIGIN)
        raw = b64url_decode(credential["response"]["attestationObject"])
        attestation_object = cbor2.loads(raw)
        if malformed is None:
            leaf = attestation_object["attStmt"]["x5c"][0]
            malformed = [leaf, *([world.vendor.root.der] * 10)]
        attestation_object["attStmt"]["x5c"] = malformed
        credential["response"]["attestationObject"] = b64url(cbor2.dumps(attestation_object))
    before = await counts(api)
    response = await api.post("/v1/registration/verify", credential)
    assert response.status_code == 400, response.text
    assert problem_code(response) == "invalid_credential"
    assert await counts(api) == before
