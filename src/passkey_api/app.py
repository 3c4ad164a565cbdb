"""create_app(): the lifespan owns the engine and the challenge store; routers; handlers;
and, unless PASSKEY_FAST_PATHS=false, the fast paths over it all (web/fast/)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources as package_files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import configure_mappers

from passkey_api import __version__
from passkey_api.api.admin import router as admin_router
from passkey_api.api.ceremonies import router as ceremonies_router
from passkey_api.api.identities import router as identities_router
from passkey_api.api.me import router as me_router
from passkey_api.api.oauth import router as oauth_router
from passkey_api.api.ops import router as ops_router
from passkey_api.api.passkeys import router as passkeys_router
from passkey_api.api.recovery import me_router as recovery_me_router
from passkey_api.api.recovery import router as recovery_router
from passkey_api.api.session import router as session_router
from passkey_api.api.wellknown import router as wellknown_router
from passkey_api.authenticators.service import MetadataService
from passkey_api.config import Settings
from passkey_api.kit.client_info import ClientAddresses
from passkey_api.oauth.providers import OAuthClients
from passkey_api.sessions import housekeeping
from passkey_api.sessions.cache import MemoryEpoch, RedisEpoch, SessionCache
from passkey_api.storage.challenges import LINK_PREFIX, create_challenge_store
from passkey_api.storage.db import create_engine, create_pool, create_sessionmaker
from passkey_api.storage.decoy_seed import DecoySeed
from passkey_api.storage.mail import Mailer
from passkey_api.storage.ratelimit import RateLimiter
from passkey_api.storage.redispipe import RedisPipe
from passkey_api.web import fast, openapi, problems
from passkey_api.web.cors import Cors
from passkey_api.web.guards import BodyLimitMiddleware, OriginCheckMiddleware
from passkey_api.web.headers import SecurityHeadersMiddleware, page_csp
from passkey_api.web.internal import InternalOnly
from passkey_api.web.observability import RequestMiddleware
from passkey_api.web.resources import Resources
from passkey_api.web.throttle import RateLimitGuard

log = logging.getLogger(__name__)

PURGE_INTERVAL = timedelta(hours=1)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # First, before anything is opened: without a shared key a replica does not start.
        secret_key = settings.secret_key_bytes()
        engine = create_engine(settings.resolved_database_url)
        # One pipelined connection carries every Redis command of this process.
        redis = RedisPipe(settings.redis_url) if settings.redis_url else None
        # Mappers are configured now, not by the first request (db.model_from needs them).
        configure_mappers()
        # Without Redis, no cache: the CLI (create-admin) writes from another process,
        # which could not reach an epoch kept in this one, and SQLite is local anyway.
        session_cache = SessionCache(
            RedisEpoch(redis) if redis else MemoryEpoch(),
            ttl=settings.session_cache_ttl.total_seconds() if redis else 0,
        )
        # With Redis, changes are announced even with the cache off here: other replicas
        # may keep theirs on.
        on_change = session_cache.change if redis else None
        resources = Resources(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine, on_change=on_change),
            pool=create_pool(settings.resolved_database_url),
            challenges=create_challenge_store(redis),
            secret_key=secret_key,
            limiter=RateLimiter(redis),
            addresses=ClientAddresses(settings.trusted_proxies),
            links=create_challenge_store(redis, LINK_PREFIX),
            mailer=Mailer(settings) if settings.email_recovery else None,
            oauth=OAuthClients(settings),
            session_cache=session_cache,
            metadata=MetadataService(settings),
            decoy_seed=DecoySeed(engine),
        )
        # Read (or made, by the first replica) now, so that no request waits for it.
        await resources.decoy_seed.load()
        app.state.resources = resources
        if settings.mds:
            # Before the first request: the newest stored version, as every replica has it.
            await _load_metadata(resources)
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector's scans, whose full passes otherwise show up as latency spikes.
        gc.collect()
        gc.freeze()
        tasks = [asyncio.create_task(_housekeeping(resources))]
        if settings.mds:  # its own task: a slow refresh holds up no pruning
            tasks.append(asyncio.create_task(_metadata_housekeeping(resources)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if resources.mailer is not None:
                await resources.mailer.close()
            await session_cache.close()
            await resources.links.close()
            await resources.challenges.close()
            if redis is not None:
                await redis.close()
            if resources.pool is not None:
                await resources.pool.close()
            await resources.oauth.close()
            await engine.dispose()

    app = FastAPI(
        title="passkey-api",
        version=__version__,
        summary="Passkey (WebAuthn) sign-up and sign-in for SPAs and native apps, with sessions.",
        lifespan=lifespan,
        telemetry={
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": settings.opentelemetry,
        },
    )
    problems.install(app)
    openapi.install(app)
    # Outermost last: headers on every answer, CORS before the guards (preflights), then
    # the body cap, the CSRF origin check and the rate limits before any route runs.
    if settings.internal_networks:
        app.add_middleware(
            InternalOnly,
            paths={"/metrics"}
            | {
                url
                for url in (
                    app.docs_url,
                    app.redoc_url,
                    app.openapi_url,
                    app.swagger_ui_oauth2_redirect_url,
                )
                if url
            },
            networks=settings.internal_networks,
            addresses=ClientAddresses(settings.trusted_proxies),
        )
    app.add_middleware(RateLimitGuard, enabled=settings.rate_limits)
    app.add_middleware(
        OriginCheckMiddleware,
        origins=settings.origins,
        cookie_names=("__Host-passkey_session", "passkey_session"),
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Cors,
        allow_origins=settings.origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Content-Type", "Authorization", "X-Client-Type", "X-Request-ID"],
        expose_headers=["Retry-After", "X-Request-ID"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestMiddleware)
    for router in (
        ops_router,
        session_router,
        ceremonies_router,
        me_router,
        passkeys_router,
        recovery_router,
        recovery_me_router,
        oauth_router,
        identities_router,
        admin_router,
        wellknown_router,
    ):
        app.include_router(router)
    if settings.demo_page:
        page = package_files.files("passkey_api").joinpath("static/index.html").read_text()
        page_headers = {"Content-Security-Policy": page_csp(page)}

        @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
        async def demo_page() -> HTMLResponse:
            return HTMLResponse(page, headers=page_headers)

    # Last, over the finished app: the same answers by shorter ways (web/fast/).
    if settings.fast_paths:
        fast.install(app)
    return app


async def _housekeeping(resources: Resources) -> None:
    """Expired sessions are refused on sight; this also removes those never seen again,
    and audit entries past their retention."""
    while True:
        try:
            async with resources.sessionmaker() as db:
                pruned = await housekeeping.prune(
                    db, now=datetime.now(UTC), audit_retention=resources.settings.audit_retention
                )
            if pruned.sessions or pruned.audit_events:
                log.info(
                    "pruned %d expired sessions and %d old audit events",
                    pruned.sessions,
                    pruned.audit_events,
                )
        except Exception:
            log.warning("housekeeping failed; will retry", exc_info=False)
        await asyncio.sleep(PURGE_INTERVAL.total_seconds())


async def _metadata_housekeeping(resources: Resources) -> None:
    """Apart from the pruning: a refresh may take up to sources.DEADLINE."""
    while True:
        await metadata_housekeeping(resources)
        await asyncio.sleep(PURGE_INTERVAL.total_seconds())


async def _load_metadata(resources: Resources) -> None:
    try:
        async with resources.sessionmaker() as db:
            await resources.metadata.load_newest(db)
    except Exception:  # the database is away: the housekeeping loads it once it is back
        log.warning("authenticator metadata: could not load the stored version; will retry")


async def metadata_housekeeping(resources: Resources) -> None:
    """Hourly, in every replica: the version another replica stored is picked up, and a
    refresh is made daily, and hourly once the held version's nextUpdate has come
    (authenticators/)."""
    try:
        async with resources.sessionmaker() as db:
            await resources.metadata.housekeep(db, datetime.now(UTC))
    except Exception:
        log.warning("authenticator metadata housekeeping failed; will retry", exc_info=False)
