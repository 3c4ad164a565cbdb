"""The `passkey-api` command: `serve` (migrating first) and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from passkey_api import migrations
from passkey_api.config import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"passkey-api: bad setting {where}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def openapi_json() -> str:
    """The committed openapi.json, exactly: tests compare the file with this."""
    from passkey_api.app import create_app

    return json.dumps(create_app(Settings(demo_page=False)).openapi(), indent=2) + "\n"


async def _create_admin(settings: Settings, username: str) -> int:
    from datetime import UTC, datetime

    from passkey_api.audit import service as audit
    from passkey_api.db import create_engine, create_sessionmaker
    from passkey_api.users import names
    from passkey_api.users import repository as users

    engine = create_engine(settings.resolved_database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as db:
            user = await users.get_by_username_key(db, names.normalize(username)[1])
            if user is None:
                print(f"passkey-api: no user {username!r}; sign up first", file=sys.stderr)
                return 1
            if "admin" not in user.roles:
                old = sorted(user.roles)
                user.roles = sorted({*user.roles, "admin"})
                db.add(user)
                await audit.record(
                    db,
                    "roles_changed",
                    user_id=user.id,
                    client=None,
                    now=datetime.now(UTC),
                    old=old,
                    new=user.roles,
                    via="cli",
                )
                await db.commit()
            print(f"passkey-api: {user.username} is an admin")
            return 0
    finally:
        await engine.dispose()


def _migrate(settings: Settings) -> None:
    migrations.upgrade(settings.resolved_database_url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="passkey-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="apply pending migrations, then serve HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--no-migrate", action="store_true", help="do not apply migrations before serving"
    )
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    admin = commands.add_parser(
        "create-admin", help="give an existing user (signed up with a passkey) the admin role"
    )
    admin.add_argument("username")
    spec = commands.add_parser("openapi", help="print the OpenAPI document (openapi.json)")
    spec.add_argument("--output", "-o", help="write to this file instead of stdout")
    args = parser.parse_args(argv)

    if args.command == "openapi":
        text = openapi_json()
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
        return

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = _settings()
    if args.command == "create-admin":
        _migrate(settings)
        raise SystemExit(asyncio.run(_create_admin(settings, args.username)))
    if args.command == "migrate":
        _migrate(settings)
        print("passkey-api: database is at the newest migration")
        return

    if "PASSKEY_ORIGINS" not in os.environ and settings.rp_id == "localhost":
        # Zero-config local run: the page is served from this very port.
        os.environ["PASSKEY_ORIGINS"] = f"http://localhost:{args.port}"
        settings = _settings()
    if args.workers > 1 and not settings.redis_url:
        print(
            "passkey-api: --workers > 1 needs PASSKEY_REDIS_URL: the in-process challenge "
            "store is per process, so a ceremony could end on another worker",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if not args.no_migrate:
        _migrate(settings)
    import uvicorn

    print(
        f"passkey-api: serving http://{args.host}:{args.port} "
        f"(RP ID {settings.rp_id}, origins {', '.join(settings.origins)}, "
        f"{'Redis' if settings.redis_url else 'in-process'} challenge store)",
        file=sys.stderr,
    )
    uvicorn.run(
        "passkey_api.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,
        server_header=False,
        log_level=args.log_level,
    )
