"""Which authenticators may register (PASSKEY_AUTHENTICATOR_POLICY and
PASSKEY_ALLOWED_AUTHENTICATORS), judged on what a registration's attestation proved
(ceremonies/attestation.py) and what the metadata says of the model. No I/O.

- `any`: every authenticator, unless the allow-list names models.
- `attested`: the attestation chain verified to a root the metadata gives for the model,
  no certificate of the chain is named by an ATTESTATION_KEY_COMPROMISE report (of any
  model), and the model is neither REVOKED nor reported ATTESTATION_KEY_COMPROMISE as a
  whole (AuthenticatorModel.distrusted). The allow-list asks the same, whatever the policy.
- `certified`: attested, and the model's latest certification report in effect is a
  FIDO certification (FIDO_CERTIFIED, _L1, _L1plus, ...; AuthenticatorModel.
  certification: not NOT_FIDO_CERTIFIED; reports dated in the future not yet, undated
  ones the latest; UPDATE_AVAILABLE, SELF_ASSERTION_SUBMITTED, RETIRED and FIPS 140
  reports left aside), and no report ever said it was compromised, revoked or its user
  verification bypassed (REFUSED_STATUSES, whatever their date).
- The allow-list (AAGUIDs, U2F key identifiers): only the models it names, and only when
  the chain verified, whatever the policy: an AAGUID in authenticator data is the
  authenticator's claim, and any software can claim a YubiKey's. What makes it a YubiKey
  is an attestation signed by a key whose certificate chains to the root the metadata
  lists for that AAGUID, and a certificate that names that AAGUID, or that the entry
  lists (ceremonies/attestation.py, _models_alike).
- An attestation that proved "one of these models" (a certificate naming none, under a
  root several models list: Attested.alike) is admitted only when every one of them
  would be: a policy cannot tell which it is, so it must accept each.
"""

from __future__ import annotations

from dataclasses import dataclass

from passkey_api.authenticators.catalogue import COMPROMISE_STATUSES, AuthenticatorModel
from passkey_api.config import Settings
from passkey_api.errors import AuthenticatorNotAllowed

# Any of these, at any time in the model's history, and `certified` refuses it.
REFUSED_STATUSES = COMPROMISE_STATUSES
CERTIFIED_PREFIX = "FIDO_CERTIFIED"


@dataclass(frozen=True)
class Attested:
    """What a registration's attestation showed."""

    # The model: its AAGUID (canonical text), or for a key without one (U2F) its
    # attestation certificate's key identifier (40 hex digits); None when neither.
    model_id: str | None
    # What the metadata holds for it (None: not listed, or no metadata).
    model: AuthenticatorModel | None
    # The attestation chain verified to one of the model's roots in the metadata.
    verified: bool
    # A certificate of the chain is named by an ATTESTATION_KEY_COMPROMISE report (of
    # any model): looked for only when the settings restrict authenticators.
    compromised_certificate: bool = False
    # The other models the verified chain could equally be: its certificate named no
    # model, under a root their entries list too. Empty when it proved one model.
    alike: tuple[AuthenticatorModel, ...] = ()
    # Other models whose entries list the attestation certificate by key identifier (a
    # U2F entry of the same batch): not the model, but one revoked or compromised as a
    # whole makes the certificate worthless.
    listed_by: tuple[AuthenticatorModel, ...] = ()


def admit(settings: Settings, attested: Attested) -> None:
    """Raise AuthenticatorNotAllowed unless the settings accept this authenticator."""
    if not settings.restricts_authenticators:
        return
    if not attested.verified:
        raise AuthenticatorNotAllowed(
            f"{_claimed(attested)} did not prove which authenticator it is: this service "
            "accepts only authenticators whose attestation it can verify against the "
            "authenticator metadata. Use another security key, or ask your administrator "
            "which ones are accepted."
        )
    name = _name(attested)
    # What makes the attestation itself worthless: refused by every policy beyond `any`
    # and by the allow-list, not only by `certified`.
    if attested.compromised_certificate:
        raise AuthenticatorNotAllowed(
            f"{name} attested with a certificate that is reported compromised "
            "(ATTESTATION_KEY_COMPROMISE), which proves nothing. Use another security key."
        )
    # Each model it could be, the claimed one first, as a sentence's subject.
    claimed = {attested.model_id} | (attested.model.names if attested.model else set())
    candidates = [(attested.model, claimed, name)] + [
        (other, other.names, f"{name} could not be told apart from {_described(other)}, which")
        for other in attested.alike
    ]
    batch: list[tuple[AuthenticatorModel, str]] = [
        (other, f"{name}'s attestation certificate is also listed for {_described(other)}, which")
        for other in attested.listed_by
    ]
    weighed: list[tuple[AuthenticatorModel | None, str]] = [(m, s) for m, _, s in candidates]
    for model, subject in [*weighed, *batch]:
        distrusted = model.distrusted if model is not None else ()
        if distrusted:
            raise AuthenticatorNotAllowed(
                f"{subject} is reported compromised or revoked ({', '.join(distrusted)}). "
                "Use another security key."
            )
    allowed = set(settings.allowed_authenticators)
    for _, ids, subject in candidates:
        if allowed and allowed.isdisjoint(ids):
            raise AuthenticatorNotAllowed(
                f"{subject} is not one of the authenticators this service accepts. Use "
                "another security key, or ask your administrator which ones are accepted."
            )
    if settings.authenticator_policy == "certified":
        for model, _, subject in candidates:
            refusal = certification_refusal(model)
            if refusal is not None:
                raise AuthenticatorNotAllowed(f"{subject} {refusal}. Use another security key.")
        # What a batch's entries ever reported of it is reported of its certificate.
        for other, subject in batch:
            refused = sorted(
                {str(report.status.value) for report in other.status_reports} & REFUSED_STATUSES
            )
            if refused:
                raise AuthenticatorNotAllowed(
                    f"{subject} is reported compromised or revoked ({', '.join(refused)}). "
                    "Use another security key."
                )


def certification_refusal(model: AuthenticatorModel | None) -> str | None:
    """Why `certified` refuses the model, as the end of a sentence; None when it does not."""
    if model is None:  # verified implies a model; kept for the type
        return "is not listed in the authenticator metadata"
    refused = sorted(
        {str(report.status.value) for report in model.status_reports} & REFUSED_STATUSES
    )
    if refused:
        return f"is reported compromised or revoked ({', '.join(refused)})"
    status = model.certification
    if status is None or not status.startswith(CERTIFIED_PREFIX):
        return f"is not FIDO certified (its latest status: {status or model.status or 'none'})"
    return None


def _name(attested: Attested) -> str:
    if attested.model is not None and attested.model.description:
        return f'"{attested.model.description}"'
    return f"The authenticator {attested.model_id}" if attested.model_id else "This authenticator"


def _described(model: AuthenticatorModel) -> str:
    return f'"{model.description}"' if model.description else f"the model {model.model_id}"


def _claimed(attested: Attested) -> str:
    """The authenticator as it presented itself: its AAGUID names a model, but unproven."""
    if attested.model is not None and attested.model.description:
        return f'This authenticator (it says it is a "{attested.model.description}")'
    return "This authenticator"
