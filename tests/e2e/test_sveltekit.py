"""The SvelteKit example (examples/sveltekit) in a real Chromium: installed and built with
npm, served by adapter-node (`node build`) in front of a live passkey-api on PostgreSQL +
Redis, and clicked through page by page with CDP virtual authenticators.

The app forwards /api/* to the service (same origin for the browser), so the service lists
the app's origin in PASSKEY_ORIGINS and believes its X-Forwarded-For
(PASSKEY_TRUSTED_PROXIES). For social sign-in and email recovery it is also configured
with the suite's OpenID Connect provider and GitHub fake (tests/oauth_servers.py), whose
callback is the API's through the app's proxy (PASSKEY_PUBLIC_URL), and an SMTP sink
(tests/smtp.py) whose links land on the app's pages. Screenshots of the pages go to
artifacts/e2e/sveltekit/, the folder the example's README names. Without Node.js and npm
the tests are skipped, unless CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.e2e.harness import (
    ARTIFACTS,
    ROOT,
    SERVER_BIN,
    Server,
    Tab,
    _free_port,
    _stop,
    _wait_healthy,
    open_tab,
    serve,
)
from tests.e2e.test_browser_accounts import credential_id, held, plug
from tests.e2e.test_browser_passkeys import new_username
from tests.oauth_servers import (
    GitHubFake,
    GitHubUser,
    OidcProvider,
    provider_settings,
    serving,
)
from tests.oauth_servers import (
    TestUser as OidcUser,  # not a test class: as its own name pytest would collect it
)
from tests.services import REDIS_URL, postgres_database, require_redis, unavailable
from tests.smtp import SmtpServer, smtp_server

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "sveltekit"
SHOTS = ARTIFACTS / "sveltekit"
# sha256 of the package-lock.json that node_modules was installed from.
INSTALLED_LOCK = EXAMPLE / "node_modules" / ".passkey-api-lock.sha256"
NODE_VERSION = (20, 19)  # Vite 8's minimum
VIEWPORT: ViewportSize = {"width": 1000, "height": 800}
COMMAND_TIMEOUT = 600  # seconds; npm ci on a cold cache is the slow one
# A browser that lies about its address: the app must not pass this on to the API.
SPOOFED_IP = "203.0.113.7"


# --- Node.js, npm and the build -----------------------------------------------------------


async def run(*command: str) -> str:
    """Run a command in the example's folder: its output, or the test fails with it."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=EXAMPLE,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"`{' '.join(command)}` took over {COMMAND_TIMEOUT} s", pytrace=False)
    text = output.decode(errors="replace")
    if process.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` failed ({process.returncode}):\n{text}", pytrace=False)
    return text


def _lock_digest() -> str:
    return hashlib.sha256((EXAMPLE / "package-lock.json").read_bytes()).hexdigest()


def _installed_digest() -> str | None:
    return INSTALLED_LOCK.read_text().strip() if INSTALLED_LOCK.exists() else None


@pytest.fixture(scope="session")
async def node_modules() -> None:
    """Node.js and npm present, and node_modules installed from package-lock.json (npm ci
    only when node_modules is missing or was installed from another lock file)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("install Node.js 20.19+ and npm for the SvelteKit example")
    version = (await run("node", "--version")).strip()
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < NODE_VERSION:
        unavailable(f"the SvelteKit example needs Node.js 20.19+, not {version}")
    digest = await asyncio.to_thread(_lock_digest)
    if await asyncio.to_thread(_installed_digest) != digest:
        await run("npm", "ci", "--no-audit", "--no-fund")
        await asyncio.to_thread(INSTALLED_LOCK.write_text, digest + "\n")


# --- the service and the app ------------------------------------------------------------


@dataclass
class Example:
    app: Server  # the SvelteKit app; its base_url is what the browser opens
    api: Server  # passkey-api
    database_url: str
    oidc: OidcProvider  # the social sign-in providers the service is configured with
    github: GitHubFake
    smtp: SmtpServer  # where the service mails recovery links

    @contextlib.contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        """A failing test shows what the service and the app logged while it ran."""
        api_start, app_start = self.api.log_size(), self.app.log_size()
        try:
            yield
        except BaseException as exc:
            exc.add_note(f"--- passkey-api log ---\n{self.api.log(since=api_start) or '(empty)'}")
            exc.add_note(f"--- SvelteKit app log ---\n{self.app.log(since=app_start) or '(empty)'}")
            raise


@contextlib.asynccontextmanager
async def run_app(port: int, api_url: str, log_path: Path) -> AsyncIterator[Server]:
    """`node build` (adapter-node) on `port`, talking to passkey-api at `api_url`."""
    origin = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
    env |= {"HOST": "127.0.0.1", "PORT": str(port), "ORIGIN": origin, "PASSKEY_API_URL": api_url}
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            "node",
            "build",
            cwd=EXAMPLE,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await _wait_healthy(process, f"http://127.0.0.1:{port}", log_path)
        yield Server(backend="sveltekit", base_url=origin, log_path=log_path)
    finally:
        await _stop(process)


@pytest.fixture(scope="session")
async def example(
    node_modules: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Example]:
    await require_redis()
    await run("npm", "run", "build")
    data_dir = tmp_path_factory.mktemp("passkey-sveltekit")
    port = _free_port()
    app_origin = f"http://localhost:{port}"
    oidc, github = OidcProvider(), GitHubFake()
    with serving(oidc.app) as oidc_url, serving(github.app) as github_url:
        oidc.issuer, github.base_url = oidc_url, github_url
        # The providers send the browser back to the API's callback through the app's
        # proxy (PASSKEY_PUBLIC_URL), so that the flow's cookies are the app's.
        for name, fake in (("oidc", oidc), ("github", github)):
            fake.redirect_uris.add(f"{app_origin}/api/v1/oauth/{name}/callback")
        async with (
            smtp_server(data_dir) as smtp,
            postgres_database("passkey_sveltekit") as database_url,
        ):
            env = {
                "PASSKEY_DATABASE_URL": database_url,
                "PASSKEY_REDIS_URL": REDIS_URL,
                # WebAuthn responses and state-changing requests come from the app's
                # origin, where social sign-ins also return (redirect_to)...
                "PASSKEY_ORIGINS": app_origin,
                # ...through the app's server, which says who the browser is.
                "PASSKEY_TRUSTED_PROXIES": "127.0.0.1,::1",
                "PASSKEY_PUBLIC_URL": f"{app_origin}/api",
                "PASSKEY_OAUTH_PROVIDERS": json.dumps(provider_settings(oidc, github)),
                # Emailed links land on the app's pages.
                "PASSKEY_SMTP_HOST": smtp.host,
                "PASSKEY_SMTP_PORT": str(smtp.port),
                "PASSKEY_SMTP_FROM": "passkey-api <no-reply@example.test>",
                "PASSKEY_SMTP_STARTTLS": "false",
                "PASSKEY_RECOVERY_URL": f"{app_origin}/recover/link",
                "PASSKEY_EMAIL_VERIFICATION_URL": f"{app_origin}/account/email",
            }
            async with serve("postgres", data_dir, env) as api:
                # The API listens on 127.0.0.1 only; Node may resolve "localhost" to ::1.
                api_url = api.base_url.replace("//localhost:", "//127.0.0.1:")
                async with run_app(port, api_url, data_dir / "sveltekit.log") as app:
                    yield Example(
                        app=app,
                        api=api,
                        database_url=database_url,
                        oidc=oidc,
                        github=github,
                        smtp=smtp,
                    )


@contextlib.asynccontextmanager
async def app_tab(example: Example, browser: Browser) -> AsyncIterator[Tab]:
    """A fresh browser context on the app; fails if the page broke its own CSP."""
    async with open_tab(example.app, browser) as tab:
        await tab.page.set_viewport_size(VIEWPORT)
        violations: list[str] = []
        tab.page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        # An exception in the page (a hydration that failed, say) fails the test too.
        errors: list[str] = []
        tab.page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
        try:
            yield tab
        except BaseException as exc:
            if errors:
                exc.add_note("--- errors in the page ---\n" + "\n".join(errors))
            raise
        assert violations == []
        assert errors == []


# --- driving the pages ------------------------------------------------------------------


async def goto(page: Page, path: str) -> None:
    """Open a page and wait until it is hydrated (before that, clicks do not reach Svelte)."""
    await page.goto(path)
    await page.locator("html[data-hydrated]").wait_for(state="attached")


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def fetch_json(page: Page, path: str) -> dict[str, Any]:
    """GET `path` from inside the page (its cookies, its origin): {status, body}."""
    result = await page.evaluate(
        """async (path) => {
            const response = await fetch(path);
            return {status: response.status, body: await response.json()};
        }""",
        path,
    )
    assert isinstance(result, dict), result
    return result


async def current_session(page: Page) -> dict[str, Any]:
    """GET /v1/session through the app's proxy: the session's JSON; fails when signed out."""
    result = await fetch_json(page, "/api/v1/session")
    assert result["status"] == 200, result
    body: dict[str, Any] = result["body"]
    return body


async def assert_signed_out(page: Page) -> None:
    result = await fetch_json(page, "/api/v1/session")
    assert result["status"] == 401, result
    assert result["body"]["code"] == "not_authenticated"


async def sign_out(example: Example, page: Page) -> None:
    await page.get_by_test_id("sign-out").click()
    await page.wait_for_url(example.app.base_url + "/")
    await assert_signed_out(page)


async def session_cookie(tab: Tab) -> str:
    return {c["name"]: c["value"] for c in await tab.context.cookies()}["passkey_session"]


def problem_shown(page: Page, code: str) -> Any:
    return page.locator(f'[role="alert"][data-code="{code}"]')


# --- the tests --------------------------------------------------------------------------


async def test_types_are_current_and_svelte_check_is_clean(node_modules: None) -> None:
    """src/lib/api/schema.d.ts matches the committed openapi.json; the app type-checks."""
    assert "matches" in await run("npm", "run", "check:types")
    assert "0 errors and 0 warnings" in await run("npm", "run", "check")


async def test_passkeys_from_sign_up_to_a_second_device(example: Example, browser: Browser) -> None:
    """The issue's story, through the pages: sign up on a laptop, sign out, autofill sign-in
    on the way back to /account, add a USB security key (no step-up: the sign-in was one),
    sign in with the key alone, revoke a second browser's session once that sign-in is
    old (step-up first, then the rotated cookie), remove the laptop's passkey."""
    username = new_username("ada")
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            laptop = await tab.add_authenticator("internal")

            # Sign up with the laptop's platform authenticator.
            await goto(page, "/")
            await shot(page, "01-landing")
            await goto(page, "/signup")
            await page.fill("#username", username)
            await page.fill("#display-name", "Ada Lovelace")
            await shot(page, "02-sign-up")
            await page.get_by_test_id("create-passkey").click()
            await page.wait_for_url("**/account")
            signed_up = await current_session(page)
            assert signed_up["user"]["username"] == username
            await expect(page.get_by_test_id("display-name")).to_have_text("Ada Lovelace")
            (credential,) = await held(tab, laptop)
            laptop_id = credential_id(credential)
            laptop_item = page.locator(f'[data-passkey-id="{laptop_id}"]')
            await expect(laptop_item.get_by_test_id("device-type")).to_have_text("Device-bound")
            await expect(page.get_by_test_id("recovery-risk")).to_be_visible()
            # The service's cookie, set through the app's proxy: first-party and HttpOnly.
            cookie = {c["name"]: c for c in await tab.context.cookies()}["passkey_session"]
            assert cookie["httpOnly"] is True
            assert cookie["domain"] == "localhost"
            assert "passkey_session" not in await page.evaluate("() => document.cookie")

            await sign_out(example, page)

            # /account signed out: to the sign-in page, where autofill (conditional
            # mediation) signs in with the laptop's passkey and goes back to /account.
            response = await page.goto("/account")
            assert response is not None
            assert response.url == f"{example.app.base_url}/signin?redirectTo=%2Faccount"
            await page.wait_for_url("**/account")
            autofilled = await current_session(page)
            assert autofilled["user"]["id"] == signed_up["user"]["id"]
            assert autofilled["session"]["id"] != signed_up["session"]["id"]
            (credential,) = await held(tab, laptop)

            # Add a USB security key, plugged in beside the laptop. The user verified with
            # the laptop a moment ago, signing in: that is the step-up, so no prompt.
            key = await plug(tab, "usb")
            await page.get_by_test_id("add-security-key").click()
            await expect(page.get_by_test_id("passkey")).to_have_count(2)
            await expect(page.get_by_role("status")).to_contain_text("Added")
            (key_credential,) = await held(tab, key)
            key_id = credential_id(key_credential)
            (laptop_credential,) = await held(tab, laptop)
            assert laptop_credential["signCount"] == credential["signCount"]  # not asked
            key_item = page.locator(f'[data-passkey-id="{key_id}"]')
            # Transports in words, not WebAuthn's tokens.
            await expect(key_item.get_by_test_id("transports")).to_have_text("Connects by USB")
            await expect(key_item.get_by_test_id("device-type")).to_have_text("Device-bound")

            # The same key again: it already holds a passkey for this account.
            await page.get_by_test_id("add-security-key").click()
            await expect(problem_shown(page, "already_registered")).to_be_visible()
            assert len(await held(tab, key)) == 1

            await key_item.get_by_test_id("rename").click()
            await key_item.locator("input").fill("Blue key")
            await key_item.get_by_test_id("save-name").click()
            await expect(key_item.get_by_test_id("passkey-name")).to_have_text("Blue key")
            await shot(page, "03-account")

            # The laptop's authenticator goes away: the key alone signs in, through "use a
            # passkey from another device" (autofill offers no security keys; with no
            # platform authenticator left, Chromium offers no autofill at all).
            await sign_out(example, page)
            await tab.remove_authenticator()
            await goto(page, "/signin")
            await expect(page.locator("form[data-autofill]")).not_to_have_attribute(
                "data-autofill", "starting"
            )
            await expect(page.locator("#username")).to_have_attribute(
                "autocomplete", "username webauthn"
            )
            await shot(page, "04-sign-in")
            await page.get_by_test_id("other-device").click()
            await page.wait_for_url("**/account")
            with_key = await current_session(page)
            assert with_key["user"]["id"] == signed_up["user"]["id"]
            assert with_key["session"]["user_verified"] is True
            (used,) = await held(tab, key)
            assert used["signCount"] > key_credential["signCount"]
            await expect(key_item.get_by_test_id("last-used")).not_to_have_text("never")

            # A second browser signs in with the laptop's passkey (its credential moved
            # there) and says it is at another address, which the app must not pass on.
            async with app_tab(example, browser) as other:
                await other.context.set_extra_http_headers({"X-Forwarded-For": SPOOFED_IP})
                await other.add_authenticator("internal")
                await other.add_credential(laptop_credential)
                await goto(other.page, "/signin")
                await other.page.wait_for_url("**/account")
                other_id = (await current_session(other.page))["session"]["id"]

                await goto(page, "/account")
                sessions = page.get_by_test_id("session")
                await expect(sessions).to_have_count(2)
                listed = await fetch_json(page, "/api/v1/me/sessions")
                other_session = next(s for s in listed["body"]["sessions"] if s["id"] == other_id)
                assert "Chrome" in other_session["user_agent"]  # the browser's, not Node's
                assert other_session["ip"] in ("127.0.0.1", "::1", "::ffff:127.0.0.1")
                await shot(page, "05-sessions")

                # Some time later the key's sign-in is no step-up any more: signing the
                # other browser out asks for one for "sessions" first, which the key answers.
                # The step-up rotates the session's token: the browser takes the new cookie
                # through the proxy, and the retried action and the reload use it.
                await example.api.age_sign_in()
                old_cookie = await session_cookie(tab)
                await (
                    page.locator(f'[data-session-id="{other_id}"]').get_by_test_id("revoke").click()
                )
                await expect(sessions).to_have_count(1)
                await assert_signed_out(other.page)
                (stepped_up,) = await held(tab, key)
                assert stepped_up["signCount"] > used["signCount"]
                assert await session_cookie(tab) != old_cookie
                assert (await current_session(page))["session"] == with_key["session"]

                # Bounced to sign-in, where autofill signs it in again...
                response = await other.page.goto("/account")
                assert response is not None
                assert "/signin?redirectTo=%2Faccount" in response.url
                await other.page.wait_for_url("**/account")
                # ...and "sign out all other sessions" ends that one too (the step-up for
                # "sessions" still holds, so no prompt this time).
                await goto(page, "/account")
                await expect(sessions).to_have_count(2)
                await page.get_by_test_id("revoke-others").click()
                await expect(page.get_by_role("status")).to_have_text("Signed out 1 other session.")
                await expect(sessions).to_have_count(1)
                await assert_signed_out(other.page)

            # Remove the laptop's passkey (a step-up for "passkeys" in this new session,
            # answered by the key); the last passkey cannot go.
            await laptop_item.get_by_test_id("delete").click()
            await laptop_item.get_by_test_id("confirm-delete").click()
            await expect(page.get_by_test_id("passkey")).to_have_count(1)
            await expect(key_item).to_be_visible()
            await key_item.get_by_test_id("delete").click()
            await key_item.get_by_test_id("confirm-delete").click()
            # A sentence, with the code kept small for support.
            refusal = problem_shown(page, "last_passkey")
            await expect(refusal).to_contain_text("This is your only passkey")
            await expect(refusal.locator(".code")).to_have_text("Code: last_passkey")
            await expect(page.get_by_test_id("passkey")).to_have_count(1)

            # Each load of /account passes the API's signals to the Signal API: an
            # authenticator still holding the removed laptop passkey is told to forget it.
            stale = await plug(tab, "internal")
            await tab.cdp.send(
                "WebAuthn.addCredential",
                {"authenticatorId": stale, "credential": laptop_credential},
            )
            await goto(page, "/account")
            for _ in range(50):  # the signal is sent once the page has hydrated
                if not await held(tab, stale):
                    break
                await page.wait_for_timeout(100)
            assert await held(tab, stale) == []
            assert [credential_id(c) for c in await held(tab, key)] == [key_id]


async def test_admin_needs_the_admin_role(example: Example, browser: Browser) -> None:
    """/admin: signed out, to sign-in (and sign-up) and back; a plain user gets the 403
    page; once made an admin, the user list."""
    username = new_username("grace")
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            await tab.add_authenticator("internal")
            response = await page.goto("/admin")
            assert response is not None
            assert response.url == f"{example.app.base_url}/signin?redirectTo=%2Fadmin"
            await page.locator("html[data-hydrated]").wait_for(state="attached")
            await page.get_by_role("link", name="Create an account").click()
            await page.wait_for_url("**/signup?redirectTo=%2Fadmin")
            await page.fill("#username", username)
            await page.get_by_test_id("create-passkey").click()

            # Back on /admin after signing up, as a plain user: refused.
            await page.wait_for_url("**/admin")
            await expect(page.get_by_test_id("error")).to_contain_text("Not allowed")
            await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
            response = await page.goto("/admin")
            assert response is not None
            assert response.status == 403
            await shot(page, "06-admin-forbidden")

            await make_admin(example, username)
            await goto(page, "/admin")
            await expect(page.get_by_test_id("user").first).to_be_visible()
            await expect(page.get_by_role("link", name="Admin")).to_be_visible()
            await shot(page, "07-admin")
            await page.fill("#q", username)
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_url(re.compile(r"/admin\?q="))
            await expect(page.get_by_test_id("user")).to_have_count(1)
            await expect(page.get_by_test_id("user")).to_contain_text("admin")


async def make_admin(example: Example, username: str) -> None:
    """`passkey-api create-admin`, the documented way to make the first admin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
    # The server's configuration, as a deployment runs its commands (with its Redis, so
    # that the servers' cached sessions see the new role at once).
    env["PASSKEY_DATABASE_URL"] = example.database_url
    env["PASSKEY_REDIS_URL"] = REDIS_URL
    process = await asyncio.create_subprocess_exec(
        str(SERVER_BIN),
        "create-admin",
        username,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")


async def test_username_first_for_a_key_without_discoverable_passkeys(
    example: Example, browser: Browser
) -> None:
    """An old U2F-only key holds no discoverable passkey: "use a passkey from another
    device" finds nothing (NotAllowedError, told as such), the username-first fallback
    signs in."""
    username = new_username("u2f")
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            key = await tab.add_authenticator("u2f")
            await goto(page, "/signup")
            await page.fill("#username", username)
            await page.get_by_test_id("create-passkey").click()
            await page.wait_for_url("**/account")
            (credential,) = await held(tab, key)
            assert credential["isResidentCredential"] is False
            await sign_out(example, page)

            await goto(page, "/signin")
            await page.get_by_test_id("other-device").click()
            await expect(problem_shown(page, "cancelled")).to_contain_text(
                "sign in with your username"
            )
            await assert_signed_out(page)

            await page.fill("#username", username)
            await page.get_by_test_id("continue-with-username").click()
            await page.wait_for_url("**/account")
            assert (await current_session(page))["user"]["username"] == username


async def test_a_browser_without_webauthn_is_told(example: Example, browser: Browser) -> None:
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            await tab.page.add_init_script("delete window.PublicKeyCredential")
            await goto(tab.page, "/signin")
            await expect(problem_shown(tab.page, "unsupported")).to_be_visible()
            await expect(tab.page.get_by_test_id("other-device")).to_be_disabled()
            await goto(tab.page, "/signup")
            await expect(problem_shown(tab.page, "unsupported")).to_be_visible()
            await expect(tab.page.get_by_test_id("create-passkey")).to_be_disabled()


async def test_the_proxy_forwards_only_the_api(example: Example) -> None:
    """/api/v1/* reaches passkey-api with the browser's Origin and comes back as the API
    answered (status, problem JSON, no-store); nothing else of the service is exposed."""
    app = example.app.base_url.replace("//localhost:", "//127.0.0.1:")
    origin = example.app.base_url
    with example.logs_on_failure():
        async with httpx.AsyncClient(base_url=app, trust_env=False, timeout=10) as client:
            signed_out = await client.get("/api/v1/session")
            assert signed_out.status_code == 401
            assert signed_out.headers["content-type"] == "application/problem+json"
            assert signed_out.headers["cache-control"] == "no-store"
            assert signed_out.json()["code"] == "not_authenticated"

            options = await client.post(
                "/api/v1/authentication/options", json={}, headers={"Origin": origin}
            )
            assert options.status_code == 200, options.text
            assert options.json()["rpId"] == "localhost"

            # The API's CSRF check sees the real Origin: another site's is refused.
            forged = await client.post(
                "/api/v1/authentication/options",
                json={},
                headers={"Origin": "https://evil.example", "Cookie": "passkey_session=x"},
            )
            assert forged.status_code == 403
            assert forged.json()["code"] == "origin_not_allowed"

            # The request id travels both ways, to find a call in the API's log.
            traced = await client.get("/api/v1/session", headers={"X-Request-ID": "trace-42"})
            assert traced.headers["x-request-id"] == "trace-42"

            for path in ("/api/healthz", "/api/docs", "/api/openapi.json"):
                assert (await client.get(path)).status_code == 404, path


# --- social sign-in, recovery, and what a person reads ---------------------------------


async def hydrated(page: Page) -> None:
    await page.locator("html[data-hydrated]").wait_for(state="attached")


async def conditional_create(page: Page) -> str:
    """What became of the passkey offer's conditional create once started: `pending`
    (Chromium keeps it waiting, for a saved password to upgrade, which a test browser
    never has), `created`, `refused` or `unsupported` (data-conditional on the offer)."""
    offer = page.get_by_test_id("passkey-offer")
    await expect(offer).not_to_have_attribute("data-conditional", "checking")
    state = await offer.get_attribute("data-conditional")
    assert state in ("pending", "created", "refused", "unsupported"), state
    return state


async def test_social_sign_in_offers_a_passkey_and_links_providers(
    example: Example, browser: Browser
) -> None:
    """Signing in with "Test OIDC" goes through the provider and back to /welcome, which
    offers a passkey (conditional create where the browser allows it, else the button); then on
    /account GitHub is linked (a step-up with that passkey first) and unlinked, and the
    passkey signs in."""
    example.oidc.knobs.user = OidcUser(name="Mary Somerville")
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            laptop = await tab.add_authenticator("internal")
            await goto(page, "/signin")
            await expect(page.get_by_test_id("sign-in-with-oidc")).to_have_text(
                "Sign in with Test OIDC"
            )
            await expect(page.get_by_test_id("sign-in-with-github")).to_have_text(
                "Sign in with GitHub"
            )
            # Autofill found no passkey of this site here: the browser's refusal of it is
            # nothing the person did, so nothing is shown.
            await expect(page.locator("form[data-autofill]")).not_to_have_attribute(
                "data-autofill", "starting"
            )
            await expect(page.get_by_role("alert")).to_have_count(0)
            await shot(page, "08-sign-in-providers")

            await page.get_by_test_id("sign-in-with-oidc").click()
            await page.wait_for_url("**/welcome?**")
            await hydrated(page)
            signed_in = await current_session(page)
            assert signed_in["session"]["method"] == "oauth:oidc"
            assert signed_in["user"]["display_name"] == "Mary Somerville"
            await expect(page.get_by_test_id("signed-in-with")).to_have_text("Test OIDC")
            await shot(page, "09-passkey-offer")

            # Chromium accepts the conditional create and keeps it waiting (it would upgrade a
            # saved password, and there is none); the button stops it and makes the passkey.
            assert await conditional_create(page) == "pending"
            if await conditional_create(page) != "created":
                await page.get_by_test_id("offer-create-passkey").click()
            await page.wait_for_url("**/account")
            (credential,) = await held(tab, laptop)
            await expect(page.get_by_test_id("passkey")).to_have_count(1)
            identities = page.get_by_test_id("identity")
            await expect(identities).to_have_count(1)
            await expect(identities).to_contain_text("Test OIDC")

            # Linking GitHub: only a passkey steps up once the account has one (the social
            # sign-in does not count), then the trip to GitHub and back.
            await page.get_by_test_id("link-github").click()
            await page.wait_for_url("**/account?linked=github")
            await hydrated(page)
            section = page.get_by_test_id("identities-section")
            await expect(section.get_by_role("status")).to_have_text(
                "GitHub is linked: it signs you in too."
            )
            await expect(page).to_have_url(example.app.base_url + "/account")  # cleaned up
            await expect(identities).to_have_count(2)
            await expect(page.get_by_test_id("session")).to_contain_text("with Test OIDC")
            (stepped_up,) = await held(tab, laptop)
            assert stepped_up["signCount"] > credential["signCount"]
            await shot(page, "10-linked-providers")

            await page.locator('[data-provider="github"]').get_by_test_id("unlink").click()
            await expect(section.get_by_role("status")).to_have_text(
                "GitHub no longer signs you in."
            )
            await expect(identities).to_have_count(1)

            # The passkey made on /welcome signs in.
            await sign_out(example, page)
            response = await page.goto("/account")
            assert response is not None
            await page.wait_for_url("**/account")
            assert (await current_session(page))["session"]["method"] == "passkey"


async def test_the_last_way_in_cannot_be_unlinked(example: Example, browser: Browser) -> None:
    """A provider refusing the sign-in, and an account with only GitHub: each refusal is
    a sentence, with its code small beside it."""
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            example.oidc.knobs.deny = "access_denied"
            try:
                await goto(page, "/signin")
                await page.get_by_test_id("sign-in-with-oidc").click()
                await page.wait_for_url("**/signin?**error=oauth_denied**")
                await hydrated(page)
                denied = problem_shown(page, "oauth_denied")
                await expect(denied).to_contain_text("cancelled at the provider")
                await expect(denied.locator(".code")).to_have_text("Code: oauth_denied")
                await assert_signed_out(page)
            finally:
                example.oidc.reset()

            example.github.user = GitHubUser(name="Octo Cat")
            await page.get_by_test_id("sign-in-with-github").click()
            await page.wait_for_url("**/welcome?**")
            await hydrated(page)
            await page.get_by_test_id("not-now").click()
            await page.wait_for_url("**/account")
            await expect(page.get_by_test_id("recovery-risk")).to_be_visible()
            await page.locator('[data-provider="github"]').get_by_test_id("unlink").click()
            refusal = problem_shown(page, "last_sign_in_method")
            await expect(refusal).to_contain_text("That is your last way to sign in")
            await expect(refusal.locator(".code")).to_have_text("Code: last_sign_in_method")
            await expect(page.get_by_test_id("identity")).to_have_count(1)
            await shot(page, "11-last-way-in")


async def recorded_statuses(page: Page, test_id: str) -> None:
    """From now on, every text the status line inside `test_id` shows, in order (in
    window.statuses): the tests read what the page said while the browser asked."""
    await page.evaluate(
        """(testId) => {
            window.statuses = [];
            const root = document.querySelector(`[data-testid="${testId}"]`);
            const note = () => {
                const text = root.querySelector('[role="status"]')?.textContent.trim();
                if (text && window.statuses.at(-1) !== text) window.statuses.push(text);
            };
            new MutationObserver(note).observe(
                root, {childList: true, subtree: true, characterData: true});
        }""",
        test_id,
    )


async def test_signed_out_elsewhere_and_the_step_up_notices(
    example: Example, browser: Browser
) -> None:
    """A browser signed out from another device lands on sign-in with "You were signed out
    on another device" (once); adding a key after a step-up, the notice follows the
    browser: first the step-up, then the new key."""
    username = new_username("emmy")
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            laptop = await tab.add_authenticator("internal")
            await goto(page, "/signup")
            await page.fill("#username", username)
            await page.get_by_test_id("create-passkey").click()
            await page.wait_for_url("**/account")
            (laptop_credential,) = await held(tab, laptop)

            async with app_tab(example, browser) as other:
                await other.add_authenticator("internal")
                await other.add_credential(laptop_credential)
                await goto(other.page, "/signin")
                await other.page.wait_for_url("**/account")
                other_id = (await current_session(other.page))["session"]["id"]
                # Its authenticator goes, so that autofill cannot sign it straight back in.
                (moved,) = await other.credentials()
                await other.remove_authenticator()

                await goto(page, "/account")
                await (
                    page.locator(f'[data-session-id="{other_id}"]').get_by_test_id("revoke").click()
                )
                await expect(page.get_by_test_id("session")).to_have_count(1)

                response = await other.page.goto("/account")
                assert response is not None
                assert "/signin?redirectTo=%2Faccount" in response.url
                await hydrated(other.page)
                told = other.page.get_by_test_id("signed-out-elsewhere")
                await expect(told).to_contain_text("You were signed out on another device.")
                await expect(told).to_contain_text("Code: not_authenticated")
                await shot(other.page, "12-signed-out-elsewhere")
                # Said once: the dead cookie is cleared, a reload is a plain sign-in page.
                for _ in range(50):
                    if "passkey_session" not in await tab_cookies(other):
                        break
                    await other.page.wait_for_timeout(100)
                assert "passkey_session" not in await tab_cookies(other)
                await goto(other.page, "/signin")
                await expect(told).to_have_count(0)

            # Later, adding a key asks for a step-up first: the notice says so while the
            # laptop is asked, then asks for the new key.
            await example.api.age_sign_in()
            # The passkey comes back with the counter the other browser left it at: the
            # laptop's older copy would now look cloned (sign_count_regression).
            await tab.add_authenticator("internal")
            await tab.add_credential(moved)
            key = await plug(tab, "usb")
            await goto(page, "/account")
            await recorded_statuses(page, "passkeys-section")
            await page.get_by_test_id("add-security-key").click()
            await expect(page.get_by_test_id("passkey")).to_have_count(2)
            (key_credential,) = await held(tab, key)
            statuses = await page.evaluate("window.statuses")
            step_up = statuses.index("First confirm it is you with one of your passkeys…")
            new_key = statuses.index("Now touch your new security key…")
            assert step_up < new_key < len(statuses) - 1, statuses
            assert statuses[-1].startswith("Added"), statuses
            key_item = page.locator(f'[data-passkey-id="{credential_id(key_credential)}"]')
            await expect(key_item.get_by_test_id("transports")).to_have_text("Connects by USB")


async def tab_cookies(tab: Tab) -> list[str]:
    return [c["name"] for c in await tab.context.cookies()]


async def recovery_link(example: Example, address: str, count: int) -> str:
    """The link in the `count`th message mailed to `address` (a page of the app)."""
    message = (await example.smtp.wait_for(address, count))[count - 1]
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"http://localhost:\d+/\S+#token=[A-Za-z0-9_-]{43}", body.get_content())
    assert found is not None, body.get_content()
    return found.group(0)


async def sign_up(page: Page, username: str) -> None:
    await goto(page, "/signup")
    await page.fill("#username", username)
    await page.get_by_test_id("create-passkey").click()
    await page.wait_for_url("**/account")


async def finish_recovery(example: Example, tab: Tab) -> None:
    """On /recover in a recovery session: a new passkey on a security key, which turns the
    session into a full one and lands on /account."""
    page = tab.page
    await page.wait_for_url("**/recover")
    await hydrated(page)
    await expect(page.get_by_test_id("recovery-passkey")).to_be_visible()
    assert (await current_session(page))["session"]["scope"] == "recovery"
    # The account's pages are not for a recovery session: back to its one step.
    response = await page.goto("/account")
    assert response is not None
    assert response.url == example.app.base_url + "/recover"
    await hydrated(page)
    await tab.add_authenticator("usb")
    if await conditional_create(page) != "created":
        await page.get_by_test_id("offer-create-passkey").click()
    await page.wait_for_url("**/account")
    await hydrated(page)
    session = await current_session(page)
    assert session["session"]["scope"] == "full"
    await expect(page.get_by_test_id("sessions-section").get_by_role("status")).to_contain_text(
        "Your new passkey is added and you are signed in."
    )


async def test_recovery_codes_and_lost_your_passkey(example: Example, browser: Browser) -> None:
    """Recovery codes made on /account and shown once; the laptop is lost; "Lost your
    passkey?" with a wrong code (told in words), then a right one: a recovery session that
    ends with a new passkey on a security key, which then signs in."""
    username = new_username("ada")
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            await tab.add_authenticator("internal")
            await sign_up(page, username)

            # One device-bound passkey: the API's advice, not the app's own words.
            listed = await fetch_json(page, "/api/v1/me/passkeys")
            advice = listed["body"]["recovery_advice"]
            assert advice
            await expect(page.get_by_test_id("recovery-risk")).to_contain_text(advice)

            await page.get_by_test_id("make-recovery-codes").click()
            codes = page.get_by_test_id("recovery-code")
            await expect(codes).to_have_count(10)
            shown = await codes.all_text_contents()
            await shot(page, "13-recovery-codes")
            await page.get_by_test_id("codes-saved").click()
            status = page.get_by_test_id("recovery-codes-status")
            await expect(status).to_contain_text("10 of 10 codes left")
            await expect(page.get_by_test_id("recovery-risk")).to_have_count(0)
            await expect(
                page.get_by_test_id("recovery-safeguards").locator('[data-kind="recovery_codes"]')
            ).to_be_visible()
            await goto(page, "/account")  # shown once: never again
            await expect(codes).to_have_count(0)

            # The laptop is lost.
            await sign_out(example, page)
            await tab.remove_authenticator()
            await goto(page, "/signin")
            await page.get_by_test_id("lost-passkey").click()
            await page.wait_for_url("**/recover")
            await hydrated(page)
            await page.fill("#recover-username", username)
            await page.fill("#recover-code", "AAAA-BBBB-CCCC-DDDD")
            await page.get_by_test_id("use-recovery-code").click()
            wrong = problem_shown(page, "recovery_failed")
            await expect(wrong).to_contain_text("do not work together")
            await assert_signed_out(page)

            await page.fill("#recover-code", shown[0].lower())  # case does not matter
            await page.get_by_test_id("use-recovery-code").click()
            await expect(page.get_by_test_id("recovery-passkey")).to_be_visible()
            await shot(page, "14-recovery-new-passkey")
            await finish_recovery(example, tab)
            await expect(status).to_contain_text("9 of 10 codes left")

            # The new key signs in.
            await sign_out(example, page)
            await goto(page, "/signin")
            await page.get_by_test_id("other-device").click()
            await page.wait_for_url("**/account")
            assert (await current_session(page))["user"]["username"] == username


async def test_recovery_by_an_emailed_link(example: Example, browser: Browser) -> None:
    """A recovery address set on /account (confirmed by the link mailed to it); with the
    laptop lost, "Lost your passkey?" mails a link that lands in the app, and the recovery
    session ends with a new passkey."""
    username = new_username("sofia")
    address = f"{username}@example.org"
    with example.logs_on_failure():
        async with app_tab(example, browser) as tab:
            page = tab.page
            await tab.add_authenticator("internal")
            await sign_up(page, username)

            section = page.get_by_test_id("recovery-email-section")
            await section.locator("#recovery-email-input").fill(address)
            await section.get_by_test_id("set-recovery-email").click()
            await expect(section.get_by_role("status")).to_contain_text(
                f"We sent a link to {address}"
            )
            link = await recovery_link(example, address, 1)
            assert "/account/email#token=" in link
            await goto(page, link)
            await expect(page.get_by_test_id("email-confirmation")).to_contain_text(
                f"{address} is now your recovery address."
            )
            assert "#token" not in page.url  # taken out of the address bar
            await goto(page, "/account")
            await expect(page.get_by_test_id("recovery-email")).to_contain_text(address)
            await expect(
                page.get_by_test_id("recovery-safeguards").locator('[data-kind="recovery_address"]')
            ).to_be_visible()

            await sign_out(example, page)
            await tab.remove_authenticator()
            await goto(page, "/recover")
            await page.fill("#recover-email", address)
            await page.get_by_test_id("email-recovery-link").click()
            await expect(page.get_by_role("status")).to_contain_text("a link is on its way")
            link = await recovery_link(example, address, 2)
            assert "/recover/link#token=" in link
            await page.goto(link)
            await finish_recovery(example, tab)
            await expect(page.get_by_test_id("recovery-email")).to_contain_text(address)
