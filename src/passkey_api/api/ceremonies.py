"""/v1/registration/* and /v1/authentication/*: HTTP in, one service call, HTTP out.

The hottest routes of the service: they take the Request and read the app's resources
and the client from it, instead of through dependencies, each of which FastAPI solves at
a cost (~60,000 instructions) larger than the lookup it stands for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import JSONResponse

from passkey_api import errors
from passkey_api.api.dependencies import client_of
from passkey_api.ceremonies import sign_in, sign_up, steps
from passkey_api.ceremonies.schemas import (
    AuthenticationOptionsRequest,
    AuthenticationResponseJSON,
    CreationOptionsJSON,
    RegistrationOptionsRequest,
    RegistrationResponseJSON,
    RequestOptionsJSON,
)
from passkey_api.sessions.schemas import SessionOut, SignedIn
from passkey_api.users.schemas import UserOut
from passkey_api.web import transport
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import Resources, resources_of

router = APIRouter(
    prefix="/v1",
    tags=["ceremonies"],
    responses=problem_responses(errors.RateLimited),
)

ClientType = Annotated[
    str | None,
    Header(
        alias="X-Client-Type",
        description="`native` for apps: the session comes back as a bearer token, not a cookie.",
    ),
]


@router.post(
    "/authentication/options",
    response_model=RequestOptionsJSON,
    responses=problem_responses(
        errors.ValidationFailed, errors.ChallengeStoreUnavailable, errors.ChallengeStoreFull
    ),
)
async def authentication_options(
    body: AuthenticationOptionsRequest, request: Request
) -> JSONResponse:
    """Start a sign-in. `{}` for discoverable/autofill sign-in (allowCredentials empty);
    `{"username"}` to list that user's passkeys. Never tells whether a username exists."""
    resources = resources_of(request)
    return _options(
        await sign_in.options(
            resources.databases,
            resources.challenges,
            resources.settings,
            body,
            await resources.decoy_seed.get(),
        )
    )


@router.post(
    "/authentication/verify",
    response_model=SignedIn,
    responses=problem_responses(*errors.ASSERTION_ERRORS, errors.AccountDisabled),
)
async def authentication_verify(
    body: AuthenticationResponseJSON, request: Request, client_type: ClientType = None
) -> Response:
    """Finish a sign-in with `credential.toJSON()`. An unknown credential answers
    `unknown_credential` with `signal_unknown_credential` for
    `PublicKeyCredential.signalUnknownCredential()`."""
    resources = resources_of(request)
    result = await sign_in.verify(
        resources.databases,
        resources.challenges,
        resources.settings,
        body,
        decoy_seed=await resources.decoy_seed.get(),
        client=client_of(request, resources),
        now=datetime.now(UTC),
        metadata=resources.metadata,
    )
    return _signed_in(result, resources, client_type, status.HTTP_200_OK)


@router.post(
    "/registration/options",
    response_model=CreationOptionsJSON,
    responses=problem_responses(
        errors.UsernameTaken,
        errors.InvalidUsername,
        errors.ValidationFailed,
        errors.ChallengeStoreUnavailable,
        errors.ChallengeStoreFull,
    ),
)
async def registration_options(body: RegistrationOptionsRequest, request: Request) -> JSONResponse:
    """Start a sign-up: PublicKeyCredentialCreationOptionsJSON for
    `PublicKeyCredential.parseCreationOptionsFromJSON()`."""
    resources = resources_of(request)
    return _options(
        await sign_up.options(resources.databases, resources.challenges, resources.settings, body)
    )


@router.post(
    "/registration/verify",
    status_code=status.HTTP_201_CREATED,
    response_model=SignedIn,
    responses=problem_responses(*errors.ATTESTATION_ERRORS, errors.UsernameTaken),
)
async def registration_verify(
    body: RegistrationResponseJSON, request: Request, client_type: ClientType = None
) -> Response:
    """Finish a sign-up with `credential.toJSON()`: creates the account and signs it in."""
    resources = resources_of(request)
    result = await sign_up.verify(
        resources.databases,
        resources.challenges,
        resources.settings,
        body,
        decoy_seed=await resources.decoy_seed.get(),
        client=client_of(request, resources),
        now=datetime.now(UTC),
        metadata=resources.metadata,
    )
    return _signed_in(result, resources, client_type, status.HTTP_201_CREATED)


def _options(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


def _signed_in(
    result: steps.SignedIn,
    resources: Resources,
    client_type: str | None,
    status_code: int,
) -> Response:
    body = SignedIn(
        user=UserOut.of(result.user), session=SessionOut.of(result.session), signals=result.signals
    )
    native = transport.is_native(client_type)
    if native:
        body.session_token = transport.signed(resources.secret_key, result.token)
    # Serialised once, here: returned as a model, FastAPI would validate it all again.
    response = Response(
        body.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json"
    )
    if not native:
        transport.set_cookie(
            response,
            resources.settings,
            resources.secret_key,
            result.token,
            result.session.expires_at,
        )
    return response
