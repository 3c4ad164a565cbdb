"""What the WebAuthn ceremonies answer: a request of the wrong shape, a challenge that is
not the ceremony's, a response that fails verification, a credential or username that
exists already; and, for the OpenAPI document, what each kind of ceremony can answer."""

from __future__ import annotations

from passkey_api.errors.availability import ChallengeStoreUnavailable
from passkey_api.errors.problem import ApiError


class MalformedJson(ApiError):
    status, code, title = 400, "malformed_json", "The request body is not valid JSON"


class ValidationFailed(ApiError):
    status, code, title = 422, "validation_error", "The request does not match the schema"


class InvalidBase64Url(ApiError):
    status, code, title = 422, "invalid_base64url", "A binary field is not canonical base64url"


class MalformedClientData(ApiError):
    status, code, title = 422, "malformed_client_data", "clientDataJSON is malformed"


class MalformedAuthenticatorData(ApiError):
    status, code, title = 422, "malformed_authenticator_data", "Authenticator data is malformed"


class MalformedAttestation(ApiError):
    status, code, title = 422, "malformed_attestation", "The attestation object is malformed"


class CredentialIdTooLong(ApiError):
    status, code, title = 422, "credential_id_too_long", "Credential ids are at most 1023 bytes"


class InvalidUsername(ApiError):
    status, code, title = 422, "invalid_username", "The username is not acceptable"


class ChallengeExpired(ApiError):
    status, code, title = 400, "challenge_expired", "The challenge is unknown, used or expired"


class CeremonyMismatch(ApiError):
    status, code, title = 400, "ceremony_mismatch", "The challenge belongs to another ceremony"


class ClientDataTypeMismatch(ApiError):
    status, code, title = 400, "client_data_type_mismatch", "clientDataJSON has the wrong type"


class OriginMismatch(ApiError):
    status, code, title = 400, "origin_mismatch", "The response comes from an origin not allowed"


class CrossOriginRefused(ApiError):
    status, code, title = (
        400,
        "cross_origin_refused",
        "Cross-origin (iframe) ceremonies are refused",
    )


class RpIdMismatch(ApiError):
    status, code, title = 400, "rp_id_mismatch", "The credential is scoped to another RP ID"


class UserPresenceRequired(ApiError):
    status, code, title = 400, "user_presence_required", "The authenticator did not see the user"


class UserVerificationRequired(ApiError):
    status, code, title = 400, "user_verification_required", "User verification is required"


class InvalidCredential(ApiError):
    status, code, title = 400, "invalid_credential", "The credential response did not verify"


class UnsupportedAlgorithm(ApiError):
    status, code, title = (
        400,
        "unsupported_algorithm",
        "The credential uses an unsupported algorithm",
    )


class InvalidPublicKey(ApiError):
    status, code, title = (
        400,
        "invalid_public_key",
        "The credential public key fits none of the accepted key profiles",
    )


class UntrustedPublicKey(ApiError):
    status, code, title = (
        403,
        "untrusted_public_key",
        "This passkey's stored key no longer meets the service's key rules",
    )


class UnknownCredential(ApiError):
    status, code, title = 400, "unknown_credential", "This passkey is not known to the service"


class CredentialNotAllowed(ApiError):
    """No longer answered: in a ceremony bound to one account a credential that is not
    the account's is refused as a bad signature (`invalid_credential`), so that the answer
    does not tell whether the account exists. Kept so the code is never reused."""

    status, code, title = 400, "credential_not_allowed", "This passkey was not offered for sign-in"


class UserHandleMismatch(ApiError):
    status, code, title = 400, "user_handle_mismatch", "The passkey belongs to another account"


class UserHandleMissing(ApiError):
    status, code, title = 400, "user_handle_missing", "A discoverable sign-in must carry userHandle"


class SignCountRegression(ApiError):
    status, code, title = 400, "sign_count_regression", "The authenticator's counter went back"


class BackupEligibilityChanged(ApiError):
    status, code, title = 400, "backup_eligibility_changed", "The backup-eligible flag changed"


class UsernameTaken(ApiError):
    status, code, title = 409, "username_taken", "This username is taken"


class CredentialExists(ApiError):
    status, code, title = 409, "credential_exists", "This passkey is already registered"


class AuthenticatorNotAllowed(ApiError):
    """The service accepts only some authenticators (PASSKEY_AUTHENTICATOR_POLICY,
    PASSKEY_ALLOWED_AUTHENTICATORS), and this one is not among them, or did not prove
    which it is; the detail names the model when the metadata knows it."""

    status, code, title = (
        403,
        "authenticator_not_allowed",
        "This service does not accept this authenticator",
    )


class AuthenticatorCompromised(ApiError):
    """PASSKEY_COMPROMISED_AUTHENTICATORS=refuse, and the authenticator metadata reports
    the passkey's model compromised or revoked; said only once the signature verified.
    The detail names the model and the report."""

    status, code, title = (
        403,
        "authenticator_compromised",
        "This passkey's authenticator is reported compromised",
    )


CEREMONY_ERRORS: tuple[type[ApiError], ...] = (
    ValidationFailed,
    MalformedJson,
    InvalidBase64Url,
    MalformedClientData,
    ChallengeExpired,
    CeremonyMismatch,
    ClientDataTypeMismatch,
    OriginMismatch,
    CrossOriginRefused,
    CredentialIdTooLong,
    RpIdMismatch,
    UserPresenceRequired,
    UserVerificationRequired,
    InvalidCredential,
    ChallengeStoreUnavailable,
)


ATTESTATION_ERRORS = (
    *CEREMONY_ERRORS,
    MalformedAttestation,
    MalformedAuthenticatorData,
    InvalidPublicKey,
    UnsupportedAlgorithm,
    CredentialExists,
    AuthenticatorNotAllowed,
)


ASSERTION_ERRORS = (
    *CEREMONY_ERRORS,
    MalformedAuthenticatorData,
    UnknownCredential,
    UserHandleMismatch,
    UserHandleMissing,
    BackupEligibilityChanged,
    SignCountRegression,
    UntrustedPublicKey,
    AuthenticatorCompromised,
)
