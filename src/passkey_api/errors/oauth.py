"""What social sign-in (OAuth 2.0 / OpenID Connect) and linking answer."""

from __future__ import annotations

from passkey_api.errors.problem import ApiError


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
