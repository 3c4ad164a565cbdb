"""What the app's lifespan owns, and the FastAPI dependencies that hand it out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.authenticators.service import MetadataService
from passkey_api.config import SecretKey, Settings
from passkey_api.kit.client_info import ClientAddresses, limit_key
from passkey_api.oauth.providers import OAuthClients
from passkey_api.sessions.cache import SessionCache
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import Databases
from passkey_api.storage.decoy_seed import DecoySeed
from passkey_api.storage.mail import Mailer
from passkey_api.storage.pgpool import LeanPool
from passkey_api.storage.ratelimit import RateLimiter


@dataclass(frozen=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # PostgreSQL only: asyncpg directly, for the statements every request runs (db.py).
    pool: LeanPool | None
    challenges: ChallengeStore
    # Signs and keys what is made; verifies with the keys it replaced too (config/secrets.py).
    secret_key: SecretKey
    limiter: RateLimiter
    addresses: ClientAddresses
    # Tokens of emailed links (recovery, address verification), single use like challenges.
    links: ChallengeStore
    # None unless SMTP is configured (PASSKEY_SMTP_*): email recovery is then off.
    mailer: Mailer | None
    # Social sign-in: the one HTTP client to the providers, and their cached documents.
    oauth: OAuthClients
    # Resolved sessions, valid until any change to users or sessions (sessions/cache.py).
    session_cache: SessionCache
    # Authenticator metadata (FIDO MDS3), held in memory; empty unless PASSKEY_MDS is on.
    metadata: MetadataService
    # Keys the decoys of unknown usernames; the database's, read at start-up (decoys.py).
    decoy_seed: DecoySeed

    @cached_property
    def databases(self) -> Databases:
        return Databases(self.sessionmaker, self.pool)

    def client_ip(self, request: Request) -> str | None:
        """The client's IP address, as far as the trusted proxies tell it."""
        return self.addresses.resolve(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
        )

    def limit_key_of(self, request: Request) -> str:
        """The client as the rate limits count it (client_info.limit_key)."""
        return limit_key(self.client_ip(request))


def resources_of(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


# Dependencies are coroutines on purpose: FastAPI runs plain functions in a thread pool,
# which costs more than everything these do.
async def get_resources(request: Request) -> Resources:
    return resources_of(request)


async def get_settings(request: Request) -> Settings:
    return resources_of(request).settings


async def get_challenge_store(request: Request) -> ChallengeStore:
    return resources_of(request).challenges


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    # Services commit their unit of work; leaving this block rolls back anything else.
    async with resources_of(request).sessionmaker() as session:
        yield session


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ChallengeStoreDep = Annotated[ChallengeStore, Depends(get_challenge_store)]
DbDep = Annotated[AsyncSession, Depends(get_db)]
