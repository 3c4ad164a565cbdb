from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from passkey_api.kit import base64url
from passkey_api.kit.text import PASSKEY_NAME_LENGTH, PasskeyName
from passkey_api.passkeys.providers import provider
from passkey_api.storage.models import Passkey


class ProviderOut(BaseModel):
    name: str = Field(description="e.g. 'iCloud Keychain', or from the transports: 'Security key'")
    icon_light: str | None = Field(description="SVG data URI for light backgrounds")
    icon_dark: str | None = Field(description="SVG data URI for dark backgrounds")


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

    @classmethod
    def of(cls, passkey: Passkey) -> PasskeyOut:
        found = provider(passkey.aaguid, passkey.transports)
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
            provider=ProviderOut(
                name=found.name, icon_light=found.icon_light, icon_dark=found.icon_dark
            ),
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


class PasskeyRenamed(PasskeyOut):
    signals: Signals


class RenamePasskey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # max_length bounds what is sent (and the work of enforcing it); PasskeyName bounds
    # what is stored.
    name: PasskeyName = Field(min_length=1, max_length=PASSKEY_NAME_LENGTH)
