"""Which status report says where a model stands for `certified` (FIDO Metadata Service
3.0, 3.1.3): a report dated in the future is not yet in effect, an undated one is in
effect while the metadata carries it (the latest), and only certification statuses
decide whether the model is certified; reports of another kind (an update, a
self-assertion, retirement, FIPS 140) do not undo a certification."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from passkey_api.authenticators import blob, policy
from passkey_api.authenticators.catalogue import AuthenticatorModel, Catalogue
from tests import mds_forge as forge

AAGUID = uuid.UUID("5b0e4c2a-1d3f-4e6a-9b7c-8d9e0f1a2b3c")
PAST = date(2024, 1, 1)
LATER = date(2025, 1, 1)
FUTURE = date.today() + timedelta(days=60)


def _model(*reports: dict[str, Any]) -> AuthenticatorModel:
    entry = forge.entry(aaguid=AAGUID, status_reports=list(reports))
    catalogue = Catalogue(blob.parse_payload(json.dumps(forge.payload(1, [entry]))))
    model = catalogue.by_aaguid(AAGUID)
    assert model is not None
    return model


def _certified(model: AuthenticatorModel) -> bool:
    return policy.certification_refusal(model) is None


def test_a_certification_dated_in_the_future_is_not_yet_one() -> None:
    model = _model(
        forge.status_report("NOT_FIDO_CERTIFIED", PAST),
        forge.status_report("FIDO_CERTIFIED_L1", FUTURE),
    )
    assert model.certification == "NOT_FIDO_CERTIFIED"
    assert model.status == "NOT_FIDO_CERTIFIED"
    assert not _certified(model)
    # Nor does a future decertification undo one today.
    model = _model(
        forge.status_report("FIDO_CERTIFIED_L1", PAST),
        forge.status_report("NOT_FIDO_CERTIFIED", FUTURE),
    )
    assert model.certification == "FIDO_CERTIFIED_L1"
    assert _certified(model)


def test_an_undated_report_is_in_effect_now() -> None:
    model = _model(
        forge.status_report("NOT_FIDO_CERTIFIED"),
        forge.status_report("FIDO_CERTIFIED_L1", PAST),
    )
    assert model.status == model.certification == "NOT_FIDO_CERTIFIED"
    assert not _certified(model)
    model = _model(
        forge.status_report("FIDO_CERTIFIED_L2"),
        forge.status_report("NOT_FIDO_CERTIFIED", PAST),
    )
    assert model.status == model.certification == "FIDO_CERTIFIED_L2"
    assert _certified(model)


@pytest.mark.parametrize(
    "status",
    ["UPDATE_AVAILABLE", "SELF_ASSERTION_SUBMITTED", "RETIRED", "FIPS140_CERTIFIED_L2"],
)
def test_a_later_report_of_another_kind_leaves_the_certification(status: str) -> None:
    model = _model(
        forge.status_report("FIDO_CERTIFIED_L1", PAST), forge.status_report(status, LATER)
    )
    assert model.status == status  # the latest report, as the passkey list may show it
    assert model.certification == "FIDO_CERTIFIED_L1"
    assert _certified(model)


def test_without_a_certification_the_model_is_not_certified() -> None:
    model = _model(forge.status_report("SELF_ASSERTION_SUBMITTED", PAST))
    assert model.certification is None
    refusal = policy.certification_refusal(model)
    assert refusal is not None
    assert "is not FIDO certified" in refusal
    assert "SELF_ASSERTION_SUBMITTED" in refusal
