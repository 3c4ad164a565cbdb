"""OriginCheckMiddleware.refuses() reads the raw header list in one pass; these check it
against the rule spelled with Starlette's Headers and cookie parser, as it was first
written, over generated header lists."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from passkey_api.web.guards import OriginCheckMiddleware

ORIGINS = ["https://app.example", "http://localhost:8000"]
COOKIES = ("__Host-passkey_session", "passkey_session")


def _reference(raw: list[tuple[bytes, bytes]]) -> bool:
    headers = Headers(raw=raw)
    if headers.get("authorization", "").lower().startswith("bearer "):
        return False
    joined = "; ".join(headers.getlist("cookie"))
    if not joined or not any(name in cookie_parser(joined) for name in COOKIES):
        return False
    origin = headers.get("origin")
    if origin is not None:
        return origin not in ORIGINS
    referer = headers.get("referer")
    if referer:
        try:
            parts = urlsplit(referer)
        except ValueError:
            return True
        return f"{parts.scheme}://{parts.netloc}" not in ORIGINS
    return headers.get("sec-fetch-site") != "same-origin"


_VALUES = {
    b"cookie": [
        b"passkey_session=abc",
        b"__Host-passkey_session=x.y",
        b"a=b; passkey_session=1",
        b'a="x; passkey_session=2',
        b"passkey_session_other=3",
        b"xpasskey_session=4",
        b" passkey_session =5",
        b"theme=dark",
        b"",
    ],
    b"authorization": [b"Bearer t", b"bearer t", b"BEARER  t", b"Basic x", b"Bearer", b""],
    b"origin": [
        b"https://app.example",
        b"https://evil.example",
        b"null",
        b"",
        b"HTTPS://APP.EXAMPLE",
    ],
    b"referer": [b"https://app.example/p", b"http://[oops/", b"https://evil.example/", b""],
    b"sec-fetch-site": [b"same-origin", b"cross-site", b"same-site", b""],
    b"x-other": [b"passkey_session=1"],
}
_HEADER = st.sampled_from(sorted(_VALUES)).flatmap(
    lambda name: st.tuples(st.just(name), st.sampled_from(_VALUES[name]))
)


@settings(max_examples=2000)
@given(st.lists(_HEADER, max_size=6))
def test_refuses_exactly_what_the_header_object_rule_refuses(
    raw: list[tuple[bytes, bytes]],
) -> None:
    check = OriginCheckMiddleware(app=None, origins=ORIGINS, cookie_names=COOKIES)  # type: ignore[arg-type]
    assert check.refuses(raw) == _reference(raw)


def test_the_cases_that_matter_most() -> None:
    check = OriginCheckMiddleware(app=None, origins=ORIGINS, cookie_names=COOKIES)  # type: ignore[arg-type]
    session = (b"cookie", b"passkey_session=abc")
    assert check.refuses([session, (b"origin", b"https://evil.example")])
    assert check.refuses([session])  # no origin, no referer, no fetch metadata
    assert not check.refuses([session, (b"origin", b"https://app.example")])
    assert not check.refuses([session, (b"sec-fetch-site", b"same-origin")])
    assert not check.refuses([session, (b"authorization", b"Bearer t")])
    assert not check.refuses([(b"origin", b"https://evil.example")])  # no cookie of ours
