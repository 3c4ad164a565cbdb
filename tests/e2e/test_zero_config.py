"""`passkey-api serve` with no settings at all works in a real browser: RP ID localhost,
the origin of its own port, the embedded store, and a Secure `__Host-` cookie (Chromium
treats http://localhost as a secure context)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.e2e.harness import open_tab, serve

pytestmark = pytest.mark.e2e


async def _wait_for(log: Path, text: str) -> None:
    for _ in range(100):
        if text in await asyncio.to_thread(log.read_text):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} not in {log}")


async def test_sign_up_and_in_with_no_configuration(browser: Browser, tmp_path: Path) -> None:
    async with serve("embedded", tmp_path, {}, zero_config=True) as server:
        # The banner points at the address passkeys work at, which the test then opens.
        banner = server.log_path.read_text()
        assert f"passkey-api: the account page is at {server.base_url}/" in banner, banner
        assert server.base_url.startswith("http://localhost:")
        assert "passkey-api: backend: embedded" in banner
        assert "passkey-api: migrations: " in banner
        # uvicorn's own "running on http://127.0.0.1:..." line, the last one printed, also
        # points at the page (a person clicks what they read last).
        await _wait_for(server.log_path, "Uvicorn running on")
        [running] = [ln for ln in server.log_path.read_text().splitlines() if "running on" in ln]
        assert f"open {server.base_url}/: passkeys work at that address only" in running
        async with open_tab(server, browser) as tab:
            await tab.open()
            await tab.add_authenticator("internal")
            signed_up = await tab.call("signUp", "zero", "Zero Config")
            assert signed_up["status"] == 201, signed_up
            [cookie] = await tab.context.cookies()
            assert cookie["name"] == "__Host-passkey_session"
            assert cookie["secure"] is True
            assert cookie["httpOnly"] is True
            assert (await tab.session())["status"] == 200
            assert (await tab.call("signOut"))["status"] == 204
            assert (await tab.session())["status"] == 401
            signed_in = await tab.call("signIn")
            assert signed_in["status"] == 200, signed_in
        assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
        assert (tmp_path / "passkey-api.db").exists()
