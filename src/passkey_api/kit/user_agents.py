"""What a User-Agent header says of a device, in words of our own (no I/O).

The header is whatever the client chose to send, so nothing of it is ever repeated: the
answer is a browser and a system picked from the fixed lists below, or "an unknown
browser". Mail to the account owner quotes this, not the header, so that an attacker
cannot write into a security notice ("this was support, no action needed, ...").
"""

from __future__ import annotations

import re

UNKNOWN_BROWSER = "an unknown browser"

# Only the start of the header is looked at: bounded work whatever its length (real ones
# name browser and system well within it).
MAX_SCANNED = 512

# Product tokens ("Name/1.2"), the start of a name that is not part of a longer one.
_PRODUCT = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z]{1,24})/[0-9]")

# Most specific first: browsers built on Chromium also name Chrome (and Safari), Chrome
# names Safari, so the first family found among the tokens wins.
_BROWSERS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"Edg", "EdgA", "EdgiOS", "Edge"}), "Microsoft Edge"),
    (frozenset({"OPR", "OPiOS", "OPT"}), "Opera"),
    (frozenset({"SamsungBrowser"}), "Samsung Internet"),
    (frozenset({"YaBrowser"}), "Yandex Browser"),
    (frozenset({"Vivaldi"}), "Vivaldi"),
    (frozenset({"Firefox", "FxiOS"}), "Firefox"),
    (frozenset({"Chromium"}), "Chromium"),
    (frozenset({"Chrome", "CriOS"}), "Chrome"),
)

# Substrings of the system comment, most specific first: iOS says "like Mac OS X",
# Android says "Linux".
_SYSTEMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("iPhone", "iPod"), "iOS"),
    (("iPad",), "iPadOS"),
    (("Android",), "Android"),
    (("CrOS",), "ChromeOS"),
    (("Windows",), "Windows"),
    (("Macintosh", "Mac OS X"), "macOS"),
    (("Linux", "X11"), "Linux"),
)


def browser(user_agent: str) -> str:
    head = user_agent[:MAX_SCANNED]
    products = {found.group(1) for found in _PRODUCT.finditer(head)}
    for names, name in _BROWSERS:
        if products & names:
            return name
    # Safari names no product of its own: "Version/x ... Safari/y", and nothing above.
    if {"Version", "Safari"} <= products:
        return "Safari"
    return UNKNOWN_BROWSER


def system(user_agent: str) -> str | None:
    head = user_agent[:MAX_SCANNED]
    for markers, name in _SYSTEMS:
        if any(marker in head for marker in markers):
            return name
    return None


def describe(user_agent: str | None) -> str:
    """The device in our words: `Firefox on Linux`, `Safari`, `an unknown browser on
    Android`, `an unknown browser`."""
    if not user_agent:
        return UNKNOWN_BROWSER
    found = system(user_agent)
    return browser(user_agent) + (f" on {found}" if found else "")
