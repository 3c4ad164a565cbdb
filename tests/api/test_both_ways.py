"""The same request gets the same answer, byte for byte, from the app with the fast paths
and from the plain FastAPI app: refusals of every kind (each problem `code` in its
place, FastAPI's own 404 and 405), and a valid request or two."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.conftest import ORIGIN, ApiFactory
from tests.softauthn import SoftAuthenticator

JSON = {"content-type": "application/json"}
# A fixed request id: the answers' X-Request-ID and problem `instance` are then the same.
SAME_ID = {"x-request-id": "both-ways-1"}
EVIL = "https://evil.example"
COOKIE = "passkey_session=nonsense"

CASES: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/v1/authentication/options", b"{", JSON),  # malformed_json
    ("POST", "/v1/authentication/options", b'{"username": 5}', JSON),  # validation_error
    ("POST", "/v1/authentication/options", b"{}", {"content-type": "text/plain"}),
    ("POST", "/v1/authentication/options", b"", JSON),
    ("POST", "/v1/authentication/options", b"[]", {"content-type": "application/json; x=1"}),
    ("POST", "/v1/authentication/verify", b'{"id": "!!", "rawId": "!!"}', JSON),
    ("POST", "/v1/authentication/verify", b"{}", {**JSON, "x-client-type": "native"}),
    ("POST", "/v1/registration/options", b'{"username": ""}', JSON),
    # origin_mismatch: a request that carries the session cookie from another origin
    ("POST", "/v1/registration/options", b"{}", {**JSON, "origin": EVIL, "cookie": COOKIE}),
    ("POST", "/v1/registration/verify", b'{"id": "AA", "response": {}}', JSON),
    ("POST", "/v1/registration/options", b'{"username": "' + b"x" * 70_000 + b'"}', JSON),
    ("GET", "/v1/session", None, {}),  # not_authenticated
    ("GET", "/v1/session", None, {"authorization": "Bearer nonsense"}),
    ("GET", "/v1/session", None, {"cookie": COOKIE}),
    ("PUT", "/v1/session", None, {}),  # FastAPI's 405
    ("GET", "/v1/nowhere", None, {}),  # FastAPI's 404
    ("GET", "/v1/me", None, {}),
    ("DELETE", "/v1/me/passkeys/not-a-uuid", None, {}),
    ("POST", "/v1/session/reauthenticate/options", b'{"purpose": "x"}', JSON),
    ("GET", "/.well-known/webauthn", None, {}),  # not_found
    ("GET", "/healthz", None, {}),
    ("POST", "/v1/authentication/options", b"{}", JSON),  # a valid one (a new challenge)
]


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, list(response.headers.multi_items()), response.content


# Each case builds both apps itself: not once more per way.
@pytest.mark.parametrize("fast_paths", [True], ids=["both"])
@pytest.mark.parametrize(("method", "path", "body", "headers"), CASES)
async def test_the_same_answer_with_the_fast_paths_and_without(
    make_api: ApiFactory, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> None:
    fast, plain = await make_api(fast_paths=True), await make_api(fast_paths=False)
    answers = []
    for api in (fast, plain):
        response = await api.client.request(
            method, path, content=body, headers={"origin": ORIGIN, **SAME_ID, **headers}
        )
        answers.append(response)
    if answers[0].status_code == 200 and path == "/v1/authentication/options":
        # A new challenge each: the same answer but for its random bytes.
        (fast_answer, plain_answer) = answers
        assert fast_answer.headers.multi_items() == plain_answer.headers.multi_items()
        assert {**fast_answer.json(), "challenge": ""} == {**plain_answer.json(), "challenge": ""}
        return
    assert _answer(answers[0]) == _answer(answers[1])


SIGNED_IN: list[tuple[str, str, bytes | None, dict[str, str]]] = [
    ("POST", "/v1/session/reauthenticate/options", b'{"purpose": "x"}', JSON),
    ("DELETE", "/v1/me/passkeys/not-a-uuid", None, {}),
    ("DELETE", f"/v1/me/passkeys/{uuid.UUID(int=1)}", None, {}),  # not_found
    ("PATCH", "/v1/me", b'{"display_name": 5}', JSON),
    ("GET", "/v1/admin/users", None, {}),  # forbidden: the admin role
    ("GET", "/v1/me/recovery-codes", None, {}),
    ("POST", "/v1/authentication/verify", b"{}", JSON),
]


@pytest.mark.parametrize("fast_paths", [True], ids=["both"])
@pytest.mark.parametrize(("method", "path", "body", "headers"), SIGNED_IN)
async def test_the_same_answer_to_a_signed_in_user_both_ways(
    make_api: ApiFactory,
    authenticator: SoftAuthenticator,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> None:
    fast, plain = await make_api(fast_paths=True), await make_api(fast_paths=False)
    assert (await fast.sign_up(authenticator)).status_code == 201
    plain.client.cookies = fast.client.cookies  # one session, on the one database
    answers = []
    for api in (fast, plain):
        response = await api.client.request(
            method, path, content=body, headers={"origin": ORIGIN, **SAME_ID, **headers}
        )
        answers.append(_answer(response))
    assert answers[0] == answers[1]
