"""Rate limits, with their limits and switch in the settings (PASSKEY_RATE_LIMIT_*):

- per client (an IPv4 address, an IPv6 /64: client_info.limit_key) and per account on
  the ceremonies, social sign-in and recovery: counted by RateLimitGuard before routing
  (LIMITED_PATHS says which paths), so that every request counts, its body valid or not,
  at no FastAPI dependency's cost on the hottest routes;
- per session on every request that reads one (limit_session, called by the session
  dependency);
- per client, per account and per recipient address on every request that mails an
  address the client names (mail_limits: POST /v1/recovery/email from the guard, PUT
  /v1/me/email from its route through limit_mail, once the account is known).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from passkey_api.errors import RateLimited
from passkey_api.kit import tokens
from passkey_api.recovery import emails
from passkey_api.storage.ratelimit import Limit
from passkey_api.users import names
from passkey_api.web import problems
from passkey_api.web.guards import replay_body, route_path
from passkey_api.web.resources import Resources


async def _enforce(resources: Resources, key: str, spec: str) -> None:
    retry_after = await resources.limiter.hit(key, Limit.parse(spec))
    if retry_after is not None:
        raise RateLimited(
            f"Too many requests; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except Exception:
        return None  # malformed bodies are refused by validation after routing


async def ceremony_limits(resources: Resources, request: Request) -> None:
    settings = resources.settings
    ip = resources.limit_key_of(request)
    await _enforce(resources, f"ip:{ip}", settings.rate_limit_ip)
    body = await _json_body(request)
    account: str | None = None
    if isinstance(body, dict):
        if isinstance(body.get("username"), str):
            try:
                account = "user:" + names.normalize(body["username"])[1]
            except Exception:
                account = "user:" + body["username"][:64]
        elif isinstance(body.get("rawId"), str):
            # A verify names its account through the credential it presents.
            account = "cred:" + body["rawId"][:64]
    if account is not None:
        # Per account *and* client: one client cannot hammer an account, and nobody else
        # can use the limit to lock its owner out.
        digest = hashlib.sha256(f"{account}|{ip}".encode("utf-8", "surrogatepass")).hexdigest()
        await _enforce(resources, f"acct:{digest[:32]}", settings.rate_limit_username)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# The route that mails a recovery link (counted by mail_limits too).
RECOVERY_EMAIL = "/v1/recovery/email"


def _address_key(raw: str) -> str:
    """One key per mailbox: a sub-address (local+tag@domain) lands in local@domain's, so
    its tag is dropped here (only here: the address is stored as given)."""
    try:
        address = emails.normalize(raw)
    except Exception:
        address = raw[:320].strip().lower()
    local, at, domain = address.rpartition("@")
    if at and "+" in local:
        address = f"{local.split('+', 1)[0]}@{domain}"
    return _digest(f"email:{address}")


async def mail_limits(
    resources: Resources, ip: str | None, email: str, account: str | None
) -> None:
    """A request that would mail `email`: counted per client (`ip`, its limit_key), per
    account (when signed in) and per recipient address whatever the path or client. In
    that order, so that a request refused on the sender's counts does not use up the
    recipient's."""
    settings = resources.settings
    await _enforce(resources, f"mail-ip:{ip}", settings.rate_limit_mail_ip)
    if account is not None:
        await _enforce(resources, f"mail-account:{account}", settings.rate_limit_mail_account)
    await _enforce(resources, f"mail-to:{_address_key(email)}", settings.rate_limit_mail_address)


async def limit_mail(resources: Resources, request: Request, *, email: str, account: str) -> None:
    """mail_limits for a signed-in route (the guard cannot know its account)."""
    if resources.settings.rate_limits and resources.mailer is not None:
        await mail_limits(resources, resources.limit_key_of(request), email, account)


async def limit_codes(resources: Resources, *, account: str) -> None:
    """New sets of recovery codes per account: each costs ten slow hashes of the pool
    that every code attempt needs (recovery/codes.py)."""
    if resources.settings.rate_limits:
        await _enforce(
            resources, f"recovery-codes:{account}", resources.settings.rate_limit_recovery_codes
        )


async def recovery_limits(resources: Resources, request: Request) -> None:
    """/v1/recovery/*: per client IP; per (username, IP) for codes, as for ceremonies; and
    per address whatever the IP for emailed links, so that nobody can flood a mailbox
    (which also lets someone delay a victim's recovery email for the window: accepted)."""
    settings = resources.settings
    ip = resources.limit_key_of(request)
    await _enforce(resources, f"recovery-ip:{ip}", settings.rate_limit_recovery_ip)
    body = await _json_body(request)
    key: str | None = None
    if isinstance(body, dict):
        if isinstance(body.get("username"), str):
            try:
                name = names.normalize(body["username"])[1]
            except Exception:
                name = body["username"][:64]
            key = _digest(f"user:{name}|{ip}")
        elif isinstance(body.get("email"), str):
            key = _address_key(body["email"])
    if key is not None:
        await _enforce(resources, f"recovery:{key}", settings.rate_limit_recovery_account)
    if (
        isinstance(body, dict)
        and isinstance(body.get("email"), str)
        and route_path(request.scope) == RECOVERY_EMAIL
        and resources.mailer is not None
    ):
        await mail_limits(resources, ip, body["email"], None)


async def limit_session(resources: Resources, request: Request, token: str | None) -> None:
    """Per session, for every request that reads one (sessions/dependencies.py calls this
    before looking the session up, so that it costs no dependency of its own)."""
    settings = resources.settings
    if not settings.rate_limits:
        return
    # Only a token we signed names a session; anything else counts against the client's
    # address, so junk tokens cannot mint fresh counters. In a bucket of its own, not the
    # ceremonies' `ip:`: an app polling the session while signed out must not spend its
    # users' sign-ins.
    key = f"session:{tokens.token_hash(token).hex()[:32]}" if token else None
    await _enforce(
        resources,
        key or f"anon:{resources.limit_key_of(request)}",
        settings.rate_limit_session,
    )


# Which requests count against which limits, by path prefix.
LIMITED_PATHS: tuple[tuple[str, Callable[[Resources, Request], Awaitable[None]]], ...] = (
    ("/v1/authentication/", ceremony_limits),
    ("/v1/registration/", ceremony_limits),
    ("/v1/oauth/", ceremony_limits),
    ("/v1/recovery/", recovery_limits),
)


class RateLimitGuard:
    """Counts LIMITED_PATHS requests before routing; answers 429 `rate_limited` with
    Retry-After when over a limit. Sits inside BodyLimitMiddleware, which has read the
    (capped) body already."""

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        limits = next((rule for prefix, rule in LIMITED_PATHS if path.startswith(prefix)), None)
        if limits is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            body = await request.body()
        except ClientDisconnect:
            return  # gone before its body arrived: nobody to answer
        try:
            await limits(scope["app"].state.resources, request)
        except RateLimited as exc:
            await problems.api_error_response(exc, scope)(scope, receive, send)
            return
        await self.app(scope, replay_body(body, receive), send)
