"""What recovery by code or emailed link answers."""

from __future__ import annotations

from passkey_api.errors.problem import ApiError


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
