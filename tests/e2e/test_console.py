"""The built-in page at / as a person uses it: clicked through in Chromium with CDP virtual
authenticators (a laptop's platform authenticator, a USB security key), signed out and
signed in, and as an account console: passkeys added, renamed and deleted, sessions
signed out from another browser, recovery codes made and used, step-ups run in place.

Screenshots go to artifacts/e2e/console/ (the README's first screen shows some of them).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, ViewportSize, expect

from tests.e2e.harness import ARTIFACTS, Server, Tab, open_tab
from tests.e2e.test_browser_accounts import credential_id, held, plug, unplug
from tests.e2e.test_browser_passkeys import new_username

pytestmark = pytest.mark.e2e

SHOTS = ARTIFACTS / "console"
VIEWPORT: ViewportSize = {"width": 900, "height": 900}
STEP_UP = "First confirm it is you with one of your passkeys…"
SIGNED_OUT_ELSEWHERE = "You were signed out on another device."

# Records each navigator.credentials call with the notices on screen at that moment (what
# the person reads while the browser's prompt is open); window.__holdNext() makes the
# next modal call wait for window.__release(), so a test can look at the page meanwhile.
# Injected by CDP before the page's own script, so the page's CSP does not apply to it.
RECORD_CEREMONIES = """
(() => {
  const seen = [];
  window.__ceremonies = seen;
  let hold = null;
  window.__holdNext = () => { hold = new Promise((resolve) => { window.__release = resolve; }); };
  for (const kind of ["create", "get"]) {
    const original = navigator.credentials[kind].bind(navigator.credentials);
    navigator.credentials[kind] = async (options) => {
      const mediation = (options && options.mediation) || null;
      if (mediation !== "conditional") {
        const notices = Array.from(document.querySelectorAll(".notice"), (n) => n.textContent)
          .filter(Boolean);
        seen.push({kind, notices});
        if (hold) { const waiting = hold; hold = null; await waiting; }
      }
      return original(options);
    };
  }
})();
"""


def today() -> str:
    now = datetime.now(UTC)
    return f"{now.day} {now:%b %Y}"


def chrome_user_agent(browser: Browser) -> str:
    """What this Chromium sends when it is not headless: Chrome on Linux."""
    major = browser.version.split(".")[0]
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


@contextlib.asynccontextmanager
async def console_tab(server: Server, browser: Browser) -> AsyncIterator[Tab]:
    async with open_tab(server, browser, user_agent=chrome_user_agent(browser)) as tab:
        await tab.context.add_init_script(RECORD_CEREMONIES)
        await tab.page.set_viewport_size(VIEWPORT)
        yield tab


@pytest.fixture
async def laptop(server: Server, browser: Browser) -> AsyncIterator[Tab]:
    async with console_tab(server, browser) as tab:
        yield tab


@pytest.fixture
async def other(server: Server, browser: Browser) -> AsyncIterator[Tab]:
    """A second computer: its own browser context, cookies and authenticators."""
    async with console_tab(server, browser) as tab:
        yield tab


async def open_page(tab: Tab) -> Page:
    await tab.open()
    return tab.page


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def view(page: Page, name: str) -> None:
    await expect(page.locator("body")).to_have_attribute("data-view", name)


async def ceremonies(page: Page) -> list[dict[str, Any]]:
    seen = await page.evaluate("() => window.__ceremonies")
    assert isinstance(seen, list)
    return seen


async def sign_up(page: Page, username: str, name: str = "") -> None:
    await page.fill("#username", username)
    await page.fill("#display-name", name)
    await page.click("#signup")
    await view(page, "account")


async def sign_in_with_username(page: Page, username: str) -> None:
    await page.fill("#signin-name", username)
    await page.click("#signin")
    await view(page, "account")


def passkey_rows(page: Page) -> Locator:
    return page.locator("#passkeys > li")


def row(page: Page, name: str) -> Locator:
    return page.locator("#passkeys > li", has=page.locator(".name", has_text=name))


async def held_after(
    page: Page, run: Callable[[], Coroutine[Any, Any, None]], count: int = 1
) -> list[dict[str, Any]]:
    """Run `run` and wait until it has opened `count` more browser prompts."""
    before = len(await ceremonies(page))
    await run()
    await page.wait_for_function(f"() => window.__ceremonies.length >= {before + count}")
    return (await ceremonies(page))[before:]


# --- signed out ---------------------------------------------------------------------------


async def test_sign_up_out_and_in(laptop: Tab) -> None:
    """Sign-up with plain words for an empty username, the account, sign-out, and sign-in
    by autofill."""
    authenticator = await laptop.add_authenticator("internal")
    page = await open_page(laptop)
    await view(page, "signed-out")
    assert await page.get_attribute("#signin-name", "autocomplete") == "username webauthn"
    await shot(page, "01-signed-out")

    # The API answers invalid_username for an empty name; the page says it in words.
    await page.click("#signup")
    notice = page.locator("#signup-notice")
    await expect(notice).to_contain_text("Choose a username first")
    await expect(notice).to_contain_text("Code: invalid_username")
    assert "validation_error" not in (await notice.text_content() or "")

    username = new_username("ada")
    await sign_up(page, username, "Ada Lovelace")
    await expect(page.locator("#who")).to_have_text("Ada Lovelace")
    await expect(page.locator("#who-username")).to_have_text(username)
    await expect(passkey_rows(page)).to_have_count(1)
    laptop_row = passkey_rows(page).first
    # Named where it was made, true on any device; transports in words.
    await expect(laptop_row.locator(".name")).to_contain_text(f"Chrome on Linux, {today()}")
    await expect(laptop_row).to_contain_text("Built into the device")
    await expect(laptop_row).to_contain_text("On one device only")
    await expect(laptop_row).not_to_contain_text("internal")
    await expect(page.locator("#recovery-callout")).to_contain_text("You could be locked out")
    # The forms hold nothing of the sign-up any more.
    assert await page.input_value("#username") == ""
    (passkey,) = await held(laptop, authenticator)

    # Signed out with the laptop's authenticator away: Chromium's virtual one would answer
    # the autofill request the signed-out page makes at once, as if picked.
    await laptop.remove_authenticator()
    await page.click("#signout")
    await view(page, "signed-out")
    await expect(page.locator("#out-notice")).to_have_text("You signed out.")

    # Autofill: the page asks with conditional mediation as it loads; the authenticator
    # answers as if the passkey had been picked from the username field's suggestions.
    await laptop.add_authenticator("internal")
    await laptop.add_credential(passkey)
    await page.reload()
    await view(page, "account")
    await expect(page.locator("#who-username")).to_have_text(username)
    # Username first: see the security key's tests below.


# --- the account --------------------------------------------------------------------------


async def test_add_a_security_key_with_a_step_up_then_sign_in_with_it(
    laptop: Tab, other: Tab
) -> None:
    """The laptop's passkey, then "On a security key" when the sign-up's own step-up is
    over: the step-up runs in place (the notice says so while the browser asks), then the
    new key is asked for (the notice follows), and the key alone signs in elsewhere."""
    laptop_authenticator = await laptop.add_authenticator("internal")
    page = await open_page(laptop)
    username = new_username("grace")
    await sign_up(page, username, "Grace Hopper")
    key_authenticator = await plug(laptop, "usb")
    await laptop.server.age_sign_in()  # ten minutes later

    async def add_key() -> None:
        await page.evaluate("() => window.__holdNext()")
        await page.click("#add-security-key")

    [step_up] = await held_after(page, add_key)
    assert step_up["kind"] == "get"
    assert STEP_UP in step_up["notices"]
    await expect(page.locator("#passkeys-notice")).to_have_text(STEP_UP)
    await shot(page, "03-step-up")
    await page.evaluate("() => window.__release()")

    await expect(page.locator("#passkeys-notice")).to_have_text(f"Added “Security key, {today()}”.")
    step_up_and_create = await ceremonies(page)
    assert [c["kind"] for c in step_up_and_create[-2:]] == ["get", "create"]
    assert step_up_and_create[-1]["notices"] == ["Now touch your new security key…"]
    (key_credential,) = await held(laptop, key_authenticator)
    assert len(await held(laptop, laptop_authenticator)) == 1

    await expect(passkey_rows(page)).to_have_count(2)
    key_row = row(page, "Security key")
    await expect(key_row).to_contain_text("Connects by USB")
    await expect(key_row).to_contain_text("never used")
    # Two device-bound passkeys on two authenticators: no more warning.
    callout = page.locator("#recovery-callout")
    await expect(callout).not_to_contain_text("locked out")
    await expect(callout.locator("li[data-kind=passkeys_on_several_authenticators]")).to_have_count(
        1
    )
    await shot(page, "02-account")

    # Another computer with only the security key: username first, then the key.
    await other.add_authenticator("usb")
    await other.add_credential(key_credential)
    other_page = await open_page(other)
    await sign_in_with_username(other_page, username)
    await expect(other_page.locator("#who")).to_have_text("Grace Hopper")
    await expect(row(other_page, "Security key")).to_contain_text("last used just now")
    assert credential_id(key_credential) in {
        await item.get_attribute("data-id") for item in await passkey_rows(other_page).all()
    }


async def test_rename_and_delete_with_the_last_passkey_refused(laptop: Tab) -> None:
    await laptop.add_authenticator("internal")
    page = await open_page(laptop)
    await sign_up(page, new_username("hal"))

    first = passkey_rows(page).first
    await first.get_by_role("button", name="Rename").click()
    await first.get_by_label("New name").fill("Work laptop")
    await first.get_by_role("button", name="Save").click()
    await expect(page.locator("#passkeys-notice")).to_have_text("Renamed to “Work laptop”.")
    await expect(row(page, "Work laptop")).to_have_count(1)

    # The only passkey: the API refuses (409 last_passkey) and the page says why.
    await row(page, "Work laptop").get_by_role("button", name="Delete").click()
    await row(page, "Work laptop").locator(".confirm").get_by_role("button", name="Delete").click()
    notice = page.locator("#passkeys-notice")
    await expect(notice).to_contain_text("This is your only passkey")
    await expect(notice).to_contain_text("Code: last_passkey")
    await expect(passkey_rows(page)).to_have_count(1)
    await shot(page, "05-last-passkey")

    # With a second one it goes, after a step-up run in place.
    await plug(laptop, "usb")
    await page.click("#add-security-key")
    await expect(notice).to_contain_text("Added “Security key")
    await laptop.server.age_sign_in()
    await row(page, "Work laptop").get_by_role("button", name="Delete").click()
    deleting = row(page, "Work laptop").locator(".confirm").get_by_role("button", name="Delete")
    [step_up] = await held_after(page, deleting.click)
    assert step_up == {"kind": "get", "notices": [STEP_UP]}
    await expect(notice).to_contain_text("Deleted “Work laptop”")
    await expect(passkey_rows(page)).to_have_count(1)
    await expect(row(page, "Security key")).to_have_count(1)


async def test_sessions_signed_out_from_another_browser(laptop: Tab, other: Tab) -> None:
    """The laptop signs the other computer out, one session and then all others; the
    other computer's page then says so, on reload and when the person comes back to it."""
    await laptop.add_authenticator("internal")
    page = await open_page(laptop)
    username = new_username("lin")
    await sign_up(page, username, "Lin")
    # A security key added on the laptop, then taken to the other computer.
    key_authenticator = await plug(laptop, "usb")
    await page.click("#add-security-key")
    await expect(page.locator("#passkeys-notice")).to_contain_text("Added “Security key")
    (key,) = await held(laptop, key_authenticator)
    await unplug(laptop, key_authenticator)
    await other.add_authenticator("usb")
    await other.add_credential(key)
    other_page = await open_page(other)
    await sign_in_with_username(other_page, username)

    await page.reload()
    await view(page, "account")
    sessions = page.locator("#sessions > li")
    await expect(sessions).to_have_count(2)
    await expect(sessions.first).to_contain_text("This browser")
    await expect(sessions.nth(1)).to_contain_text("Chrome on Linux")
    await expect(sessions.nth(1)).to_contain_text("with a passkey")
    await shot(page, "06-sessions")

    # One session, with a step-up in place.
    await laptop.server.age_sign_in()
    [step_up] = await held_after(page, sessions.nth(1).get_by_role("button", name="Sign out").click)
    assert step_up == {"kind": "get", "notices": [STEP_UP]}
    await expect(page.locator("#sessions-notice")).to_have_text("Chrome on Linux is signed out.")
    await expect(sessions).to_have_count(1)
    await other_page.reload()
    await view(other_page, "signed-out")
    await expect(other_page.locator("#out-notice")).to_contain_text(SIGNED_OUT_ELSEWHERE)
    await shot(other_page, "07-signed-out-elsewhere")

    # All others (the step-up for "sessions" is still fresh): the other page, left open,
    # tells as soon as the person comes back to it.
    await sign_in_with_username(other_page, username)
    await page.reload()
    await expect(sessions).to_have_count(2)
    await page.click("#revoke-others")
    await expect(page.locator("#sessions-notice")).to_have_text("Signed out 1 other session.")
    await expect(sessions).to_have_count(1)
    await other_page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
    await view(other_page, "signed-out")
    await expect(other_page.locator("#out-notice")).to_contain_text(SIGNED_OUT_ELSEWHERE)
    await expect(other_page.locator("#out-notice")).to_contain_text("Code: not_authenticated")


async def test_recovery_codes_shown_once_and_used(laptop: Tab, other: Tab) -> None:
    await laptop.add_authenticator("internal")
    page = await open_page(laptop)
    username = new_username("kay")
    await sign_up(page, username, "Kay")
    await laptop.server.age_sign_in()

    [step_up] = await held_after(page, page.locator("#codes-make").click)
    assert step_up == {"kind": "get", "notices": [STEP_UP]}
    codes = page.locator("#codes > li")
    await expect(codes).to_have_count(10)
    shown = [text.strip() for text in await codes.all_text_contents()]
    assert all(re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code) for code in shown), shown
    await expect(page.locator("#codes-status")).to_contain_text("10 of 10 codes left")
    await expect(page.locator("#recovery-callout li[data-kind=recovery_codes]")).to_contain_text(
        "10 unused recovery codes"
    )
    await shot(page, "04-recovery-codes")

    await page.click("#codes-done")
    await expect(codes).to_have_count(0)
    await page.reload()
    await view(page, "account")
    await expect(page.locator("#codes-new")).to_be_hidden()
    await expect(codes).to_have_count(0)

    # Lost the laptop: another computer, a recovery code, then a passkey made there.
    await other.add_authenticator("internal")
    other_page = await open_page(other)
    await other_page.click("#lost summary")
    await other_page.fill("#recover-name", username)
    await other_page.fill("#recover-code", shown[0].lower())
    await other_page.click("#recover")
    await view(other_page, "account")
    await expect(other_page.locator("body")).to_have_attribute("data-scope", "recovery")
    await expect(other_page.locator("#sessions-card")).to_be_hidden()
    await other_page.click("#add-this-device")
    await expect(other_page.locator("body")).to_have_attribute("data-scope", "full")
    await expect(other_page.locator("#passkeys-notice")).to_contain_text(
        "Your new passkey is added"
    )
    await expect(passkey_rows(other_page)).to_have_count(2)
    await expect(other_page.locator("#codes-status")).to_contain_text("9 of 10 codes left")

    # The same code does not work twice (the new passkey's authenticator away, so that
    # autofill does not sign in again at once).
    await other.remove_authenticator()
    await other_page.click("#signout")
    await other_page.click("#lost summary")
    await other_page.fill("#recover-name", username)
    await other_page.fill("#recover-code", shown[0])
    await other_page.click("#recover")
    await expect(other_page.locator("#recover-notice")).to_contain_text("Code: recovery_failed")
