"""Which compromise report the metadata holds against a stored passkey
(Catalogue.compromise): the latest that applies, a dated report newer than an undated
one; for a passkey whose attestation left its model uncertain, the reports of every
model under the CAs its chain named, in the metadata of the day; and what decides
whether a new version changed what is reported of it (Catalogue.reported), which no
single latest report may hide."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from passkey_api.authenticators import blob, service
from passkey_api.authenticators.catalogue import Catalogue, ca_name_key
from tests import mds_forge as forge

OWN = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a01")
SIBLING = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a02")
QUIET = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a03")
ELSEWHERE = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a04")
U2F = bytes(range(20))
EARLY, LATE = date(2024, 1, 1), date(2025, 1, 1)
VENDOR = forge.AttestationPki()
OTHER_VENDOR = forge.AttestationPki()
# What a passkey whose chain named the vendor's root keeps.
UNDER_VENDOR = [ca_name_key(VENDOR.root.certificate.subject)]


def _catalogue(number: int = 1, **reports: list[dict[str, Any]]) -> Catalogue:
    root, other = [VENDOR.root.der], [OTHER_VENDOR.root.der]
    entries = [
        forge.entry(
            aaguid=OWN, description="Own Key", roots=root, status_reports=reports.get("own", [])
        ),
        forge.entry(
            aaguid=SIBLING,
            description="Sibling Key",
            roots=root,
            status_reports=reports.get("sibling", []),
        ),
        forge.entry(aaguid=QUIET, description="Quiet Key", roots=root, status_reports=[]),
        forge.entry(
            key_identifiers=[U2F],
            description="U2F Key",
            roots=root,
            status_reports=reports.get("u2f", []),
        ),
        # Another vendor's: never one of the vendor's passkeys' models.
        forge.entry(
            aaguid=ELSEWHERE,
            description="Elsewhere Key",
            roots=other,
            status_reports=reports.get("elsewhere", []),
        ),
    ]
    if "late" in reports:  # a model the metadata lists from some version on
        entries.append(
            forge.entry(
                aaguid=uuid.uuid4(),
                description="Late Key",
                roots=root,
                status_reports=reports["late"],
            )
        )
    return Catalogue(blob.parse_payload(json.dumps(forge.payload(number, entries))))


def test_a_dated_report_is_newer_news_than_an_undated_one() -> None:
    catalogue = _catalogue(
        own=[
            forge.status_report("USER_VERIFICATION_BYPASS"),
            forge.status_report("REVOKED", LATE),
            forge.status_report("USER_KEY_REMOTE_COMPROMISE", EARLY),
        ]
    )
    found = catalogue.compromise(str(OWN), None)
    assert found is not None
    assert (found.status, found.since, found.scope) == ("REVOKED", LATE, "model")
    found = _catalogue(own=[forge.status_report("USER_VERIFICATION_BYPASS")]).compromise(
        str(OWN), None
    )
    assert found is not None
    assert (found.status, found.since) == ("USER_VERIFICATION_BYPASS", None)


def test_an_uncertain_passkey_answers_for_every_model_under_its_cas() -> None:
    catalogue = _catalogue(
        sibling=[forge.status_report("REVOKED", LATE)],
        elsewhere=[forge.status_report("REVOKED", LATE)],
    )
    assert catalogue.compromise(str(OWN), None) is None
    assert catalogue.compromise(str(QUIET), None) is None
    found = catalogue.compromise(str(OWN), None, UNDER_VENDOR)
    assert found is not None
    assert (found.status, found.scope, found.model, found.model_id) == (
        "REVOKED",
        "shared_root",
        "Sibling Key",
        str(SIBLING),
    )
    assert found.words == (
        'The FIDO Metadata Service reports "Sibling Key", a model this passkey\'s '
        "attestation could not be told apart from: it was revoked by the FIDO Alliance "
        "(since 2025-01-01)"
    )
    # Another vendor's root: not among them.
    assert (
        _catalogue(elsewhere=[forge.status_report("REVOKED", LATE)]).compromise(
            str(OWN), None, UNDER_VENDOR
        )
        is None
    )
    # A U2F model, found by its key identifier.
    catalogue = _catalogue(u2f=[forge.status_report("USER_KEY_PHYSICAL_COMPROMISE", EARLY)])
    found = catalogue.compromise(str(OWN), None, UNDER_VENDOR)
    assert found is not None
    assert (found.status, found.scope, found.model, found.model_id) == (
        "USER_KEY_PHYSICAL_COMPROMISE",
        "shared_root",
        "U2F Key",
        U2F.hex(),
    )


def test_a_model_listed_later_under_the_same_root_answers_too() -> None:
    """The passkey keeps the CAs' names, not the models of the day: a model a later
    version lists under the same root is one it could be."""
    before = _catalogue(1)
    after = _catalogue(2, late=[forge.status_report("REVOKED", LATE)])
    assert before.compromise(str(OWN), None, UNDER_VENDOR) is None
    found = after.compromise(str(OWN), None, UNDER_VENDOR)
    assert found is not None
    assert (found.status, found.model, found.scope) == ("REVOKED", "Late Key", "shared_root")
    assert before.reported(str(OWN), None, UNDER_VENDOR) != after.reported(
        str(OWN), None, UNDER_VENDOR
    )


def test_the_latest_report_of_all_the_models_it_could_be() -> None:
    early = [forge.status_report("USER_VERIFICATION_BYPASS", EARLY)]
    late = [forge.status_report("REVOKED", LATE)]
    found = _catalogue(own=early, sibling=late).compromise(str(OWN), None, UNDER_VENDOR)
    assert found is not None
    assert (found.status, found.scope) == ("REVOKED", "shared_root")
    found = _catalogue(own=late, sibling=early).compromise(str(OWN), None, UNDER_VENDOR)
    assert found is not None
    assert (found.status, found.scope) == ("REVOKED", "model")
    # As late: the passkey's own model's.
    found = _catalogue(own=early, sibling=[forge.status_report("REVOKED", EARLY)]).compromise(
        str(OWN), None, UNDER_VENDOR
    )
    assert found is not None
    assert (found.status, found.scope) == ("USER_VERIFICATION_BYPASS", "model")


def test_a_new_report_changes_what_is_reported_though_an_older_one_is_shown() -> None:
    """An older report that stays the one shown (the latest) must not hide a new one
    from the refresh's audit: every report that applies counts."""
    undated = forge.status_report("USER_KEY_PHYSICAL_COMPROMISE", LATE)
    before = _catalogue(1, own=[undated])
    after = _catalogue(2, own=[undated], sibling=[forge.status_report("REVOKED", EARLY)])
    assert before.compromise(str(OWN), None, UNDER_VENDOR) == after.compromise(
        str(OWN), None, UNDER_VENDOR
    )
    assert before.reported(str(OWN), None, UNDER_VENDOR) != after.reported(
        str(OWN), None, UNDER_VENDOR
    )
    # Alike when nothing that applies changed (another vendor's model was reported).
    elsewhere = _catalogue(3, own=[undated], elsewhere=[forge.status_report("REVOKED", EARLY)])
    assert before.reported(str(OWN), None, UNDER_VENDOR) == elsewhere.reported(
        str(OWN), None, UNDER_VENDOR
    )


def test_two_reported_u2f_models_sharing_a_key_identifier_answer_each() -> None:
    """Two U2F entries under the vendor's root list one key identifier, each with its
    own report: a passkey that could be either answers for both (by entry, not by the
    key identifier, which names only one of them in a lookup)."""
    root = [VENDOR.root.der]
    entries = [
        forge.entry(aaguid=OWN, description="Own Key", roots=root),
        forge.entry(
            key_identifiers=[U2F],
            description="Revoked U2F Key",
            roots=root,
            status_reports=[forge.status_report("REVOKED", LATE)],
        ),
        forge.entry(
            key_identifiers=[U2F],
            description="Bypassed U2F Key",
            roots=root,
            status_reports=[forge.status_report("USER_VERIFICATION_BYPASS", EARLY)],
        ),
    ]
    catalogue = Catalogue(blob.parse_payload(json.dumps(forge.payload(1, entries))))
    found = catalogue.compromise(str(OWN), None, UNDER_VENDOR)
    assert found is not None
    assert (found.status, found.model) == ("REVOKED", "Revoked U2F Key")
    assert len(catalogue.reported(str(OWN), None, UNDER_VENDOR)) == 2


def test_entries_sharing_an_id_answer_each_and_order_without_error() -> None:
    """Two entries with one AAGUID (the metadata should not, but may): a passkey of
    that AAGUID answers for both; an undated report and a dated one of the same status
    compare (as text) without error."""
    entries = [
        forge.entry(
            aaguid=OWN,
            description="Own Key",
            status_reports=[forge.status_report("REVOKED", LATE)],
        ),
        forge.entry(
            aaguid=OWN,
            description="Own Key Again",
            status_reports=[forge.status_report("REVOKED")],
        ),
    ]
    catalogue = Catalogue(blob.parse_payload(json.dumps(forge.payload(1, entries))))
    found = catalogue.compromise(str(OWN), None)
    assert found is not None
    assert (found.status, found.since, found.model) == ("REVOKED", LATE, "Own Key")
    assert len(catalogue.reported(str(OWN), None)) == 2
    # A change to either entry is a change of that id.
    changed = Catalogue(
        blob.parse_payload(
            json.dumps(
                forge.payload(
                    2,
                    [
                        entries[0],
                        forge.entry(
                            aaguid=OWN,
                            description="Own Key Again",
                            status_reports=[forge.status_report("USER_VERIFICATION_BYPASS")],
                        ),
                    ],
                )
            )
        )
    )
    assert service._changed(catalogue.compromised_by_aaguid, changed.compromised_by_aaguid) == [
        str(OWN)
    ]
    assert catalogue.reported(str(OWN), None) != changed.reported(str(OWN), None)


def test_a_fido2_passkey_is_not_named_after_the_u2f_entry_of_its_batch() -> None:
    """A FIDO2 passkey keeps its certificate's key identifier when a U2F entry lists it:
    should the metadata no longer list its AAGUID, the list names no model, not that
    U2F entry."""
    entries = [forge.entry(key_identifiers=[U2F], description="U2F Key", roots=[VENDOR.root.der])]
    catalogue = Catalogue(blob.parse_payload(json.dumps(forge.payload(1, entries))))
    assert catalogue.by_passkey(str(OWN), U2F.hex()) is None
    found = catalogue.by_passkey(str(uuid.UUID(int=0)), U2F.hex())
    assert found is not None
    assert found.description == "U2F Key"


def test_a_status_fido2_does_not_know_is_left_out_not_fatal() -> None:
    """A later MDS3 may add statuses: fido2 reads one it does not know as a report
    without a status, on which building the catalogue failed (every refresh with it).
    It is left out; the reports it knows still count."""
    entries = [
        forge.entry(
            aaguid=OWN,
            description="Own Key",
            status_reports=[
                forge.status_report("SOMETHING_NEW_IN_MDS", LATE),
                forge.status_report("REVOKED", EARLY),
            ],
        )
    ]
    catalogue = Catalogue(blob.parse_payload(json.dumps(forge.payload(1, entries))))
    found = catalogue.compromise(str(OWN), None)
    assert found is not None
    assert found.status == "REVOKED"
    model = catalogue.by_aaguid(OWN)
    assert model is not None
    assert [str(r.status.value) for r in model.status_reports] == ["REVOKED"]
