from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from passkey_api.authenticators.service import MetadataService
from passkey_api.kit import base64url
from passkey_api.kit.text import PASSKEY_NAME_LENGTH, PasskeyName
from passkey_api.passkeys.providers import provider
from passkey_api.storage.models import Passkey


class ProviderOut(BaseModel):
    name: str = Field(
        description="The model as the authenticator metadata (FIDO MDS) names it, e.g. "
        "'YubiKey 5 Series'; else from the AAGUID list, e.g. 'iCloud Keychain'; else from "
        "the transports: 'Security key'"
    )
    icon_light: str | None = Field(
        description="data: URI for light backgrounds (the metadata's PNG, or the AAGUID list's SVG)"
    )
    icon_dark: str | None = Field(
        description="data: URI for dark backgrounds (the metadata's PNG, or the AAGUID list's SVG)"
    )


AttestationType = Literal["none", "self", "basic", "attca", "anonca"]
CompromiseStatus = Literal[
    "ATTESTATION_KEY_COMPROMISE",
    "USER_VERIFICATION_BYPASS",
    "USER_KEY_REMOTE_COMPROMISE",
    "USER_KEY_PHYSICAL_COMPROMISE",
    "REVOKED",
]


class AttestationOut(BaseModel):
    type: AttestationType = Field(
        description="What the registration's attestation was: none; self (signed by the "
        "passkey's own key); basic, attca or anonca (a certificate chain)"
    )
    verified: bool = Field(
        description="The attestation chain verified, at registration, to a root the "
        "authenticator metadata gives for the model: the authenticator is a genuine one "
        "of that model, or of one of could_also_be's (only with "
        "PASSKEY_ATTESTATION=direct or a policy)"
    )
    model: str | None = Field(
        description="The model the authenticator metadata lists for the passkey's AAGUID "
        "(or U2F key identifier): proven when verified and could_also_be is empty; else "
        "the authenticator's own claim; null when the metadata does not list it, or is off"
    )
    could_also_be: list[str] = Field(
        description="When verified, the other models the attestation could equally be, "
        "as the metadata now lists them (its certificate named no model, under a root "
        "the metadata lists for each of them too, as Windows Hello's TPM keys attest), "
        "named as `model` is (or by AAGUID or key identifier): whatever the metadata "
        "reports of any of them is reported of this passkey. Empty when it proved one "
        "model, and without metadata"
    )


class CompromiseOut(BaseModel):
    status: CompromiseStatus = Field(description="The metadata's latest such status report")
    since: date | None = Field(description="The report's effective date")
    scope: Literal["model", "certificate", "shared_root"] = Field(
        description="model: reported for the whole model, or for an attestation "
        "certificate this passkey cannot be matched against (it stored none), taken as "
        "the whole model's; certificate: for the attestation certificate this passkey's "
        "registration was signed with; shared_root: for another model that the "
        "registration's attestation could not be told apart from (attestation."
        "could_also_be)"
    )
    detail: str = Field(description="The same, in a sentence for the passkey's owner")


class PasskeyOut(BaseModel):
    id: str = Field(description="The credential id (base64url), as WebAuthn names it")
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: list[str]
    discoverable: bool | None = Field(description="null when the browser did not say (credProps)")
    backup_eligible: bool
    backup_state: bool
    device_type: Literal["multi_device", "single_device"] = Field(
        description="multi_device: a synced passkey; single_device: bound to one authenticator"
    )
    aaguid: str
    provider: ProviderOut
    attestation: AttestationOut
    compromised: CompromiseOut | None = Field(
        description="The authenticator metadata now reports the passkey's model "
        "compromised or revoked; null otherwise (and without metadata)"
    )

    @classmethod
    def of(cls, passkey: Passkey, metadata: MetadataService | None = None) -> PasskeyOut:
        """`metadata`: the model's name, icon and status reports, from memory."""
        found = provider(passkey.aaguid, passkey.transports)
        icon_light, icon_dark, name = found.icon_light, found.icon_dark, found.name
        model_name: str | None = None
        compromised: CompromiseOut | None = None
        alike: list[str] = []
        if metadata is not None and metadata.catalogue is not None:
            key_identifier = passkey.attestation_key_identifier
            model = metadata.model_of(passkey.aaguid, key_identifier)
            if passkey.attestation_ca_names and passkey.attestation_verified:
                alike = [
                    other.description or other.model_id or f"aaid:{other.entry.aaid}"
                    for other in metadata.models_under(passkey.attestation_ca_names)
                    if model is None or other.entry is not model.entry
                ]
            if model is not None and model.description:
                name = model_name = model.description
                if model.icon:
                    icon_light = icon_dark = model.icon
            compromise = metadata.compromise(
                passkey.aaguid, key_identifier, passkey.attestation_ca_names
            )
            if compromise is not None:
                compromised = CompromiseOut(
                    status=compromise.status,
                    since=compromise.since,
                    scope=compromise.scope,
                    detail=f"{compromise.words}.",
                )
        return cls(
            id=base64url.encode(passkey.credential_id),
            name=passkey.name,
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
            transports=list(passkey.transports),
            discoverable=passkey.discoverable,
            backup_eligible=passkey.backup_eligible,
            backup_state=passkey.backup_state,
            device_type="multi_device" if passkey.backup_eligible else "single_device",
            aaguid=passkey.aaguid,
            provider=ProviderOut(name=name, icon_light=icon_light, icon_dark=icon_dark),
            attestation=AttestationOut(
                type=passkey.attestation_type,
                verified=passkey.attestation_verified,
                model=model_name,
                could_also_be=alike,
            ),
            compromised=compromised,
        )


class AllAcceptedCredentials(BaseModel):
    """Argument of PublicKeyCredential.signalAllAcceptedCredentials()."""

    model_config = ConfigDict(populate_by_name=True)

    rpId: str
    userId: str
    allAcceptedCredentialIds: list[str]


class CurrentUserDetails(BaseModel):
    """Argument of PublicKeyCredential.signalCurrentUserDetails()."""

    rpId: str
    userId: str
    name: str
    displayName: str


class Signals(BaseModel):
    """WebAuthn Signal API payloads: pass each to the browser so it forgets deleted
    passkeys and shows the user's current names."""

    all_accepted_credentials: AllAcceptedCredentials
    current_user_details: CurrentUserDetails


SafeguardKind = Literal[
    "passkeys_on_several_authenticators", "synced_passkey", "recovery_codes", "recovery_address"
]


class SafeguardOut(BaseModel):
    kind: SafeguardKind = Field(
        description="passkeys_on_several_authenticators: two or more devices or password "
        "managers hold the passkeys; synced_passkey: one is synced (backup eligible); "
        "recovery_codes: unused recovery codes; recovery_address: a verified recovery "
        "address (with email recovery on)"
    )
    detail: str = Field(description="The same, in a sentence for the account's owner")


class PasskeyList(BaseModel):
    passkeys: list[PasskeyOut]
    recovery_risk: bool = Field(
        description="true when nothing in recovery_safeguards protects the account: losing "
        "one device locks the user out, so urge them to add a spare (recovery_advice)"
    )
    recovery_safeguards: list[SafeguardOut] = Field(
        description="What lets the user back in after losing a device; empty when nothing does"
    )
    recovery_advice: str | None = Field(
        description="When recovery_risk: what to do, in a sentence; null otherwise"
    )
    signals: Signals


class AdminPasskeyList(BaseModel):
    """A user's passkeys as an admin sees them: the same items as GET /v1/me/passkeys."""

    passkeys: list[PasskeyOut]
    compromised: int = Field(
        description="How many of them the authenticator metadata reports compromised"
    )


class PasskeyRenamed(PasskeyOut):
    signals: Signals


class RenamePasskey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # max_length bounds what is sent (and the work of enforcing it); PasskeyName bounds
    # what is stored.
    name: PasskeyName = Field(min_length=1, max_length=PASSKEY_NAME_LENGTH)
