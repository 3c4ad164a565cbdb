"""/v1/oauth/*: social sign-in. HTTP in, one service call, HTTP out (mostly redirects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from passkey_api import errors
from passkey_api.api.dependencies import Client
from passkey_api.oauth import native, start
from passkey_api.oauth.callback import finish
from passkey_api.oauth.schemas import ExchangeRequest, ProviderList, ProviderOut
from passkey_api.sessions.schemas import SessionOut, SignedIn
from passkey_api.users.schemas import UserOut
from passkey_api.web import oauth_binding as binding
from passkey_api.web import transport
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import ChallengeStoreDep, DbDep, ResourcesDep, SettingsDep

router = APIRouter(
    prefix="/v1/oauth",
    tags=["oauth"],
    responses=problem_responses(errors.RateLimited),
)

# The query and path parameters of the flow's routes.
ProviderName = Annotated[str, Path(description="A key of PASSKEY_OAUTH_PROVIDERS", max_length=64)]
RedirectTo = Annotated[
    str,
    Query(
        description="Where the browser returns: a page on one of PASSKEY_ORIGINS (with "
        "mode=code: exactly one of PASSKEY_OAUTH_APP_REDIRECTS). It gets `signed_in`, "
        "`passkey_suggested`, `linked`, `code` (mode=code) or `error` (a problem code).",
        max_length=2048,
    ),
]
FlowMode = Annotated[
    Literal["cookie", "code"],
    Query(
        description="`cookie` (browsers): the session cookie is set. `code` (native apps): "
        "redirect_to gets a one-time `code` for POST /v1/oauth/exchange.",
    ),
]
CodeChallenge = Annotated[
    str | None,
    Query(
        description="Required with mode=code: BASE64URL(SHA-256(code_verifier)) (S256); "
        "the exchange needs the code_verifier, so an intercepted code is useless to "
        "another app.",
        max_length=128,
    ),
]
CallbackValue = Annotated[str | None, Query(max_length=2048)]

_REDIRECT: dict[int | str, dict[str, Any]] = {
    status.HTTP_303_SEE_OTHER: {"description": "To the provider, or back to the app"}
}


@router.get("/providers")
async def list_providers(settings: SettingsDep) -> ProviderList:
    """The configured social sign-in providers, for the app's buttons."""
    return ProviderList(
        providers=[ProviderOut.of(name, p) for name, p in settings.oauth_providers.items()]
    )


@router.get(
    "/{provider}/authorize",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={
        **_REDIRECT,
        **problem_responses(
            errors.OAuthProviderUnknown,
            errors.RedirectNotAllowed,
            errors.OAuthCodeChallengeRequired,
            errors.ValidationFailed,
        ),
    },
)
async def authorize(
    provider: ProviderName,
    redirect_to: RedirectTo,
    request: Request,
    store: ChallengeStoreDep,
    resources: ResourcesDep,
    mode: FlowMode = "cookie",
    code_challenge: CodeChallenge = None,
) -> Response:
    """Start a social sign-in: navigate the browser (or the app's browser session) here.
    It goes on to the provider; a failure after redirect_to was accepted goes back to it
    with `?error=<code>`."""
    settings = resources.settings
    result = await start.begin_sign_in(
        store,
        settings,
        resources.oauth,
        provider=provider,
        redirect_to=redirect_to,
        mode=mode,
        code_challenge=code_challenge,
        binding=binding.read(request, settings),
        secret_key=resources.secret_key,
    )
    return _redirect(result, resources)


@router.get(
    "/{provider}/callback",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={
        **_REDIRECT,
        **problem_responses(errors.OAuthProviderUnknown, errors.OAuthStateInvalid),
    },
)
async def callback(
    provider: ProviderName,
    request: Request,
    db: DbDep,
    store: ChallengeStoreDep,
    resources: ResourcesDep,
    client: Client,
    state: CallbackValue = None,
    code: CallbackValue = None,
    error: CallbackValue = None,
) -> Response:
    """Where the provider sends the browser back (the redirect URI registered with it).
    Back to redirect_to with `signed_in` (+ `passkey_suggested`), `code` (mode=code),
    `linked`, or `error`; an unknown or used `state` is a problem response."""
    settings = resources.settings
    session_token, via, _ = transport.read_token(request, settings, resources.secret_key)
    result = await finish(
        db,
        resources.databases,
        store,
        settings,
        resources.oauth,
        provider=provider,
        state=state,
        code=code,
        error=error,
        binding=binding.read(request, settings),
        session_token=session_token if via == "cookie" else None,
        secret_key=resources.secret_key,
        session_cache=resources.session_cache,
        client=client,
        now=datetime.now(UTC),
    )
    return _redirect(result, resources, session_token)


@router.post(
    "/exchange",
    responses=problem_responses(
        errors.OAuthCodeInvalid,
        errors.OAuthCodeVerifierMismatch,
        errors.AccountDisabled,
        errors.ValidationFailed,
        errors.ChallengeStoreUnavailable,
    ),
)
async def exchange(
    body: ExchangeRequest,
    db: DbDep,
    store: ChallengeStoreDep,
    resources: ResourcesDep,
    client: Client,
) -> SignedIn:
    """Native apps: the one-time `code` from redirect_to (valid once, for
    PASSKEY_OAUTH_CODE_TTL) for a session; send `session_token` as a bearer token."""
    result = await native.exchange(
        db,
        store,
        resources.settings,
        code=body.code,
        code_verifier=body.code_verifier,
        secret_key=resources.secret_key,
        client=client,
        now=datetime.now(UTC),
    )
    return SignedIn(
        user=UserOut.of(result.user),
        session=SessionOut.of(result.session),
        signals=result.signals,
        session_token=transport.signed(resources.secret_key, result.token),
        passkey_suggested=result.passkey_suggested,
    )


def _redirect(
    result: start.Redirect, resources: ResourcesDep, session_token: str | None = None
) -> Response:
    response = RedirectResponse(result.location, status_code=status.HTTP_303_SEE_OTHER)
    if result.renewed is not None and session_token is not None:
        transport.set_cookie(
            response,
            resources.settings,
            resources.secret_key,
            session_token,
            result.renewed.expires_at,
        )
    if result.binding is not None:
        binding.set_cookie(response, resources.settings, result.binding)
    if result.signed_in is not None:
        transport.set_cookie(
            response,
            resources.settings,
            resources.secret_key,
            result.signed_in.token,
            result.signed_in.session.expires_at,
        )
    return response
