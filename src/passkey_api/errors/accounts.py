"""What the account model answers: no or a disabled session, a role or a step-up
missing, something not found, the last passkey, admin or way in, too many requests."""

from __future__ import annotations

from passkey_api.errors.problem import ApiError


class NotAuthenticated(ApiError):
    status, code, title = 401, "not_authenticated", "Sign-in required"


class AccountDisabled(ApiError):
    status, code, title = 403, "account_disabled", "This account is disabled"


class ReauthenticationRequired(ApiError):
    status, code, title = 403, "reauthentication_required", "Confirm it is you with your passkey"


class RoleRequired(ApiError):
    status, code, title = 403, "forbidden", "You are not allowed to do this"


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


# What a route behind require_reauthentication() can answer.
STEP_UP_ERRORS: tuple[type[ApiError], ...] = (
    ReauthenticationRequired,
    PasskeyRequired,
    FreshSignInRequired,
)
