"""The fast paths are one optional layer: off, the app is plain FastAPI (routers included,
no LeanRoute, no DirectRoutes) and `serve` runs serving's protocol; on, over a release of
FastAPI, Starlette or uvicorn they do not know, they stay off, with one warning. The
document is the same either way."""

import json
import logging
import tomllib
from pathlib import Path

import fastapi
import httpx
import pytest
import starlette
import uvicorn
from click.testing import CliRunner
from fastapi import APIRouter, FastAPI, Response
from fastapi.routing import APIRoute

from passkey_api.app import create_app
from passkey_api.cli import main
from passkey_api.config import Settings
from passkey_api.web import fast
from passkey_api.web.fast.dispatch import DirectRoutes
from passkey_api.web.fast.routing import LeanRoute

ROOT = Path(__file__).resolve().parents[2]


def _is_plain(app: fastapi.FastAPI) -> bool:
    """No LeanRoute anywhere, no DirectRoutes: as FastAPI builds it."""
    routes = [context.original_route for context in fastapi.routing.iter_route_contexts(app.routes)]
    return (
        not fast.installed(app)
        and not any(isinstance(route, LeanRoute) for route in routes)
        and any(type(route) is APIRoute for route in routes)
        and _direct_routes(app) == 0
    )


def _direct_routes(app: fastapi.FastAPI) -> int:
    return sum(1 for middleware in app.user_middleware if vars(middleware)["cls"] is DirectRoutes)


def test_on_by_default_and_off_with_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    assert Settings.model_fields["fast_paths"].default is True
    on = create_app(Settings(fast_paths=True))
    assert fast.installed(on)
    assert all(isinstance(route, LeanRoute) for route in on.routes if isinstance(route, APIRoute))
    assert _direct_routes(on) == 1
    assert _is_plain(create_app(Settings(fast_paths=False)))
    assert fast.http_protocol() == fast.FAST_PROTOCOL
    assert not caplog.records


def test_the_document_is_the_same_both_ways() -> None:
    on, off = (
        create_app(Settings.model_construct(demo_page=False, fast_paths=flag)).openapi()
        for flag in (True, False)
    )
    assert json.dumps(on, indent=2) == json.dumps(off, indent=2)


@pytest.mark.parametrize(("package", "release"), [(fastapi, "0.166.0"), (starlette, "1.11.0")])
def test_an_unknown_framework_release_leaves_the_app_plain(
    package: object, release: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(package, "__version__", release)
    with caplog.at_level(logging.WARNING, logger="passkey_api.web.fast"):
        app = create_app(Settings(fast_paths=True))
    assert _is_plain(app)
    (line,) = caplog.records
    assert line.levelno == logging.WARNING
    assert f"{package.__name__} {release} is not a release they know" in line.getMessage()  # type: ignore[attr-defined]
    # The server's half reads uvicorn only: still on.
    assert fast.http_protocol() == fast.FAST_PROTOCOL


def test_an_unknown_uvicorn_release_leaves_the_server_plain(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(uvicorn, "__version__", "0.56.0")
    with caplog.at_level(logging.WARNING, logger="passkey_api.web.fast"):
        assert fast.http_protocol() == fast.PLAIN_PROTOCOL == "passkey_api.web.serving:HttpProtocol"
    (line,) = caplog.records
    assert "uvicorn 0.56.0 is not a release they know" in line.getMessage()
    # The app's half reads FastAPI and Starlette only: still on.
    assert fast.installed(create_app(Settings(fast_paths=True)))


def test_the_installed_releases_are_the_known_ones_and_pyproject_bounds_them() -> None:
    assert fast.unknown_releases("fastapi", "starlette", "uvicorn") == []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        name, _, spec = requirement.partition("~=")
        bounds[name.split("[")[0].strip()] = spec
    # `~=X.Y.0`: any X.Y.z and nothing later, the releases the layer knows.
    assert {name: bounds.get(name) for name in fast.KNOWN} == {
        name: prefix + "0" for name, prefix in fast.KNOWN.items()
    }


@pytest.mark.parametrize(
    ("setting", "protocol"), [("true", fast.FAST_PROTOCOL), ("false", fast.PLAIN_PROTOCOL)]
)
def test_serve_runs_the_protocol_the_setting_says(
    setting: str, protocol: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options, app=app))
    for name in ("PASSKEY_ENV", "PASSKEY_DATABASE_URL", "PASSKEY_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    # serve writes these for its workers: set here, so that they are put back after.
    monkeypatch.setenv("PASSKEY_LOG_LEVEL", "info")
    monkeypatch.setenv("PASSKEY_ORIGINS", "http://localhost:8000")
    monkeypatch.setenv("PASSKEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PASSKEY_FAST_PATHS", setting)
    result = CliRunner().invoke(main, ["serve", "--no-migrate"])
    assert result.exit_code == 0, result.output
    assert (ran["app"], ran["http"]) == ("passkey_api.asgi:app", protocol)


async def test_a_route_outside_the_document_goes_last_only_where_no_other_takes_its_path() -> None:
    router = APIRouter()

    @router.get("/a/b", include_in_schema=False)
    async def hidden() -> Response:
        return Response("hidden")

    @router.get("/shadowed", include_in_schema=False)
    async def shadowed() -> Response:
        return Response("shadowed")

    @router.get("/{name}")
    async def named(name: str) -> Response:
        return Response(f"named {name}")

    @router.get("/healthz")
    async def healthz() -> Response:
        return Response("ok")

    app = FastAPI(openapi_url=None)
    app.include_router(router)
    document = app.openapi()
    assert fast.install(app)
    ours = [getattr(route, "path", None) for route in app.routes]
    assert [path for path in ours if path in ("/a/b", "/shadowed", "/{name}", "/healthz")] == [
        "/shadowed",  # "/{name}" after it would take its path
        "/{name}",
        "/healthz",
        "/a/b",
    ]
    app.openapi_schema = None
    assert app.openapi() == document
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path, text in [("/a/b", "hidden"), ("/shadowed", "shadowed"), ("/x", "named x")]:
            assert (await client.get(path)).text == text


def test_a_table_they_do_not_know_is_left_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    app.include_router(APIRouter())
    app.mount("/static", Response("static"))
    routes = list(app.router.routes)
    with caplog.at_level(logging.WARNING, logger="passkey_api.web.fast"):
        assert not fast.install(app)
    assert app.router.routes == routes
    assert not fast.installed(app)
    assert _direct_routes(app) == 0
    (line,) = caplog.records
    assert "a route of a kind they do not know (Mount)" in line.getMessage()


def test_each_app_gets_its_own_routes_made_from_the_same_templates() -> None:
    apps = [create_app(Settings(fast_paths=True)) for _ in range(2)]
    session = ("/v1/session", {"GET"})
    first, second = (
        next(
            route
            for route in app.routes
            if isinstance(route, LeanRoute) and (route.path, route.methods) == session
        )
        for app in apps
    )
    # Bound each to its app: its overrides, its handler, its plan.
    assert first is not second
    assert first.dependency_overrides_provider is apps[0]
    assert second.dependency_overrides_provider is apps[1]
    assert first.app is not second.app
    assert first.answer is not second.answer
    # Set up once: the same dependency analysis and response models.
    assert first.dependant is second.dependant
    assert first.response_field is second.response_field
