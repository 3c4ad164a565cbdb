"""Every failure the API reports, as RFC 9457 problem details with a stable `code`.

Codes are part of the contract: clients branch on them, so they are added, never renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # Unavailability is temporary: clients are told when to try again.
    retry_after: ClassVar[int | None] = None

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        self.detail = detail or self.title
        if headers is None and self.retry_after is not None:
            headers = {"Retry-After": str(self.retry_after)}
        self.headers = headers
        self.extensions = extensions
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(
            status=self.status,
            code=self.code,
            title=self.title,
            detail=self.detail,
            instance=instance,
            **self.extensions,
        )


def instance_of(scope: Mapping[str, Any]) -> str | None:
    """A problem's `instance`: the request id that RequestMiddleware put in the ASGI
    scope's state, as a URN (None before that middleware ran)."""
    request_id = scope.get("state", {}).get("request_id")
    return f"urn:request:{request_id}" if request_id else None


def problem_body(
    *, status: int, code: str, title: str, detail: str, instance: str | None = None, **ext: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:passkey-api:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(ext)
    return body


# --- request shape -------------------------------------------------------------------


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


# --- ceremony state -------------------------------------------------------------------


class ChallengeExpired(ApiError):
    status, code, title = 400, "challenge_expired", "The challenge is unknown, used or expired"


class CeremonyMismatch(ApiError):
    status, code, title = 400, "ceremony_mismatch", "The challenge belongs to another ceremony"


class ClientDataTypeMismatch(ApiError):
    status, code, title = 400, "client_data_type_mismatch", "clientDataJSON has the wrong type"


# --- verification ---------------------------------------------------------------------


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


# --- conflicts ------------------------------------------------------------------------


class UsernameTaken(ApiError):
    status, code, title = 409, "username_taken", "This username is taken"


class CredentialExists(ApiError):
    status, code, title = 409, "credential_exists", "This passkey is already registered"


# --- sessions -------------------------------------------------------------------------


class NotAuthenticated(ApiError):
    status, code, title = 401, "not_authenticated", "Sign-in required"


class AccountDisabled(ApiError):
    status, code, title = 403, "account_disabled", "This account is disabled"


class ReauthenticationRequired(ApiError):
    status, code, title = 403, "reauthentication_required", "Confirm it is you with your passkey"


class RoleRequired(ApiError):
    status, code, title = 403, "forbidden", "You are not allowed to do this"


# --- accounts -------------------------------------------------------------------------


class NotFound(ApiError):
    status, code, title = 404, "not_found", "Not found"


class TooManyPasskeys(ApiError):
    status, code, title = 409, "too_many_passkeys", "This account has as many passkeys as it may"


class LastPasskey(ApiError):
    status, code, title = 409, "last_passkey", "The last passkey of an account cannot be removed"


class LastAdmin(ApiError):
    status, code, title = 409, "last_admin", "The last admin cannot be demoted or disabled"


class EmailTaken(ApiError):
    status, code, title = 409, "email_taken", "This address recovers another account"


# --- recovery -------------------------------------------------------------------------


class RecoveryFailed(ApiError):
    # One answer for an unknown user, a wrong code and a used one: which it was is not told.
    status, code, title = 400, "recovery_failed", "The username or recovery code is not right"


class RecoveryLinkInvalid(ApiError):
    status, code, title = 400, "recovery_link_invalid", "The link is unknown, used or expired"


class RecoverySessionRestricted(ApiError):
    status, code, title = (
        403,
        "recovery_session_restricted",
        "A recovery session can only add a passkey",
    )


class EmailRecoveryDisabled(ApiError):
    status, code, title = 404, "email_recovery_disabled", "Email recovery is not configured"


class InvalidEmail(ApiError):
    status, code, title = 422, "invalid_email", "The email address is not acceptable"


class PasskeyRequired(ApiError):
    status, code, title = (
        403,
        "passkey_required",
        "Create a passkey first: this account has none to confirm it is you",
    )


class FreshSignInRequired(ApiError):
    status, code, title = 403, "fresh_sign_in_required", "Sign in again, then try again"


class LastSignInMethod(ApiError):
    status, code, title = (
        409,
        "last_sign_in_method",
        "The last way into an account cannot be removed",
    )


class RateLimited(ApiError):
    status, code, title = 429, "rate_limited", "Too many requests"


# --- social sign-in (OAuth 2.0 / OpenID Connect) ---------------------------------------


class OAuthProviderUnknown(ApiError):
    status, code, title = 404, "oauth_provider_unknown", "No such sign-in provider"


class RedirectNotAllowed(ApiError):
    status, code, title = 400, "redirect_not_allowed", "redirect_to is not an allowed address"


class OAuthCodeChallengeRequired(ApiError):
    status, code, title = (
        400,
        "oauth_code_challenge_required",
        "mode=code needs the app's PKCE code_challenge (S256)",
    )


class OAuthStateInvalid(ApiError):
    status, code, title = 400, "oauth_state_invalid", "The sign-in is unknown, used or expired"


class OAuthBrowserMismatch(ApiError):
    status, code, title = (
        400,
        "oauth_browser_mismatch",
        "The sign-in was started in another browser",
    )


class OAuthDenied(ApiError):
    status, code, title = 400, "oauth_denied", "The provider did not authorise the sign-in"


class OAuthCodeRejected(ApiError):
    status, code, title = (
        400,
        "oauth_code_rejected",
        "The provider refused the authorization code (used or expired)",
    )


class OAuthNonceMismatch(ApiError):
    status, code, title = 400, "oauth_nonce_mismatch", "The ID token belongs to another sign-in"


class OAuthIdTokenInvalid(ApiError):
    status, code, title = 502, "oauth_id_token_invalid", "The provider's ID token did not verify"


class OAuthIdTokenExpired(ApiError):
    status, code, title = 502, "oauth_id_token_expired", "The provider's ID token has expired"


class OAuthProviderError(ApiError):
    status, code, title = 502, "oauth_provider_error", "The provider answered with an error"


class OAuthProviderUnavailable(ApiError):
    status, code, title = 503, "oauth_provider_unavailable", "The provider is unreachable"
    retry_after = 5


class AccountExistsSignInFirst(ApiError):
    status, code, title = (
        409,
        "account_exists_sign_in_first",
        "An account with this email exists: sign in with its passkey, then link",
    )


class IdentityInUse(ApiError):
    status, code, title = (
        409,
        "identity_in_use",
        "This provider account is linked to another account",
    )


class OAuthCodeInvalid(ApiError):
    status, code, title = 400, "oauth_code_invalid", "The one-time code is unknown, used or expired"


class OAuthCodeVerifierMismatch(ApiError):
    status, code, title = (
        400,
        "oauth_code_verifier_mismatch",
        "code_verifier does not match the code_challenge",
    )


# --- infrastructure -------------------------------------------------------------------


class ChallengeStoreUnavailable(ApiError):
    status, code, title = 503, "challenge_store_unavailable", "The challenge store is unreachable"
    retry_after = 5


class ChallengeStoreFull(ApiError):
    """The in-process challenge store (no Redis) holds as many live ceremonies as it may:
    new ones wait rather than evict ceremonies in progress (challenges.py)."""

    status, code, title = 503, "challenge_store_full", "Too many ceremonies in progress"
    retry_after = 5


class SessionCacheUnavailable(ApiError):
    """A change to users or sessions that Redis refused to register (sessions/cache.py):
    not committed, since other replicas could go on serving cached sessions."""

    status, code, title = 503, "session_cache_unavailable", "Redis refused to record a change"
    retry_after = 5


class DatabaseUnavailable(ApiError):
    status, code, title = 503, "database_unavailable", "The database is unreachable"
    retry_after = 5


class MailQueueFull(ApiError):
    """The outbox is at PASSKEY_MAIL_QUEUE_SIZE: a request that would mail someone is
    refused before it changes anything, rather than its message dropped (mail.py)."""

    status, code, title = 503, "mail_queue_full", "Too much mail is waiting to be sent"
    retry_after = 30


class RecoveryBusy(ApiError):
    """The slow hashes of recovery codes waiting in this process are at
    PASSKEY_RECOVERY_HASH_QUEUE: a request that needs more is refused before it counts or
    writes anything, rather than queue behind a flood (recovery/codes.py)."""

    status, code, title = 503, "recovery_busy", "Too many recovery codes are being checked"
    retry_after = 2


# Answered by `passkey-api serve`'s protocol itself (serving.py), before or around the app.


class RequestTimeout(ApiError):
    """A request's headers did not arrive within `serve --read-timeout`."""

    status, code, title = 408, "request_timeout", "The request was not sent in time"


class ServerBusy(ApiError):
    """More connections than `serve --max-connections` at once: this one is not served."""

    status, code, title = 503, "server_busy", "Too many connections"
    retry_after = 1


# What a route behind require_reauthentication() can answer.
STEP_UP_ERRORS: tuple[type[ApiError], ...] = (
    ReauthenticationRequired,
    PasskeyRequired,
    FreshSignInRequired,
)

# --- what each kind of ceremony can answer (for the OpenAPI document) -----------------

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
)
