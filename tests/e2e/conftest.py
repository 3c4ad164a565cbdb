"""Real-browser fixtures: the service as a subprocess (once per backend), a headless Debian
Chromium, and per test a fresh browser context holding one CDP virtual authenticator.

Backends: "embedded" (SQLite in the data dir, in-process challenge store) and "postgres"
(a fresh PostgreSQL database, dropped afterwards, and Redis). Where PostgreSQL, Redis or
Chromium is missing the tests are skipped, unless CI=true, where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, Server, Tab, open_tab, serve
from tests.services import REDIS_URL, postgres_database, require_redis, unavailable

# Where the server log stood when a test began, so a failure shows only its own lines.
LOG_OFFSET = pytest.StashKey[int]()


@pytest.fixture(scope="session", params=["embedded", "postgres"])
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    backend: str = request.param
    data_dir = tmp_path_factory.mktemp(f"passkey-{backend}")
    if backend == "embedded":
        async with serve(backend, data_dir, {}) as server:
            yield server
        return
    await require_redis()
    async with postgres_database("passkey_e2e") as database_url:
        env = {"PASSKEY_DATABASE_URL": database_url, "PASSKEY_REDIS_URL": REDIS_URL}
        async with serve(backend, data_dir, env) as server:
            yield server


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        unavailable("install Debian chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def tab(
    request: pytest.FixtureRequest, server: Server, browser: Browser
) -> AsyncIterator[Tab]:
    request.node.stash[LOG_OFFSET] = server.log_size()
    async with open_tab(server, browser) as tab:
        yield tab


# --- reporting ------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report carries what the server logged while it ran."""
    report = yield
    server = item.funcargs.get("server") if isinstance(item, pytest.Function) else None
    if report.failed and isinstance(server, Server):
        log = server.log(since=item.stash.get(LOG_OFFSET, 0))
        report.sections.append((f"passkey-api log ({server.backend})", log or "(empty)"))
    return report
