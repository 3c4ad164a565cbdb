"""WebAuthn Level 3 JSON forms, as browsers produce them with `credential.toJSON()`.

Every binary field is strict unpadded base64url, decoded to bytes at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from passkey_api.kit import base64url
from passkey_api.kit.text import DisplayName
from passkey_api.sessions.service import Purpose


@dataclass(frozen=True)
class Base64Url:
    """Annotated[bytes, Base64Url(n)]: sent as strict unpadded base64url, at most n bytes."""

    max_bytes: int

    @property
    def max_chars(self) -> int:
        return (self.max_bytes * 4 + 2) // 3

    def decode(self, value: object) -> bytes:
        if not isinstance(value, str):
            raise PydanticCustomError("base64url", "must be a base64url string")
        if len(value) > self.max_chars:
            raise PydanticCustomError(
                "too_long", "longer than {max_bytes} bytes", {"max_bytes": self.max_bytes}
            )
        try:
            return base64url.decode(value)
        except ValueError:
            raise PydanticCustomError("base64url", "must be unpadded base64url") from None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.decode,
            serialization=core_schema.plain_serializer_function_ser_schema(
                base64url.encode, return_schema=core_schema.str_schema()
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "format": "base64url",
            "pattern": "^[A-Za-z0-9_-]*$",
            "maxLength": self.max_chars,
        }


Hint = Literal["security-key", "client-device", "hybrid"]
Attachment = Literal["platform", "cross-platform"]
Hints = Annotated[list[Hint], Field(max_length=3)]

# Bounds on what a browser could plausibly send; anything larger is an attack or a bug.
# Credential ids may be up to 1023 bytes (WebAuthn); the field admits a little more so
# that a longer one is refused with its own code, credential_id_too_long.
CredentialIdBytes = Annotated[bytes, Base64Url(2048)]
ClientDataBytes = Annotated[bytes, Base64Url(4096)]
AuthenticatorDataBytes = Annotated[bytes, Base64Url(4096)]
AttestationObjectBytes = Annotated[bytes, Base64Url(32_768)]
SignatureBytes = Annotated[bytes, Base64Url(1024)]
PublicKeyBytes = Annotated[bytes, Base64Url(4096)]
UserHandleBytes = Annotated[bytes, Base64Url(64)]
MAX_CREDENTIAL_ID_TEXT = 2800


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- options requests -----------------------------------------------------------------


class RegistrationOptionsRequest(Strict):
    # An empty name is users/names.py's to refuse (invalid_username), with its reason.
    username: str = Field(max_length=256)
    display_name: DisplayName | None = None
    attachment: Attachment | None = None
    hints: Hints = []


class AddPasskeyOptionsRequest(Strict):
    attachment: Attachment | None = None
    hints: Hints = []
    mediation: Literal["conditional"] | None = Field(
        default=None,
        description=(
            '"conditional" when the client will call navigator.credentials.create() with '
            'mediation: "conditional" (WebAuthn Level 3, conditional create): the browser '
            "may then make the passkey without a gesture, so its verify accepts a response "
            "without user presence. Only a challenge begun so accepts it."
        ),
    )


class AuthenticationOptionsRequest(Strict):
    username: str | None = Field(default=None, max_length=256)
    hints: Hints = []


# --- credential responses -------------------------------------------------------------


class AttestationResponseJSON(Strict):
    clientDataJSON: ClientDataBytes
    attestationObject: AttestationObjectBytes
    authenticatorData: AuthenticatorDataBytes | None = None
    transports: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=8)] = []
    publicKey: PublicKeyBytes | None = None
    publicKeyAlgorithm: int | None = None


class RegistrationResponseJSON(Strict):
    id: str = Field(max_length=MAX_CREDENTIAL_ID_TEXT)
    rawId: CredentialIdBytes
    type: Literal["public-key"]
    response: AttestationResponseJSON
    authenticatorAttachment: Attachment | None = None
    clientExtensionResults: dict[str, Any] = Field(default_factory=dict, max_length=16)


class AssertionResponseJSON(Strict):
    clientDataJSON: ClientDataBytes
    authenticatorData: AuthenticatorDataBytes
    signature: SignatureBytes
    userHandle: UserHandleBytes | None = None


class AuthenticationResponseJSON(Strict):
    id: str = Field(max_length=MAX_CREDENTIAL_ID_TEXT)
    rawId: CredentialIdBytes
    type: Literal["public-key"]
    response: AssertionResponseJSON
    authenticatorAttachment: Attachment | None = None
    clientExtensionResults: dict[str, Any] = Field(default_factory=dict, max_length=16)


# --- options responses (documentation of what the service returns) --------------------


class CredentialDescriptorJSON(BaseModel):
    id: str
    type: Literal["public-key"]
    transports: list[str] | None = None


class RpEntityJSON(BaseModel):
    id: str
    name: str


class UserEntityJSON(BaseModel):
    id: str = Field(description="base64url user handle: random, never personal data")
    name: str
    displayName: str


class CredentialParameterJSON(BaseModel):
    type: Literal["public-key"]
    alg: int = Field(description="COSE algorithm: -8 Ed25519, -7 ES256, -257 RS256")


class AuthenticatorSelectionJSON(BaseModel):
    authenticatorAttachment: Attachment | None = None
    residentKey: Literal["discouraged", "preferred", "required"]
    requireResidentKey: bool
    userVerification: Literal["discouraged", "preferred", "required"]


class CreationExtensionsJSON(BaseModel):
    credProps: bool


class CreationOptionsJSON(BaseModel):
    """PublicKeyCredentialCreationOptionsJSON: pass to parseCreationOptionsFromJSON()."""

    model_config = ConfigDict(extra="allow")

    rp: RpEntityJSON
    user: UserEntityJSON
    challenge: str
    pubKeyCredParams: list[CredentialParameterJSON]
    timeout: int
    excludeCredentials: list[CredentialDescriptorJSON]
    authenticatorSelection: AuthenticatorSelectionJSON
    attestation: Literal["none", "indirect", "direct", "enterprise"]
    hints: list[Hint]
    extensions: CreationExtensionsJSON


class RequestOptionsJSON(BaseModel):
    """PublicKeyCredentialRequestOptionsJSON: pass to parseRequestOptionsFromJSON()."""

    model_config = ConfigDict(extra="allow")

    challenge: str
    timeout: int
    rpId: str
    allowCredentials: list[CredentialDescriptorJSON]
    userVerification: Literal["discouraged", "preferred", "required"]
    hints: list[Hint]


# The step-up: the same assertion ceremony, for a signed-in session.


class ReauthenticationOptionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    hints: Hints = []


class Reauthenticated(BaseModel):
    purpose: Purpose
    valid_until: datetime = Field(
        description="Sensitive actions of this purpose are allowed until then."
    )
    session_token: str | None = Field(
        default=None,
        description="The step-up gives the session a new token and the old one stops "
        "working at once. Only when the session came as a bearer token: the new one, to "
        "send from now on. Browsers get a new cookie instead.",
    )
