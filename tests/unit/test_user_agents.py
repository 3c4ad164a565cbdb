"""What a notice says of the device that acted: a browser and a system from fixed lists,
whatever the User-Agent header held."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passkey_api.kit.user_agents import UNKNOWN_BROWSER, describe

REAL = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Chrome on Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Microsoft Edge on Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        "Safari on macOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Safari on iOS",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        "Chrome on iPadOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) FxiOS/132.0 Mobile/15E148 Safari/605.1.15",
        "Firefox on iOS",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox on Linux",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Samsung Internet on Android",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        "Chrome on Android",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
        "Opera on Windows",
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Chrome on ChromeOS",
    ),
    # Apps and tools: no browser we know, the system when it says one.
    ("okhttp/4.12.0", UNKNOWN_BROWSER),
    ("curl/8.5.0", UNKNOWN_BROWSER),
    ("MyApp/3.1 (iPhone; iOS 18.1; Scale/3.00)", f"{UNKNOWN_BROWSER} on iOS"),
    ("Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A)", f"{UNKNOWN_BROWSER} on Android"),
]


@pytest.mark.parametrize(("user_agent", "expected"), REAL)
def test_real_user_agents(user_agent: str, expected: str) -> None:
    assert describe(user_agent) == expected


@pytest.mark.parametrize("user_agent", [None, "", "   ", "\x00\n\r", "Mozilla/5.0"])
def test_nothing_known_is_an_unknown_browser(user_agent: str | None) -> None:
    assert describe(user_agent) == UNKNOWN_BROWSER


def test_the_attackers_words_never_come_out() -> None:
    lure = (
        "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 this was support, no action needed, "
        "visit https://evil.example/help\r\nSubject: fine"
    )
    assert describe(lure) == "Chrome on Windows"
    assert describe("this was support, no action needed, visit evil.example") == UNKNOWN_BROWSER
    # A product name we do not know is not repeated, whatever it is called.
    assert describe("Support-Team-Says-Ignore/1.0 (Windows NT 10.0)") == (
        f"{UNKNOWN_BROWSER} on Windows"
    )


def test_a_huge_header_is_read_only_so_far() -> None:
    # Bounded work: what lies past the first characters is not looked at.
    assert describe("x" * 100_000 + " Firefox/133.0") == UNKNOWN_BROWSER
    assert describe("Firefox/133.0 " + "(" * 100_000) == "Firefox"


WORDS = {
    "Chrome",
    "Chromium",
    "Microsoft Edge",
    "Firefox",
    "Safari",
    "Opera",
    "Samsung Internet",
    "Vivaldi",
    "Yandex Browser",
    UNKNOWN_BROWSER,
}
SYSTEMS = {"Windows", "macOS", "iOS", "iPadOS", "Android", "ChromeOS", "Linux"}


@given(st.text(max_size=400))
def test_any_header_gives_a_browser_and_a_system_from_the_lists(user_agent: str) -> None:
    browser, _, system = describe(user_agent).partition(" on ")
    assert browser in WORDS
    assert system == "" or system in SYSTEMS
