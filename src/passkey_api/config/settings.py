"""The one settings object: Settings reads the PASSKEY_* variables."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from passkey_api.config.origins import AndroidApp, IosApp, origin_of
from passkey_api.config.providers import PROVIDER_NAME, OAuthProvider
from passkey_api.config.secrets import (
    SECRET_MIN_LENGTH,
    MissingSecretKey,
    SecretKey,
    placeholder_secret,
)


@dataclass(frozen=True)
class Lifetimes:
    """A session's idle and absolute lifetimes."""

    idle: timedelta
    absolute: timedelta

    def expiry(self, created_at: datetime, now: datetime) -> datetime:
        return min(now + self.idle, created_at + self.absolute)


# The FIDO Metadata Service's roots (GlobalSign Root R46 and Root CA - R3), a file of the
# package: the BLOB's chain ends there unless PASSKEY_MDS_ROOT names others.
DEFAULT_MDS_ROOT = "data/fido-mds-root.pem"

# "60/minute": ratelimit.Limit parses settings with this same pattern.
RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


def public_url(url: str) -> str:
    """A URL as it may be printed, logged and stored: without its query or credentials
    (where a token would be)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def split_list(value: object) -> object:
    """A list setting as the environment gives it: a JSON list, or comma-separated (blank
    items dropped); anything else is left to the field's own validation."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        return json.loads(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_KEY_IDENTIFIER = re.compile(r"[0-9a-f]{40}")


def authenticator_id(value: str) -> str:
    """An allow-list entry as registrations are compared with it: an AAGUID in its
    canonical form (lowercase, hyphens), or a U2F key identifier as 40 lowercase hex
    digits (SHA-1 of the attestation certificate's public key, as MDS3 lists them)."""
    text = value.strip().lower()
    if _KEY_IDENTIFIER.fullmatch(text):
        return text
    try:
        aaguid = uuid.UUID(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither an AAGUID (8-4-4-4-12 hex digits) nor a U2F key "
            "identifier (40 hex digits)"
        ) from None
    if aaguid.int == 0:
        raise ValueError("the zero AAGUID names no model (U2F keys: list their key identifier)")
    return str(aaguid)


_PLAIN_SECONDS = re.compile(r"\s*\d+(?:\.\d+)?\s*")


def _seconds(value: object) -> object:
    """A duration given as plain seconds ("0", "3600", "1.5"), as the README promises;
    anything else is left to pydantic's own reading (ISO 8601, e.g. "P30D", "PT10M")."""
    if isinstance(value, str) and _PLAIN_SECONDS.fullmatch(value):
        return float(value)
    return value


# A duration setting: ISO 8601 ("P30D", "PT15M") or plain seconds ("3600").
Duration = Annotated[timedelta, BeforeValidator(_seconds)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSKEY_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"

    rp_id: str = "localhost"
    rp_name: str = "passkey-api"
    # The web origins of your front ends (within the RP ID). With the apps and related
    # origins below they make every origin a WebAuthn response may come from.
    origins: Annotated[list[str], NoDecode] = ["http://localhost:8000"]
    # Android apps (Credential Manager): their signing certificates become
    # android:apk-key-hash origins and /.well-known/assetlinks.json.
    android_apps: list[AndroidApp] = []
    # iOS apps (AuthenticationServices): /.well-known/apple-app-site-association.
    ios_apps: list[IosApp] = []
    # Other sites that use this RP ID (WebAuthn Related Origin Requests):
    # /.well-known/webauthn lists them with the web origins.
    related_origins: Annotated[list[str], NoDecode] = []
    user_verification: Literal["preferred", "required"] = "preferred"

    data_dir: Path = Path(".passkey-api")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    # While rotating the secret key: the key(s) it replaced (comma-separated, or a JSON
    # list), still accepted for what they signed; nothing new is made with them.
    secret_key_previous: Annotated[list[SecretStr], NoDecode] = []

    cookie_secure: bool = True
    # Idle lifetime: a session unused this long expires; used, it slides (see sessions/).
    session_lifetime: Duration = timedelta(days=30)
    # Absolute lifetime: no session outlives this from its sign-in, however active.
    session_absolute_lifetime: Duration = timedelta(days=90)
    challenge_ttl: Duration = timedelta(minutes=5)
    # Audit entries older than this are pruned (hourly, and by `sessions prune`).
    audit_retention: Duration = timedelta(days=365)
    # The longest a session check trusts a resolved session kept in the process without
    # reading the database (sessions/cache.py); any change the service makes to users or
    # sessions outdates it at once on every replica, so this bounds only changes made
    # around the service (psql). 0 turns the cache off.
    session_cache_ttl: Duration = timedelta(seconds=30)
    # How long a re-authentication (sudo mode) authorises sensitive actions of its purpose.
    reauth_window: Duration = timedelta(minutes=10)
    # WebAuthn `timeout` hint given to the browser, in milliseconds.
    ceremony_timeout_ms: int = Field(default=300_000, ge=10_000, le=600_000)

    # Account recovery. A recovery code or an emailed link gives a restricted session that
    # may only add a passkey, for this long (it does not slide).
    recovery_session_lifetime: Duration = timedelta(minutes=15)
    # How long an emailed link (recovery or address verification) can be followed, once.
    recovery_link_lifetime: Duration = timedelta(minutes=15)
    # The page of your front end that takes the emailed recovery link; the token is added
    # as the fragment (#token=...), which browsers never send to a server. Must be on one
    # of `origins`. The verification link for a new address goes to email_verification_url
    # (the same page unless set).
    recovery_url: str | None = None
    email_verification_url: str | None = None
    # Email recovery is on when these are set (host, from, and recovery_url).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    # STARTTLS before authenticating (required unless the relay is on localhost).
    smtp_starttls: bool = True
    smtp_timeout: Duration = timedelta(seconds=10)
    # At most this many messages wait in the outbox (or are being sent); a request that would
    # mail someone beyond it answers 503 `mail_queue_full` before it changes anything.
    mail_queue_size: int = Field(default=1000, ge=1, le=100_000)

    demo_page: bool = True
    # json: one JSON object per line, for log pipelines; text: for a terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # FastAPI's own OpenTelemetry traces/metrics/logs, for a deployment that configures
    # OpenTelemetry providers. Off by default: /metrics has the service's own figures,
    # and the check for providers costs every request.
    opentelemetry: bool = False
    # The fast paths (web/fast/): speed-ups over the plain FastAPI app and uvicorn that read
    # their internals, so they run only on the releases they know (else the app is served
    # plain, with a warning). Off: the app is as FastAPI builds it and `serve` leaves the
    # writing to uvicorn (its read timeout and connection caps stay); the answers are the
    # same either way.
    fast_paths: bool = True

    # Abuse limits (see ratelimit.py). Ceremonies are limited per client IP and per
    # username; everything else per session.
    rate_limits: bool = True
    rate_limit_ip: str = "300/minute"
    rate_limit_username: str = "30/minute"
    rate_limit_session: str = "600/minute"
    # /v1/recovery/*: per client IP, and per account (username, per client IP) or
    # recovery address (whatever the IP, so that nobody can flood a mailbox).
    rate_limit_recovery_ip: str = "60/hour"
    rate_limit_recovery_account: str = "10/hour"
    # Every request that mails an address the client names (a recovery link, a new
    # address's verification link), on whichever route: per client IP, per signed-in
    # account, and per recipient address whatever the client, so nobody floods a mailbox.
    rate_limit_mail_ip: str = "30/hour"
    rate_limit_mail_account: str = "10/hour"
    rate_limit_mail_address: str = "5/hour"
    # New sets of recovery codes per account (each costs ten slow hashes).
    rate_limit_recovery_codes: str = "5/hour"
    # Failed recovery attempts (codes, links) one account takes, whatever the client,
    # before its recovery pauses (NIST SP 800-63B 5.2.2: at most 100). Failures are
    # counted in a run that ends with a passkey sign-in by the owner, a successful
    # recovery, or recovery_pause after it began; a pause lasts recovery_pause from the
    # last counted failure, or until the owner signs in with a passkey (recovery/attempts.py).
    recovery_max_failures: int = Field(default=100, ge=1, le=100_000)
    recovery_pause: Duration = Field(default=timedelta(hours=24), gt=timedelta(0))
    # Slow hashes of recovery codes (scrypt, ~30 ms each, two at a time) waiting or running
    # in one process at most: a code attempt needs one, a new set ten; beyond, 503
    # `recovery_busy` before anything is counted or written (recovery/codes.py).
    recovery_hash_queue: int = Field(default=64, ge=10, le=10_000)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=10_485_760)
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs); none by default,
    # so a client cannot choose the IP it is rate-limited and audited under.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # When set (IPs or CIDRs), /metrics and the API docs (/docs, /redoc, /openapi.json)
    # answer only clients on these networks (as PASSKEY_TRUSTED_PROXIES finds them), 404
    # to everyone else: for a listener that faces the public. Empty: everyone's.
    internal_networks: Annotated[list[str], NoDecode] = []

    # Social sign-in (see oauth/): name -> provider, as JSON.
    oauth_providers: dict[str, OAuthProvider] = {}
    # Where browsers reach this API, for the providers' redirect URI
    # (<public_url>/v1/oauth/<name>/callback); defaults to the first origin.
    public_url: str | None = None
    # Exact redirect URIs of native apps (e.g. com.example.app:/oauth) that may receive
    # a one-time code; web redirects must be on one of `origins`.
    oauth_app_redirects: Annotated[list[str], NoDecode] = []
    # How long a user may take at the provider, and how long a one-time code lives.
    oauth_flow_ttl: Duration = timedelta(minutes=10)
    oauth_code_ttl: Duration = timedelta(seconds=60)
    # Provider discovery documents and signing keys are cached this long.
    oauth_metadata_ttl: Duration = timedelta(hours=1)
    # Every call to a provider gives up after this many seconds.
    oauth_timeout: float = Field(default=10.0, gt=0, le=60)

    # Authenticator metadata (authenticators/): the FIDO Metadata Service's BLOB (MDS3),
    # verified, kept in the database for every replica, refreshed daily, and hourly once
    # its nextUpdate has come. Off unless true: nothing is then fetched, read or stored.
    mds: bool = False
    # Where the BLOB is fetched from...
    mds_url: str = "https://mds3.fidoalliance.org/"
    # ...or the file it is read from instead, for a deployment without outbound access
    # (put a newer BLOB there, then `passkey-api mds refresh`).
    mds_file: Path | None = None
    # The roots the BLOB's x5c chain may end at (a PEM file, one or a bundle); by default
    # the FIDO Alliance's, Root R46 and Root CA - R3, shipped (DEFAULT_MDS_ROOT).
    mds_root: Path | None = None
    # Whose certificate must sign the BLOB (a server certificate for this DNS name, in
    # its SAN): under a public root, anyone can have a certificate for a name of their
    # own. "" accepts any leaf under mds_root that may sign (a private root that issues
    # for nothing else).
    mds_signer: str = "mds.fidoalliance.org"

    # Attestation at registration (ceremonies/attestation.py). "none": the options ask
    # for none and nothing is looked up; "direct": they ask for the authenticator's
    # attestation, which is verified against the metadata's roots for its model, and
    # what was learned (type, model, whether the chain verified) is stored per passkey.
    attestation: Literal["none", "direct"] = "none"
    # Which authenticators may register (authenticators/policy.py): "any"; "attested",
    # an attestation chain verified to a root the metadata gives for the model;
    # "certified", also FIDO certified and no compromise, revocation or UV-bypass report.
    authenticator_policy: Literal["any", "attested", "certified"] = "any"
    # Only these models (AAGUIDs, and the hex key identifiers of U2F attestation
    # certificates), proven by a verified attestation chain whatever the policy.
    allowed_authenticators: Annotated[list[str], NoDecode] = []
    # Sign-in and step-up with a passkey whose model the held metadata reports
    # compromised (ATTESTATION_KEY_COMPROMISE, USER_VERIFICATION_BYPASS,
    # USER_KEY_*_COMPROMISE, REVOKED): "allow" (shown in the passkey list, nothing else),
    # or "refuse" (403 authenticator_compromised, once the signature verified).
    compromised_authenticators: Literal["allow", "refuse"] = "allow"

    @field_validator(
        "origins",
        "trusted_proxies",
        "internal_networks",
        "related_origins",
        "oauth_app_redirects",
        "secret_key_previous",
        "allowed_authenticators",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        return split_list(value)

    @field_validator("origins", "related_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value and info.field_name == "origins":
            raise ValueError("at least one origin is required")
        canonical = []
        for origin in value:
            try:
                parts = urlsplit(origin)
                # As browsers serialise it, or nothing would match.
                serialised = origin_of(parts)
            except ValueError:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])") from None
            if parts.path or parts.query or parts.fragment or parts.username:
                raise ValueError(f"{origin!r} must be a bare origin, without path or query")
            canonical.append(serialised)
        return canonical

    @field_validator("trusted_proxies", "internal_networks")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for proxy in value:
            ipaddress.ip_network(proxy, strict=False)  # raises ValueError when it is not one
        return value

    @field_validator("oauth_providers")
    @classmethod
    def _provider_names(cls, value: dict[str, OAuthProvider]) -> dict[str, OAuthProvider]:
        for name in value:
            if not PROVIDER_NAME.match(name):
                raise ValueError(f"provider name {name!r}: lowercase letters, digits, - and _")
        return value

    @field_validator("oauth_app_redirects")
    @classmethod
    def _app_redirects(cls, value: list[str]) -> list[str]:
        for uri in value:
            parts = urlsplit(uri)
            # RFC 8252 7.1: private-use schemes are reverse domain names (com.example.app),
            # which also keeps javascript:, data: and plain http out.
            own_scheme = "." in parts.scheme
            if parts.fragment or not (parts.scheme == "https" or own_scheme):
                raise ValueError(f"{uri!r}: app redirects are https or an app's own scheme")
        return value

    @field_validator("mds_url")
    @classmethod
    def _mds_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("allowed_authenticators")
    @classmethod
    def _authenticator_ids(cls, value: list[str]) -> list[str]:
        return [authenticator_id(item) for item in value]

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
            raise ValueError(f"{value!r} is not a base URL (scheme://host[:port][/path])")
        return value.rstrip("/")

    @field_validator(
        "rate_limit_ip",
        "rate_limit_username",
        "rate_limit_session",
        "rate_limit_recovery_ip",
        "rate_limit_recovery_account",
        "rate_limit_mail_ip",
        "rate_limit_mail_account",
        "rate_limit_mail_address",
        "rate_limit_recovery_codes",
    )
    @classmethod
    def _rates_parse(cls, value: str) -> str:
        if not RATE_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a rate like '60/minute'")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        rp_id = self.rp_id.lower()
        for origin in self.origins:
            host = urlsplit(origin).hostname or ""
            # WebAuthn only lets a page use an RP ID equal to its host or a registrable
            # suffix of it; any other pairing fails in every browser, so say so at start-up.
            if host != rp_id and not host.endswith("." + rp_id):
                raise ValueError(
                    f"PASSKEY_ORIGINS: {origin!r} is not within PASSKEY_RP_ID {self.rp_id!r}; "
                    "use an origin on that domain or change the RP ID"
                )
        for name in ("recovery_url", "email_verification_url"):
            url = getattr(self, name)
            if url is not None:
                parts = urlsplit(url)
                page_origin: str | None
                try:
                    page_origin = origin_of(parts)
                except ValueError:
                    page_origin = None
                if page_origin not in self.origins or parts.fragment or parts.username:
                    raise ValueError(
                        f"PASSKEY_{name.upper()} {url!r} must be a page on one of PASSKEY_ORIGINS, "
                        "without a fragment (the token goes there)"
                    )
        if self.smtp_host and not (self.smtp_from and self.recovery_url):
            raise ValueError(
                "PASSKEY_SMTP_HOST is set: email recovery also needs PASSKEY_SMTP_FROM and "
                "PASSKEY_RECOVERY_URL; set both, or unset PASSKEY_SMTP_HOST"
            )
        if self.env == "production":
            if self.secret_key is None or not self.secret_key.get_secret_value():
                raise ValueError(
                    "PASSKEY_SECRET_KEY must be set in production; make one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
            if len(self.secret_key.get_secret_value()) < SECRET_MIN_LENGTH:
                raise ValueError(
                    "PASSKEY_SECRET_KEY must be at least 32 characters; make one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
            if placeholder_secret(self.secret_key.get_secret_value()):
                raise ValueError(
                    "PASSKEY_SECRET_KEY is a placeholder or not random; make one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'passkey-api.db'}"

    @cached_property
    def web_origins(self) -> list[str]:
        """Pages that may run ceremonies: the web origins and the related origins (other
        sites; CORS and the CSRF check admit only `origins`)."""
        return list(dict.fromkeys([*self.origins, *self.related_origins]))

    @cached_property
    def allowed_origins(self) -> list[str]:
        """Every origin a WebAuthn response may come from: web pages and Android apps."""
        apps = [origin for app in self.android_apps for origin in app.origins()]
        return [*self.web_origins, *apps]

    def oauth_redirect_uri(self, provider: str) -> str:
        """The callback URL registered with each provider."""
        return f"{self.public_url or self.origins[0]}/v1/oauth/{provider}/callback"

    @cached_property
    def restricts_authenticators(self) -> bool:
        """Whether a registration must prove its model: a policy other than `any`, or an
        allow-list. False: the registration's only cost is this branch."""
        return self.authenticator_policy != "any" or bool(self.allowed_authenticators)

    @cached_property
    def examines_attestation(self) -> bool:
        """Whether registrations look up their model and verify its attestation chain."""
        return self.attestation == "direct" or self.restricts_authenticators

    @property
    def email_recovery(self) -> bool:
        """Whether recovery by email is configured (else its routes say so)."""
        return bool(self.smtp_host and self.smtp_from and self.recovery_url)

    @property
    def recovery_session_lifetimes(self) -> Lifetimes:
        return Lifetimes(
            idle=self.recovery_session_lifetime, absolute=self.recovery_session_lifetime
        )

    @property
    def session_lifetimes(self) -> Lifetimes:
        return Lifetimes(idle=self.session_lifetime, absolute=self.session_absolute_lifetime)

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only
        # and Path=/, so a sibling subdomain cannot plant or shadow it.
        return "__Host-passkey_session" if self.cookie_secure else "passkey_session"

    @property
    def oauth_cookie_name(self) -> str:
        # Binds a social sign-in flow to the browser that started it (see oauth/flows.py).
        return "__Host-passkey_oauth" if self.cookie_secure else "passkey_oauth"

    @property
    def shares_database(self) -> bool:
        """Whether replicas may share this database (anything but the embedded default),
        and so must share the secret key too."""
        return bool(self.database_url)

    def secret_key_bytes(self) -> SecretKey:
        """The signing key, carrying the previous keys still accepted for verification
        (PASSKEY_SECRET_KEY_PREVIOUS: config/secrets.py SecretKey)."""
        previous = [key.get_secret_value().encode() for key in self.secret_key_previous]
        return SecretKey(self._current_secret_key(), previous)

    def _current_secret_key(self) -> bytes:
        """PASSKEY_SECRET_KEY. Only the embedded backend makes one (once, kept in data_dir):
        a database that replicas share needs the key they share, so without it this
        refuses (MissingSecretKey) rather than let each replica make its own."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        if self.shares_database:
            raise MissingSecretKey()
        key_file = self.data_dir / "secret_key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Exclusive create, owner-only from the first byte: two workers starting at
            # once agree on one key, and no one else can read it even briefly.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        for _ in range(50):  # another worker may be writing it this instant
            key = key_file.read_text().strip()
            if key:
                return key.encode()
            time.sleep(0.01)
        raise RuntimeError(f"{key_file} is empty; delete it and start again")
