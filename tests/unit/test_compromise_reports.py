"""Which compromise report the metadata holds against a stored passkey
(Catalogue.compromise): the latest that applies, an undated one counting as the latest
(in effect while the metadata carries it, as for certification), and for a passkey
whose attestation could not be told apart from other models, theirs too."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from passkey_api.authenticators import blob
from passkey_api.authenticators.catalogue import Catalogue
from tests import mds_forge as forge

OWN = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a01")
SIBLING = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a02")
QUIET = uuid.UUID("7c1f0a2e-4b3d-4e5f-8a9b-0c1d2e3f4a03")
U2F = bytes(range(20))
EARLY, LATE = date(2024, 1, 1), date(2025, 1, 1)


def _catalogue(**reports: list[dict[str, Any]]) -> Catalogue:
    entries = [
        forge.entry(aaguid=OWN, description="Own Key", status_reports=reports.get("own", [])),
        forge.entry(
            aaguid=SIBLING, description="Sibling Key", status_reports=reports.get("sibling", [])
        ),
        forge.entry(aaguid=QUIET, description="Quiet Key", status_reports=[]),
        forge.entry(
            key_identifiers=[U2F], description="U2F Key", status_reports=reports.get("u2f", [])
        ),
    ]
    return Catalogue(blob.parse_payload(json.dumps(forge.payload(1, entries))))


def test_an_undated_report_is_the_latest() -> None:
    catalogue = _catalogue(
        own=[
            forge.status_report("USER_VERIFICATION_BYPASS"),
            forge.status_report("REVOKED", LATE),
        ]
    )
    found = catalogue.compromise(str(OWN), None)
    assert found is not None
    assert (found.status, found.since, found.scope) == ("USER_VERIFICATION_BYPASS", None, "model")


def test_the_latest_dated_report_otherwise() -> None:
    catalogue = _catalogue(
        own=[
            forge.status_report("REVOKED", LATE),
            forge.status_report("USER_KEY_REMOTE_COMPROMISE", EARLY),
        ]
    )
    found = catalogue.compromise(str(OWN), None)
    assert found is not None
    assert (found.status, found.since) == ("REVOKED", LATE)


def test_a_model_the_passkey_could_not_be_told_apart_from_answers_for_it() -> None:
    catalogue = _catalogue(sibling=[forge.status_report("REVOKED", LATE)])
    assert catalogue.compromise(str(OWN), None) is None
    assert catalogue.compromise(str(OWN), None, [str(QUIET)]) is None
    found = catalogue.compromise(str(OWN), None, [str(QUIET), str(SIBLING)])
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
    # A U2F model, by the key identifier that names it.
    catalogue = _catalogue(u2f=[forge.status_report("USER_KEY_PHYSICAL_COMPROMISE", EARLY)])
    found = catalogue.compromise(str(OWN), None, [U2F.hex()])
    assert found is not None
    assert (found.status, found.scope, found.model) == (
        "USER_KEY_PHYSICAL_COMPROMISE",
        "shared_root",
        "U2F Key",
    )


def test_the_latest_report_of_all_the_models_it_could_be() -> None:
    early = [forge.status_report("USER_VERIFICATION_BYPASS", EARLY)]
    late = [forge.status_report("REVOKED", LATE)]
    found = _catalogue(own=early, sibling=late).compromise(str(OWN), None, [str(SIBLING)])
    assert found is not None
    assert (found.status, found.scope) == ("REVOKED", "shared_root")
    found = _catalogue(own=late, sibling=early).compromise(str(OWN), None, [str(SIBLING)])
    assert found is not None
    assert (found.status, found.scope) == ("REVOKED", "model")
    # As late: the passkey's own model's.
    found = _catalogue(own=early, sibling=[forge.status_report("REVOKED", EARLY)]).compromise(
        str(OWN), None, [str(SIBLING)]
    )
    assert found is not None
    assert (found.status, found.scope) == ("USER_VERIFICATION_BYPASS", "model")
