"""The fast paths: one optional layer of speed-ups over the plain app and its server, on
unless `PASSKEY_FAST_PATHS=false`.

The app is built as FastAPI documents it (app.py: routers included, dependencies as
`Annotated` aliases, `app.dependency_overrides` honoured) and served by uvicorn's
httptools protocol with the read timeout and connection caps (web/serving.py). Nothing
else depends on this package; with it, requests take shorter ways to the same answers:

- table.py: the routing table flat (no nested routers matched twice, the routes outside
  the document last), each API route a LeanRoute (routing.py), which answers a valid
  request to a simple endpoint from a plan made once and leaves every other request to
  FastAPI's own handler;
- dispatch.py: DirectRoutes, the innermost middleware, answers a planned route with a
  static path from its plan without FastAPI's router;
- protocol.py: `passkey-api serve` writes each answer's head and body in one system call.

create_app() calls install(app) last; `serve` runs the protocol http_protocol() names.

They read private parts of FastAPI, Starlette and uvicorn, so they run only on the
releases they were written against (KNOWN; pyproject.toml bounds the same): on any other,
the app or the server is left plain, with one warning, rather than run on guesses. Only
the entry points import this package (app.py, cli.py: import-linter holds it).
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI
from starlette.middleware import Middleware

log = logging.getLogger(__name__)

# The releases whose internals the layer reads: each package's version must start so.
KNOWN = {"fastapi": "0.165.", "starlette": "1.10.", "uvicorn": "0.55."}

PLAIN_PROTOCOL = "passkey_api.web.serving:HttpProtocol"
FAST_PROTOCOL = "passkey_api.web.fast.protocol:HttpProtocol"


def unknown_releases(*packages: str) -> list[str]:
    """Those of `packages` installed at a release the layer does not know, as
    "name version" (read from the package itself, as it runs)."""
    unknown = []
    for name in packages:
        version = str(getattr(importlib.import_module(name), "__version__", "unknown"))
        if not version.startswith(KNOWN[name]):
            unknown.append(f"{name} {version}")
    return unknown


def _known() -> str:
    return ", ".join(f"{name} {prefix}*" for name, prefix in KNOWN.items())


def install(app: FastAPI) -> bool:
    """Put the fast paths over `app`, once its routes are all declared; whether they are
    on. The app's own middleware, handlers and routes are unchanged."""
    unknown = unknown_releases("fastapi", "starlette")
    if unknown:
        log.warning(
            "fast paths off: %s is not a release they know (%s); the app runs as plain FastAPI",
            " and ".join(unknown),
            _known(),
        )
        return False
    # Imported only now: they import FastAPI's and Starlette's private modules.
    from passkey_api.web.fast.dispatch import DirectRoutes
    from passkey_api.web.fast.table import flatten

    refused = flatten(app)
    if refused is not None:
        log.warning("fast paths off: %s; the app runs as plain FastAPI", refused)
        return False
    # Innermost of the middlewares (the end of the list): the app it wraps is the
    # ExceptionMiddleware whose handlers it uses.
    app.user_middleware.append(Middleware(DirectRoutes, router=app.router))
    app.state.fast_paths = True
    return True


def installed(app: FastAPI) -> bool:
    """Whether the fast paths are over `app`."""
    return getattr(app.state, "fast_paths", False) is True


def http_protocol() -> str:
    """The uvicorn protocol `serve` runs: the one write per answer over serving's, on the
    uvicorn release it knows; serving's alone (with one warning) on any other."""
    unknown = unknown_releases("uvicorn")
    if unknown:
        log.warning(
            "fast paths off: %s is not a release they know (%s); served by uvicorn's own writes",
            " and ".join(unknown),
            _known(),
        )
        return PLAIN_PROTOCOL
    return FAST_PROTOCOL
