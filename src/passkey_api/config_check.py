"""What `passkey-api check-config` refuses, beyond what Settings already validates."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from passkey_api.config import PLACEHOLDER_SECRETS, Settings
from passkey_api.wellknown import PUBLIC_SUFFIXES, related_origin_problems

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def problems(settings: Settings, *, production: bool) -> list[str]:
    found = list(related_origin_problems(settings))
    rp_id = settings.rp_id.lower()
    try:
        ipaddress.ip_address(rp_id.strip("[]"))
        found.append(f"RP ID {settings.rp_id!r} is an IP address, not a domain")
    except ValueError:
        if ("." not in rp_id and rp_id != "localhost") or rp_id in PUBLIC_SUFFIXES:
            found.append(f"RP ID {settings.rp_id!r} is not a registrable domain")
    for origin in settings.origins:
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith("." + rp_id):
            found.append(f"origin {origin!r} is not within RP ID {settings.rp_id!r}")
    if production:
        if not settings.cookie_secure:
            found.append("PASSKEY_COOKIE_SECURE=false: session cookies would travel over http")
        secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
        if not secret:
            found.append("PASSKEY_SECRET_KEY is not set")
        elif secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
            found.append("PASSKEY_SECRET_KEY is a placeholder or shorter than 32 characters")
        for origin in settings.web_origins:
            parts = urlsplit(origin)
            if parts.scheme != "https" and parts.hostname not in _LOCAL_HOSTS:
                found.append(f"origin {origin!r} is plain http")
        for name, provider in settings.oauth_providers.items():
            urls = (
                [provider.issuer]
                if provider.kind == "oidc"
                else [
                    provider.authorization_endpoint,
                    provider.token_endpoint,
                    provider.api_url,
                ]
            )
            for url in urls:
                if url and urlsplit(url).scheme != "https":
                    found.append(f"OAuth provider {name!r}: {url!r} is plain http")
        if settings.public_url and urlsplit(settings.public_url).scheme != "https":
            found.append(f"PASSKEY_PUBLIC_URL {settings.public_url!r} is plain http")
        if settings.database_url is None:
            found.append("PASSKEY_DATABASE_URL is not set: production runs on PostgreSQL")
        if settings.redis_url is None:
            found.append("PASSKEY_REDIS_URL is not set: challenges would live in one process")
        if (
            settings.smtp_host is not None
            and not settings.smtp_starttls
            and settings.smtp_host not in _LOCAL_HOSTS
        ):
            # Recovery links are as good as a session for whoever reads them on the way.
            found.append("PASSKEY_SMTP_STARTTLS=false: recovery links would cross the network")
    return found
