"""The origin registry's parts: Android and iOS apps (what their passkeys carry as
origin, what /.well-known tells their platforms) and how a web origin is written."""

from __future__ import annotations

import base64
import ipaddress
import re
from urllib.parse import SplitResult

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AndroidApp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
    # Debug, upload and Play signing keys: "AB:CD:..." (32 bytes, as keytool prints them).
    sha256_cert_fingerprints: list[str] = Field(min_length=1)

    @field_validator("sha256_cert_fingerprints")
    @classmethod
    def _fingerprints(cls, value: list[str]) -> list[str]:
        normalised = []
        for fingerprint in value:
            digits = fingerprint.replace(":", "").strip()
            if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"{fingerprint!r} is not a SHA-256 fingerprint (AB:CD:...)")
            normalised.append(":".join(digits[i : i + 2] for i in range(0, 64, 2)).upper())
        return normalised

    def origins(self) -> list[str]:
        """What Android puts in clientDataJSON.origin for this app."""
        return [
            "android:apk-key-hash:"
            + base64.urlsafe_b64encode(bytes.fromhex(f.replace(":", ""))).rstrip(b"=").decode()
            for f in self.sha256_cert_fingerprints
        ]


class IosApp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team_id: str = Field(pattern=r"^[A-Z0-9]{10}$")
    bundle_id: str = Field(pattern=r"^[A-Za-z0-9.-]+$")

    @property
    def app_id(self) -> str:
        return f"{self.team_id}.{self.bundle_id}"


DEFAULT_PORTS = {"http": 80, "https": 443}


# A bracketed host is an IPv6 address and nothing else: no zone id, nothing after the
# bracket but a port (urlsplit alone lets "[::1]x" and "[v1.x]" through).
_BRACKETED = re.compile(r"^\[([0-9a-f:.]+)\](?::[0-9]*)?$")


def origin_of(parts: SplitResult) -> str:
    """The origin of an http(s) URL as browsers serialise it (RFC 6454, WHATWG URL):
    lowercase scheme and host, an IPv6 address compressed (RFC 5952) and in brackets, no
    default port. ValueError when it has none (another scheme, no host, a bad port, a
    malformed bracketed host), so that two spellings of one origin compare equal and
    nothing else does."""
    scheme, host, netloc = parts.scheme.lower(), parts.hostname, parts.netloc.lower()
    port = parts.port  # ValueError when not a number in range
    if scheme not in DEFAULT_PORTS or not host:
        raise ValueError("not an http(s) URL with a host")
    if "[" in netloc or "]" in netloc or ":" in host:
        bracketed = _BRACKETED.match(netloc.rpartition("@")[2])
        if bracketed is None:
            raise ValueError("a bracketed host must be an IPv6 address")
        host = f"[{ipaddress.IPv6Address(bracketed.group(1)).compressed}]"
    return f"{scheme}://{host}" + (
        f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else ""
    )
