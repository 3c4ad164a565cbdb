"""The `passkey-api` command line (`passkey-api --help`; every command has --help)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.config import Settings
from passkey_api.storage import metric_files, migrations

T = TypeVar("T")


def _settings(*, warn: bool = True) -> Settings:
    """The settings from the environment, or exit 2 with a line per refusal. `warn`: also
    a warning for each PASSKEY_* variable that is not a setting (check-config lists those
    as problems instead)."""
    from passkey_api.config.check import unknown_variables

    for problem in unknown_variables(os.environ) if warn else ():
        click.echo(f"passkey-api: warning: {problem}", err=True)
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            click.echo(f"passkey-api: {_in_words(error)}", err=True)
        raise SystemExit(2) from None
    except SettingsError as exc:  # e.g. a JSON setting that is not JSON
        click.echo(f"passkey-api: bad setting: {exc}", err=True)
        raise SystemExit(2) from None


def _in_words(error: Any) -> str:
    """One line per refusal, naming the variable: `PASSKEY_X: what is wrong`. A refusal of
    the settings as a whole names its variables in its own words."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if str(error["type"]).startswith("time_delta"):
        message = f"{error['input']!r} is not a duration; write seconds (3600) or ISO 8601 (PT1H)"
    if not error["loc"]:
        return message
    field = str(error["loc"][0])
    rest = ".".join(str(part) for part in error["loc"][1:])
    return f"PASSKEY_{field.upper()}{f' ({rest})' if rest else ''}: {message}"


def _migrate(settings: Settings) -> str:
    """Apply pending migrations; what happened, in words."""
    from passkey_api.storage.db import create_engine

    async def read() -> str | None:
        engine = create_engine(settings.resolved_database_url, pool_size=1)
        try:
            return await migrations.current_revision(engine)
        finally:
            await engine.dispose()

    before = asyncio.run(read())
    due = migrations.pending(before)
    migrations.upgrade(settings.resolved_database_url)
    if not due:
        return f"none pending (at {before})"
    start = f"from {before}" if before else "to an empty database"
    return f"{len(due)} applied {start}, now at {due[-1]}"


_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}  # noqa: S104 (names, not binds)


def _banner(settings: Settings, host: str, port: int, migrated: str) -> list[str]:
    """What a person starting the service needs to know: where the page is (the address
    passkeys work at, which is an origin of PASSKEY_ORIGINS, not the bound address),
    the backend, and the migrations."""
    lines = []
    page = settings.origins[0] + "/"
    if settings.demo_page:
        lines.append(f"the account page is at {page}")
    else:
        lines.append(f"the API is at {settings.origins[0]}/v1 for {page}")
    if settings.rp_id == "localhost" and host != "localhost":
        lines.append(
            f"  as localhost, not {host}: the RP ID is localhost, and browsers refuse passkeys "
            "on a page whose host is an IP address or another name"
            + ("" if host in _LOOPBACK else " (to serve it there: PASSKEY_RP_ID, PASSKEY_ORIGINS)")
        )
    if settings.database_url:
        backend = "PostgreSQL" + (" + Redis" if settings.redis_url else " (no Redis)")
    else:
        backend = "embedded (SQLite in " + str(settings.data_dir) + ", challenges in-process)"
    lines.append(f"backend: {backend}")
    lines.append(f"migrations: {migrated}")
    lines.append(
        f"listening on {host}:{port} (RP ID {settings.rp_id}; origins "
        f"{', '.join(settings.allowed_origins)})"
    )
    return lines


class _PageAddress(logging.Filter):
    """uvicorn's last start-up line, "Uvicorn running on http://127.0.0.1:8000", names the
    bound address, the one a person would click last; passkeys fail there (an IP address
    is never the RP ID). The line then also names the page's address."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Uvicorn running on"):
            record.msg += f"; open {self.page}: passkeys work at that address only"
            record.__dict__.pop("color_message", None)  # its colours would say the old line
        return True


def openapi_json() -> str:
    """The committed openapi.json, exactly: tests compare the file with this."""
    from passkey_api.app import create_app

    # The document does not depend on settings: build it without reading the environment.
    settings = Settings.model_construct(demo_page=False)
    return json.dumps(create_app(settings).openapi(), indent=2) + "\n"


@contextlib.asynccontextmanager
async def _unit_of_work(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A unit of work on the configured database. With Redis configured, a change it
    commits to users or sessions outdates the servers' cached sessions at once
    (sessions/cache.py); without, they see it within PASSKEY_SESSION_CACHE_TTL."""
    from passkey_api.sessions.cache import RedisEpoch, SessionCache
    from passkey_api.storage.db import create_engine, create_sessionmaker
    from passkey_api.storage.redispipe import RedisPipe

    engine = create_engine(settings.resolved_database_url, pool_size=1)
    redis = RedisPipe(settings.redis_url) if settings.redis_url else None
    # It keeps no sessions (ttl 0); it only announces this process's changes.
    cache = SessionCache(RedisEpoch(redis), ttl=0) if redis else None
    try:
        on_change = cache.change if cache else None
        async with create_sessionmaker(engine, on_change=on_change)() as db:
            yield db
    finally:
        if cache is not None:
            await cache.close()
        if redis is not None:
            await redis.close()
        await engine.dispose()


def _with_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work against the configured database (migrated first)."""
    migrations.upgrade(settings.resolved_database_url)

    async def run() -> T:
        async with _unit_of_work(settings) as db:
            return await work(db)

    return asyncio.run(run())


async def _create_admin(settings: Settings, username: str) -> int:
    """Kept for the tests: the create-admin command without the process around it."""
    from passkey_api.admin import service
    from passkey_api.errors import ApiError

    async with _unit_of_work(settings) as db:
        try:
            user = await service.grant_role(db, username, "admin", now=datetime.now(UTC))
        except ApiError as exc:
            click.echo(f"passkey-api: {exc.detail}", err=True)
            return 1
        click.echo(f"passkey-api: {user.username} is an admin")
        return 0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """passkey-api: passkey (WebAuthn) sign-up and sign-in as a JSON API.

    Settings come from PASSKEY_* environment variables (see the README)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _refuse_unsafe_start(settings: Settings) -> None:
    """Exit before touching the database when the settings are unsafe to serve with: in
    production, whatever `check-config --production` finds (config/check.py: refusals)."""
    from passkey_api.config.check import refusals

    found = refusals(settings)
    for problem in found:
        click.echo(f"problem: {problem}", err=True)
    if found:
        click.echo("passkey-api: refusing to serve (see `passkey-api check-config`)", err=True)
        raise SystemExit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations before serving.")
@click.option(
    "--read-timeout",
    envvar="PASSKEY_READ_TIMEOUT",
    type=click.FloatRange(min=0.1, max=3600),
    help="Seconds a client has to send a whole request, headers and body, else 408  [default: 10]",
)
@click.option(
    "--max-connections",
    envvar="PASSKEY_MAX_CONNECTIONS",
    type=click.IntRange(min=1),
    help="Open connections per worker; one more is answered 503 and closed  [default: 1000]",
)
@click.option(
    "--max-client-connections",
    envvar="PASSKEY_MAX_CLIENT_CONNECTIONS",
    type=click.IntRange(min=1),
    help="Open connections per worker from one client (IPv4 address, IPv6 /64; trusted "
    "proxies exempt); one more is answered 503  [default: a tenth of --max-connections]",
)
@click.option(
    "--keep-alive-timeout",
    default=5,
    show_default=True,
    type=click.IntRange(min=1, max=3600),
    help="Seconds an idle connection is kept open between requests.",
)
def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str,
    no_migrate: bool,
    read_timeout: float | None,
    max_connections: int | None,
    max_client_connections: int | None,
    keep_alive_timeout: int,
) -> None:
    """Apply pending migrations, then serve HTTP."""
    # Workers are new processes that read settings from the environment: pass it on.
    os.environ["PASSKEY_LOG_LEVEL"] = log_level
    # serving.HttpProtocol reads these in each worker (slow clients, connections); its
    # defaults stand when neither the option nor the variable is given.
    if read_timeout is not None:
        os.environ["PASSKEY_READ_TIMEOUT"] = str(read_timeout)
    if max_connections is not None:
        os.environ["PASSKEY_MAX_CONNECTIONS"] = str(max_connections)
    if max_client_connections is not None:
        os.environ["PASSKEY_MAX_CLIENT_CONNECTIONS"] = str(max_client_connections)
    # The ASGI entry point, which each worker imports, warns of stray variables itself.
    settings = _settings(warn=False)
    if "PASSKEY_ORIGINS" not in os.environ and settings.rp_id == "localhost":
        # Zero-config local run: the page is served from this very port.
        os.environ["PASSKEY_ORIGINS"] = f"http://localhost:{port}"
        settings = _settings(warn=False)
    _refuse_unsafe_start(settings)
    if workers > 1 and not settings.redis_url:
        raise click.UsageError(
            "--workers > 1 needs PASSKEY_REDIS_URL: the in-process challenge store is per "
            "process, so a ceremony could end on another worker"
        )
    metric_files.share_between_workers(workers)  # /metrics then speaks for every worker
    migrated = "not checked (--no-migrate)" if no_migrate else _migrate(settings)
    import uvicorn

    from passkey_api.web import fast

    for line in _banner(settings, host, port, migrated):
        click.echo(f"passkey-api: {line}", err=True)
    # A filter on the logger, not on a handler: it stays when a worker's asgi.py replaces
    # the handlers, and it sees the supervisor's line with --workers too.
    logging.getLogger("uvicorn.error").addFilter(_PageAddress(settings.origins[0] + "/"))
    uvicorn.run(
        "passkey_api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # client IPs come from PASSKEY_TRUSTED_PROXIES, not uvicorn
        server_header=False,
        log_level=log_level,
        # uvicorn's httptools protocol with the read timeout and the connection caps above;
        # with the fast paths, each answer's head and body also written at once.
        http=fast.http_protocol() if settings.fast_paths else fast.PLAIN_PROTOCOL,
        timeout_keep_alive=keep_alive_timeout,
        # The app logs each request itself (observability.py), as JSON with its request id.
        access_log=False,
        log_config=None,
    )


@main.command()
def migrate() -> None:
    """Apply pending database migrations and exit."""
    migrations.upgrade(_settings().resolved_database_url)
    click.echo("passkey-api: database is at the newest migration")


@main.command("create-admin")
@click.argument("username")
def create_admin(username: str) -> None:
    """Give USERNAME (who signed up with a passkey) the admin role."""
    settings = _settings()
    migrations.upgrade(settings.resolved_database_url)
    raise SystemExit(asyncio.run(_create_admin(settings, username)))


@main.group()
def users() -> None:
    """Look at user accounts."""


@users.command("list")
@click.option("--query", "-q", default=None, help="Part of the username.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def users_list(query: str | None, limit: int) -> None:
    """List users with their roles, passkeys and sessions."""
    from passkey_api.users import repository

    async def work(db: AsyncSession) -> None:
        rows, total = await repository.page(
            db, query=query.casefold() if query else None, limit=limit, offset=0
        )
        click.echo(f"{'username':32} {'roles':20} {'passkeys':>8} {'sessions':>8}  created")
        for user, passkeys, sessions in rows:
            flag = " (disabled)" if user.disabled_at else ""
            click.echo(
                f"{user.username:32} {','.join(user.roles):20} {passkeys:8} {sessions:8}  "
                f"{user.created_at:%Y-%m-%d}{flag}"
            )
        click.echo(f"{len(rows)} of {total} users")

    _with_db(_settings(), work)


@main.group()
def sessions() -> None:
    """Look after sessions."""


@sessions.command("prune")
def sessions_prune() -> None:
    """Delete expired sessions and audit entries past PASSKEY_AUDIT_RETENTION."""
    from passkey_api.sessions import housekeeping

    settings = _settings()

    async def work(db: AsyncSession) -> housekeeping.Pruned:
        return await housekeeping.prune(
            db, now=datetime.now(UTC), audit_retention=settings.audit_retention
        )

    pruned = _with_db(settings, work)
    click.echo(
        f"passkey-api: pruned {pruned.sessions} expired sessions and "
        f"{pruned.audit_events} audit events"
        + (" (another replica holds the lock; nothing done)" if pruned.skipped else "")
    )


@main.group()
def passkeys() -> None:
    """Look after stored passkeys."""


@passkeys.command("audit")
def passkeys_audit() -> None:
    """List passkeys whose stored key fits none of the accepted key profiles (registered
    before they were enforced); sign-in refuses them. Non-zero exit when there are any."""
    from passkey_api.passkeys.service import UntrustedKey, untrusted_keys

    async def work(db: AsyncSession) -> list[UntrustedKey]:
        return [found async for found in untrusted_keys(db)]

    found = _with_db(_settings(), work)
    for key in found:
        click.echo(
            f"untrusted key: passkey {key.passkey_id} of {key.username!r} "
            f"(credential {key.credential_id[:16]}...): {key.reason}"
        )
    if found:
        click.echo(
            f"passkey-api: {len(found)} passkeys cannot sign in; their owners sign in "
            "another way (another passkey, recovery) and remove them",
            err=True,
        )
        raise SystemExit(1)
    click.echo("passkey-api: every stored passkey key fits an accepted profile")


@main.group()
def mds() -> None:
    """Authenticator metadata from the FIDO Metadata Service (PASSKEY_MDS)."""


@mds.command("refresh")
def mds_refresh() -> None:
    """Fetch the BLOB now (PASSKEY_MDS_URL, or PASSKEY_MDS_FILE), verify it and store it
    if its number is newer than the stored one's; every replica takes it up at its next
    hourly pass. Non-zero exit when nothing was stored."""
    from passkey_api.authenticators.service import Attempt, MetadataService

    settings = _settings()
    if not settings.mds:
        click.echo(
            "passkey-api: authenticator metadata is off; set PASSKEY_MDS=true (and "
            "PASSKEY_MDS_FILE for a file instead of the FIDO Alliance's URL)",
            err=True,
        )
        raise SystemExit(2)
    service = MetadataService(settings)

    async def work(db: AsyncSession) -> Attempt:
        await service.load_newest(db)
        return await service.refresh(db, datetime.now(UTC))

    attempt = _with_db(settings, work)
    held = service.catalogue
    if attempt.updated and held is not None:
        click.echo(
            f"passkey-api: {attempt.message} ({len(held)} entries, next update "
            f"{held.next_update.isoformat()}); replicas take it up within the hour"
        )
        return
    kept = f"BLOB no {held.number} stays in use" if held else "no metadata is stored yet"
    click.echo(f"passkey-api: not stored ({attempt.outcome}): {attempt.message}; {kept}", err=True)
    raise SystemExit(1)


@main.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file.")
def openapi(output: str | None) -> None:
    """Print the OpenAPI document (the committed openapi.json)."""
    text = openapi_json()
    if output:
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)


@main.command("check-config")
@click.option(
    "--production", is_flag=True, help="Judge as production even if PASSKEY_ENV is not set."
)
def check_config(production: bool) -> None:
    """Validate the settings and the origin registry; non-zero exit on any problem."""
    from passkey_api.config.check import problems, unknown_variables

    settings = _settings(warn=False)
    found = unknown_variables(os.environ)
    found += problems(settings, production=production or settings.env == "production")
    for problem in found:
        click.echo(f"problem: {problem}", err=True)
    if found:
        raise SystemExit(1)
    click.echo(
        f"passkey-api: configuration is fine (RP ID {settings.rp_id}; "
        f"{len(settings.allowed_origins)} allowed origins)"
    )
