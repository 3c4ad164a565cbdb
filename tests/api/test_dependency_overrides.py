"""`app.dependency_overrides` reaches the service's own routes, as FastAPI documents it,
with the fast paths and without: what an embedder's tests do to stand in for a signed-in
user, or for the settings."""

from __future__ import annotations

from sqlmodel import select

from passkey_api.api.dependencies import current_session
from passkey_api.config import Settings
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.models import Session, User
from passkey_api.web.resources import get_settings
from tests.api.conftest import ApiFactory, problem_code
from tests.softauthn import SoftAuthenticator


async def test_a_stand_in_for_the_session_dependency_signs_the_request_in(
    make_api: ApiFactory, authenticator: SoftAuthenticator
) -> None:
    api = await make_api()
    signed_up = await api.sign_up(authenticator, "overridden")
    assert signed_up.status_code == 201, signed_up.text
    async with api.resources.sessionmaker() as db:
        user = (await db.exec(select(User).where(User.username == "overridden"))).one()
        session = (await db.exec(select(Session).where(Session.user_id == user.id))).one()
    stand_in = ActiveSession(session=session, user=user, extended=False)
    api.client.cookies.clear()  # from here on, no session of its own
    assert problem_code(await api.client.get("/v1/session")) == "not_authenticated"

    async def signed_in() -> ActiveSession:
        return stand_in

    api.app.dependency_overrides[current_session] = signed_in
    try:
        # The hottest route (a planned one, with the fast paths) and an ordinary one.
        answer = await api.client.get("/v1/session")
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["username"] == "overridden"
        me = await api.client.get("/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "overridden"
    finally:
        api.app.dependency_overrides.clear()
    assert problem_code(await api.client.get("/v1/session")) == "not_authenticated"


async def test_a_stand_in_for_the_settings_dependency_is_what_the_route_reads(
    make_api: ApiFactory,
) -> None:
    api = await make_api()
    assert problem_code(await api.client.get("/.well-known/webauthn")) == "not_found"
    related = ["https://example.co.uk"]

    async def settings() -> Settings:
        return api.settings.model_copy(update={"related_origins": related})

    api.app.dependency_overrides[get_settings] = settings
    try:
        answer = await api.client.get("/.well-known/webauthn")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"origins": [*api.settings.origins, *related]}
    finally:
        api.app.dependency_overrides.clear()
    assert problem_code(await api.client.get("/.well-known/webauthn")) == "not_found"
