"""What the service answers when a part of it cannot serve now (a store unreachable or
full, a queue at its bound, the server at its connection cap): each tells when to try
again."""

from __future__ import annotations

from passkey_api.errors.problem import ApiError


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


# Answered by `passkey-api serve`'s protocol itself (web/serving.py), before or around
# the app.
class RequestTimeout(ApiError):
    """A request's headers did not arrive within `serve --read-timeout`."""

    status, code, title = 408, "request_timeout", "The request was not sent in time"


class ServerBusy(ApiError):
    """More connections than `serve --max-connections` at once: this one is not served."""

    status, code, title = 503, "server_busy", "Too many connections"
    retry_after = 1
