"""What `passkey-api check-config` refuses, beyond what Settings already validates, and
what `serve` refuses to start on (`refusals`)."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from passkey_api.config.secrets import (
    SECRET_MIN_LENGTH,
    UNSHARED_KEY_PROBLEM,
    known_placeholder,
    placeholder_secret,
)
from passkey_api.config.settings import DEFAULT_MDS_ROOT, Settings, public_url

# Browsers honour at most this many distinct registrable-domain labels in
# /.well-known/webauthn (WebAuthn L3, Related Origin Requests).
MAX_RELATED_LABELS = 5
# Two-part public suffixes (a small list, not the whole PSL).
PUBLIC_SUFFIXES = {"co.uk", "com.au", "co.jp", "com.br", "co.nz", "co.in", "org.uk"}


def label(origin: str) -> str:
    """The registrable domain's label ("example" for https://login.example.co.uk), with a
    small built-in list of two-part public suffixes instead of the whole PSL."""
    host = (urlsplit(origin).hostname or "").rstrip(".")
    parts = host.split(".")
    if len(parts) >= 3 and ".".join(parts[-2:]) in PUBLIC_SUFFIXES:
        return parts[-3]
    return parts[-2] if len(parts) >= 2 else host


def related_origin_problems(settings: Settings) -> list[str]:
    labels = list(dict.fromkeys(label(o) for o in settings.web_origins))
    if len(labels) > MAX_RELATED_LABELS:
        return [
            f"/.well-known/webauthn lists {len(labels)} registrable domains "
            f"({', '.join(labels)}); browsers honour only the first {MAX_RELATED_LABELS}"
        ]
    return []


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# A trusted proxy network outside the private ranges may be no wider than this: wider, it
# is no one's proxy fleet but a share of the internet whose every client could choose the
# IP it is rate-limited and audited under (0.0.0.0/0 believes everyone). The widest
# ranges a CDN publishes for its proxies are about this wide (Cloudflare: 104.16.0.0/13,
# 2a06:98c0::/29).
_WIDEST_PUBLIC_PREFIX = {4: 12, 6: 29}
_PRIVATE_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
]
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


# PASSKEY_* variables read by something else than Settings: `serve`'s own options, and
# the SvelteKit example's address of the API; the test and benchmark tools read theirs.
COMMAND_VARIABLES = frozenset(
    {"PASSKEY_READ_TIMEOUT", "PASSKEY_MAX_CONNECTIONS", "PASSKEY_MAX_CLIENT_CONNECTIONS"}
)
_OTHER_VARIABLES = frozenset({"PASSKEY_API_URL"})
_TOOL_PREFIXES = ("PASSKEY_TEST_", "PASSKEY_BENCH_", "PASSKEY_FUZZ_")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """Every PASSKEY_* variable that nothing reads (a typo is otherwise silently ignored,
    and the default it meant to change stays in force), with the closest real name."""
    known = {f"PASSKEY_{name.upper()}" for name in Settings.model_fields}
    known |= COMMAND_VARIABLES | _OTHER_VARIABLES
    found = []
    for name in sorted(environ):
        upper = name.upper()  # Settings reads its variables regardless of case
        if not upper.startswith("PASSKEY_") or upper in known or upper.startswith(_TOOL_PREFIXES):
            continue
        closest = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {closest[0]}?" if closest else "; it is ignored"
        found.append(f"{name} is not a setting{hint}")
    return found


def refusals(settings: Settings) -> list[str]:
    """What `serve` refuses to start on: in production, everything `check-config
    --production` finds; in any mode, a shared database without a shared secret key."""
    if settings.env == "production":
        return problems(settings, production=True)
    return _shared_secret_problems(settings)


def _shared_secret_problems(settings: Settings) -> list[str]:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    return [UNSHARED_KEY_PROBLEM] if settings.shares_database and not secret else []


def _too_wide(proxy: str) -> bool:
    network = ipaddress.ip_network(proxy, strict=False)
    if network.version == 6 and network.overlaps(_MAPPED):
        if not network.subnet_of(_MAPPED):  # type: ignore[arg-type]
            # It holds all of ::ffff:0:0/96: every IPv4 client of a dual-stack socket.
            return True
        # IPv4 as a dual-stack socket reports it: judged as the IPv4 network it is.
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    if any(
        network.version == private.version and network.subnet_of(private)  # type: ignore[arg-type]
        for private in _PRIVATE_NETWORKS
    ):
        return False
    return network.prefixlen < _WIDEST_PUBLIC_PREFIX[network.version]


def _url_password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


_MAKE_A_KEY = "make one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"


def _mds_root_problem(path: Path | None) -> str | None:
    """Why the roots a BLOB must chain to (one PEM certificate or a bundle) cannot be,
    if they cannot: one that is no CA, or out of its validity, spoils the file."""
    name = f"PASSKEY_MDS_ROOT {str(path)!r}" if path else "the shipped FIDO MDS root"
    try:
        if path is None:
            pem = resources.files("passkey_api").joinpath(DEFAULT_MDS_ROOT).read_bytes()
        else:
            pem = path.read_bytes()
    except OSError as exc:
        return f"{name}: cannot read it ({exc.strerror or exc}); name a PEM certificate file"
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return f"{name} is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
    now = datetime.now(UTC)
    for root in roots:
        which = name if len(roots) == 1 else f"{name} ({root.subject.rfc4514_string()})"
        try:
            is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            return f"{which} is not a CA certificate; name the root the BLOB's chain ends at"
        if not root.not_valid_before_utc <= now <= root.not_valid_after_utc:
            return (
                f"{which} is valid only from {root.not_valid_before_utc:%Y-%m-%d} to "
                f"{root.not_valid_after_utc:%Y-%m-%d}: no BLOB verifies; set PASSKEY_MDS_ROOT "
                "to the root the Metadata Service signs under now"
            )
    return None


def mds_problems(settings: Settings, *, production: bool) -> list[str]:
    """Authenticator metadata settings that cannot work (authenticators/)."""
    if not settings.mds:
        return [
            f"{name} is set but PASSKEY_MDS is off, so nothing reads it; set PASSKEY_MDS=true "
            "or remove it"
            for name, value in (
                ("PASSKEY_MDS_FILE", settings.mds_file),
                ("PASSKEY_MDS_ROOT", settings.mds_root),
            )
            if value is not None
        ]
    found = []
    root_problem = _mds_root_problem(settings.mds_root)
    if root_problem:
        found.append(root_problem)
    if settings.mds_file is not None:
        try:
            with settings.mds_file.open("rb"):
                pass
        except OSError as exc:
            found.append(
                f"PASSKEY_MDS_FILE {str(settings.mds_file)!r}: cannot read it "
                f"({exc.strerror or exc}); put the BLOB downloaded from the Metadata Service there"
            )
    elif production and urlsplit(settings.mds_url).scheme != "https":
        found.append(
            f"PASSKEY_MDS_URL {public_url(settings.mds_url)!r} is plain http: the BLOB is "
            "verified, but whoever is on the way can hold back a newer one; use https"
        )
    if not settings.mds_signer and settings.mds_root is None:
        found.append(
            "PASSKEY_MDS_SIGNER is empty with the FIDO Alliance's root, a public CA: anyone "
            "with a certificate under it could sign a BLOB; set it to mds.fidoalliance.org"
        )
    return found


def policy_problems(settings: Settings) -> list[str]:
    """An authenticator policy that cannot work: one that needs a verified attestation
    (attested, certified, an allow-list) refuses every registration without attestation
    asked for (PASSKEY_ATTESTATION=direct) or without the metadata whose roots verify it
    (PASSKEY_MDS); and direct attestation without the metadata verifies no chain."""
    needs = []
    if settings.authenticator_policy != "any":
        needs.append(f"PASSKEY_AUTHENTICATOR_POLICY={settings.authenticator_policy}")
    if settings.allowed_authenticators:
        needs.append("PASSKEY_ALLOWED_AUTHENTICATORS")
    found = []
    if needs:
        what = " and ".join(needs)
        if settings.attestation == "none":
            found.append(
                f"{what} accepts only authenticators whose attestation verifies, but "
                "PASSKEY_ATTESTATION=none asks browsers for none, so every registration "
                "would be refused; set PASSKEY_ATTESTATION=direct"
            )
        if not settings.mds:
            found.append(
                f"{what} accepts only authenticators whose attestation chains to a root of "
                "the authenticator metadata, but PASSKEY_MDS is off, so every registration "
                "would be refused; set PASSKEY_MDS=true"
            )
    elif settings.attestation == "direct" and not settings.mds:
        found.append(
            "PASSKEY_ATTESTATION=direct asks for every authenticator's attestation, but "
            "with PASSKEY_MDS off no chain can be verified (nothing is learned but the "
            "format); set PASSKEY_MDS=true, or PASSKEY_ATTESTATION=none"
        )
    if settings.compromised_authenticators == "refuse" and not settings.mds:
        found.append(
            "PASSKEY_COMPROMISED_AUTHENTICATORS=refuse refuses sign-in with passkeys whose "
            "model the authenticator metadata reports compromised, but with PASSKEY_MDS off "
            "nothing is known of any model, so nothing would be refused; set "
            "PASSKEY_MDS=true"
        )
    return found


def problems(settings: Settings, *, production: bool) -> list[str]:
    """Each a line naming the variable and the fix."""
    found = list(related_origin_problems(settings))
    found += mds_problems(settings, production=production)
    found += policy_problems(settings)
    found += _shared_secret_problems(settings)
    rp_id = settings.rp_id.lower()
    try:
        ipaddress.ip_address(rp_id.strip("[]"))
        found.append(
            f"PASSKEY_RP_ID {settings.rp_id!r} is an IP address; set the site's domain "
            "(example.com), which passkeys are bound to"
        )
    except ValueError:
        if ("." not in rp_id and rp_id != "localhost") or rp_id in PUBLIC_SUFFIXES:
            found.append(
                f"PASSKEY_RP_ID {settings.rp_id!r} is not a registrable domain; set the "
                "site's domain (example.com) or localhost"
            )
    for origin in settings.origins:
        host = urlsplit(origin).hostname or ""
        if host != rp_id and not host.endswith("." + rp_id):
            found.append(
                f"PASSKEY_ORIGINS: {origin!r} is not within PASSKEY_RP_ID "
                f"{settings.rp_id!r}; use an origin on that domain or change the RP ID"
            )
    if production:
        if not settings.cookie_secure:
            found.append(
                "PASSKEY_COOKIE_SECURE=false: session cookies would travel over http; "
                "remove it (the default is true)"
            )
        secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
        if not secret:
            if not settings.shares_database:  # else said above already
                found.append(f"PASSKEY_SECRET_KEY is not set; {_MAKE_A_KEY}")
        elif placeholder_secret(secret) or len(secret) < SECRET_MIN_LENGTH:
            found.append(
                f"PASSKEY_SECRET_KEY is a placeholder or shorter than 32 characters; {_MAKE_A_KEY}"
            )
        previous = [key.get_secret_value() for key in settings.secret_key_previous]
        if any(placeholder_secret(key) or len(key) < SECRET_MIN_LENGTH for key in previous):
            # Whoever knows such a key could sign with it: what it signed must end.
            found.append(
                "PASSKEY_SECRET_KEY_PREVIOUS holds a placeholder or a key shorter than 32 "
                "characters, which anyone could sign with; remove it (what it signed ends)"
            )
        for name, url in (
            ("PASSKEY_DATABASE_URL", settings.database_url),
            ("PASSKEY_REDIS_URL", settings.redis_url),
        ):
            password = _url_password(url)
            if password is not None and known_placeholder(password):
                found.append(f"{name} has a placeholder password; give the account a random one")
        for proxy in settings.trusted_proxies:
            if _too_wide(proxy):
                found.append(
                    f"PASSKEY_TRUSTED_PROXIES {proxy!r} is wider than any proxy fleet: its "
                    "clients could choose the IP they are rate-limited and audited under"
                )
        for origin in settings.web_origins:
            parts = urlsplit(origin)
            if parts.scheme != "https" and parts.hostname not in _LOCAL_HOSTS:
                found.append(f"PASSKEY_ORIGINS: {origin!r} is plain http; serve it over https")
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
                    found.append(
                        f"PASSKEY_OAUTH_PROVIDERS: {name!r} uses {url!r}, plain http; "
                        "use the provider's https address"
                    )
        if settings.public_url and urlsplit(settings.public_url).scheme != "https":
            found.append(
                f"PASSKEY_PUBLIC_URL {settings.public_url!r} is plain http; use the https "
                "address browsers reach this API at"
            )
        if settings.database_url is None:
            found.append(
                "PASSKEY_DATABASE_URL is not set: production runs on PostgreSQL; set "
                "postgresql+asyncpg://user:password@host/db"
            )
        if settings.redis_url is None:
            found.append(
                "PASSKEY_REDIS_URL is not set: challenges would live in one process; set "
                "redis://host:6379/0"
            )
        if (
            settings.smtp_host is not None
            and not settings.smtp_starttls
            and settings.smtp_host not in _LOCAL_HOSTS
        ):
            # Recovery links are as good as a session for whoever reads them on the way.
            found.append(
                "PASSKEY_SMTP_STARTTLS=false: recovery links would cross the network in the "
                "clear; remove it (the default is true)"
            )
    return found
