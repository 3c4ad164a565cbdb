"""Authenticator metadata (FIDO MDS3) on both backends: a BLOB signed under the test's
own root (tests/mds_forge.py) fed in through a file and through a local HTTP server,
stored, held by every replica, refused when it should be, and what a failed refresh
leaves (the version held; the log, /readyz and the metrics say so). No internet."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from passkey_api import app as app_module
from passkey_api.app import metadata_housekeeping
from passkey_api.authenticators import blob, repository, sources
from passkey_api.authenticators.service import Attempt
from passkey_api.cli import main
from passkey_api.sessions import housekeeping as sessions_housekeeping
from tests import mds_forge as forge
from tests.api.conftest import Api, ApiFactory
from tests.conftest import Backend
from tests.oauth_servers import serving

# The tests make each metadata pass themselves, on a database with none stored.
pytestmark = pytest.mark.usefixtures("metadata_by_hand", "no_stored_metadata")

AAGUID = uuid.UUID("cb69481e-8ff7-4039-93ec-0a2729a154a8")


@pytest.fixture
def fast_paths() -> bool:
    """Nothing here depends on the fast paths: one way is enough."""
    return True


@dataclass
class Source:
    """A BLOB source under a root of the test's own: a file, and an HTTP server that
    answers with the same bytes (or a status of the test's choosing)."""

    folder: Path
    pki: forge.MdsPki = field(default_factory=forge.MdsPki.build)
    alg: forge.Alg = "ES256"
    status: int = 200
    drip: bool = False  # a byte every 0.1 s, for a minute
    fetches: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self.root_file.write_bytes(self.pki.root.pem)

    @property
    def file(self) -> Path:
        return self.folder / "blob.jwt"

    @property
    def root_file(self) -> Path:
        return self.folder / "mds-root.pem"

    def publish(
        self, no: int, *, next_update: date | None = None, description: str = "Test Key 5"
    ) -> bytes:
        entries = [
            forge.entry(aaguid=AAGUID, description=description),
            forge.entry(key_identifiers=[b"\x01" * 20], description="Old U2F Key"),
        ]
        token = forge.sign_blob(
            forge.payload(no, entries, next_update=next_update), self.pki, self.alg
        )
        self.file.write_bytes(token)
        return token

    def settings(self, *, by_url: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {
            "mds": True,
            "mds_root": self.root_file,
            "mds_signer": forge.SIGNER,
        }
        if by_url:
            values["mds_url"] = self.url + "/?token=secret-token"
        else:
            values["mds_file"] = self.file
        return values

    async def answer(self, request: Request) -> Response:
        self.fetches += 1
        if self.status != 200:
            return Response("unavailable", status_code=self.status)
        if self.drip:

            async def drip() -> AsyncIterator[bytes]:
                for _ in range(600):
                    yield b"a"
                    await asyncio.sleep(0.1)

            return StreamingResponse(drip(), media_type="application/jwt")
        return Response(self.file.read_bytes(), media_type="application/jwt")


@pytest.fixture(params=["ES256", "RS256"])
def source(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Source]:
    found = Source(tmp_path, forge.MdsPki.build(request.param), request.param)
    app = Starlette(routes=[Route("/", found.answer)])
    with serving(app) as url:
        found.url = url
        yield found


async def housekeeping(api: Api) -> dict[str, Any]:
    """The hourly pass, now; then what /readyz says of the metadata."""
    await metadata_housekeeping(api.resources)
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200, ready.text  # metadata never makes a replica unready
    details: dict[str, Any] = ready.json()["details"]["authenticator_metadata"]
    return details


async def refresh(api: Api) -> Attempt:
    """`passkey-api mds refresh`'s work, in the app's process."""
    async with api.resources.sessionmaker() as db:
        return await api.resources.metadata.refresh(db, datetime.now(UTC))


async def metric(api: Api, line_start: str) -> float:
    text = (await api.client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_off_by_default_nothing_is_read_or_shown(api: Api) -> None:
    assert not api.settings.mds
    ready = (await api.client.get("/readyz")).json()
    assert "details" not in ready
    assert api.resources.metadata.by_aaguid(AAGUID) is None


@pytest.mark.parametrize("by_url", [False, True], ids=["file", "url"])
async def test_a_good_blob_is_stored_and_its_models_found(
    make_api: ApiFactory, source: Source, by_url: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    source.publish(3)
    api = await make_api(**source.settings(by_url=by_url))
    assert api.resources.metadata.catalogue is None  # nothing stored yet
    details = await housekeeping(api)  # none held: a refresh is due
    assert details["state"] == "ok"
    assert details["no"] == 3
    assert len(api.resources.metadata.catalogue or ()) == 2
    assert details["last_refresh"]["outcome"] == "updated"
    assert source.fetches == (1 if by_url else 0)

    model = api.resources.metadata.by_aaguid(AAGUID)
    assert model is not None
    assert model.description == "Test Key 5"
    assert model.status == "FIDO_CERTIFIED_L1"
    u2f = api.resources.metadata.by_key_identifier(b"\x01" * 20)
    assert u2f is not None
    assert u2f.description == "Old U2F Key"
    assert await api.scalar("SELECT max(no) FROM authenticator_metadata") == 3
    if by_url:  # the stored source and the log name the URL without its query
        assert await api.scalar("SELECT source FROM authenticator_metadata") == source.url + "/"
    assert "secret-token" not in caplog.text
    assert await metric(api, "passkey_mds_blob_number") == 3
    assert await metric(api, "passkey_mds_stale") == 0

    # Not due again before its nextUpdate: the next pass fetches nothing.
    await housekeeping(api)
    assert source.fetches == (1 if by_url else 0)


async def test_the_first_pass_comes_at_start_up(
    make_api: ApiFactory, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "metadata_housekeeping", metadata_housekeeping)
    source.publish(2)
    api = await make_api(**source.settings(by_url=True))
    for _ in range(500):  # the task's first pass, within 10 s
        if api.resources.metadata.catalogue is not None:
            break
        await asyncio.sleep(0.02)
    assert api.resources.metadata.catalogue is not None
    assert api.resources.metadata.catalogue.number == 2
    assert source.fetches == 1


async def test_a_bad_signature_stores_nothing(
    make_api: ApiFactory, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    good = source.publish(3)
    head, payload, _ = good.split(b".")
    forged = forge.sign_jwt(b"", forge.new_key(source.alg), [], source.alg).split(b".")[2]
    source.file.write_bytes(b".".join([head, payload, forged]))
    api = await make_api(**source.settings())
    before = await metric(api, 'passkey_mds_refresh_total{outcome="bad_signature"}')
    details = await housekeeping(api)
    assert details["state"] == "none"
    assert details["last_refresh"]["outcome"] == "bad_signature"
    assert await api.scalar("SELECT count(*) FROM authenticator_metadata") == 0
    after = await metric(api, 'passkey_mds_refresh_total{outcome="bad_signature"}')
    assert after == before + 1
    assert await metric(api, "passkey_mds_stale") == 1  # none could be had
    assert "authenticator metadata refresh failed (bad_signature)" in caplog.text


async def test_a_chain_to_another_root_stores_nothing(
    make_api: ApiFactory, source: Source, tmp_path: Path
) -> None:
    source.publish(3)
    other = tmp_path / "other-root.pem"
    other.write_bytes(forge.MdsPki.build().root.pem)
    api = await make_api(**(source.settings() | {"mds_root": other}))
    details = await housekeeping(api)
    assert details["last_refresh"]["outcome"] == "untrusted"
    assert api.resources.metadata.last_attempt is not None
    assert "to the configured root" in api.resources.metadata.last_attempt.message
    assert await api.scalar("SELECT count(*) FROM authenticator_metadata") == 0


async def test_an_older_or_equal_number_is_refused(make_api: ApiFactory, source: Source) -> None:
    source.publish(5)
    api = await make_api(**source.settings())
    await housekeeping(api)
    for no in (5, 4):
        source.publish(no, description="Changed")
        attempt = await refresh(api)
        assert attempt.outcome == "not_newer"
        assert f"no {no} is not newer than no 5" in attempt.message
    model = api.resources.metadata.by_aaguid(AAGUID)
    assert model is not None
    assert model.description == "Test Key 5"  # still the stored version's
    assert await api.scalar("SELECT count(*) FROM authenticator_metadata") == 1


async def test_a_stale_blob_is_used_reported_and_refreshed(
    make_api: ApiFactory, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    yesterday = date.today() - timedelta(days=1)
    source.publish(8, next_update=yesterday)
    api = await make_api(**source.settings(by_url=True))
    details = await housekeeping(api)
    assert (details["state"], details["no"]) == ("stale", 8)
    assert details["next_update"] == yesterday.isoformat()
    assert api.resources.metadata.by_aaguid(AAGUID) is not None  # still used
    assert await metric(api, "passkey_mds_stale") == 1
    assert "BLOB no 8 is past its nextUpdate" in caplog.text
    # Past its nextUpdate a refresh is due at every pass; the service has no newer one yet.
    await housekeeping(api)
    assert source.fetches == 2
    assert api.resources.metadata.last_attempt is not None
    assert api.resources.metadata.last_attempt.outcome == "not_newer"
    # Then it has.
    source.publish(9)
    details = await housekeeping(api)
    assert (details["state"], details["no"]) == ("ok", 9)
    assert await metric(api, "passkey_mds_stale") == 0
    assert await api.scalar("SELECT count(*) FROM authenticator_metadata") == 2


async def test_a_failed_refresh_keeps_the_last_good_version(
    make_api: ApiFactory, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    source.publish(4, next_update=date.today())  # due again at once
    api = await make_api(**source.settings(by_url=True))
    assert (await housekeeping(api))["no"] == 4
    failures = [
        (503, b"", "unreachable"),
        (200, b"not a jwt", "unparsable"),
        (200, forge.sign_blob(forge.payload(5), forge.MdsPki.build(), "ES256"), "untrusted"),
    ]
    for status, body, outcome in failures:
        source.status = status
        if body:
            source.file.write_bytes(body)
        before = await metric(api, f'passkey_mds_refresh_total{{outcome="{outcome}"}}')
        details = await housekeeping(api)
        assert details["no"] == 4, outcome
        assert details["last_refresh"]["outcome"] == outcome
        assert await metric(api, f'passkey_mds_refresh_total{{outcome="{outcome}"}}') == before + 1
        assert f"refresh failed ({outcome})" in caplog.text
        assert "keeping BLOB no 4" in caplog.text
        assert api.resources.metadata.by_aaguid(AAGUID) is not None
    assert await metric(api, "passkey_mds_blob_number") == 4


async def test_replicas_use_the_version_one_of_them_stored(
    make_api: ApiFactory, source: Source
) -> None:
    source.publish(10)
    first = await make_api(**source.settings())
    second = await make_api(**source.settings(by_url=True))
    source.status = 503  # the second cannot reach the service: the first's is enough
    assert (await housekeeping(first))["no"] == 10
    assert second.resources.metadata.catalogue is None  # until its own pass
    details = await housekeeping(second)
    assert details["no"] == 10
    assert "last_refresh" not in details  # not due: it only read the stored version
    assert source.fetches == 0
    model = second.resources.metadata.by_aaguid(AAGUID)
    assert model is not None
    # A newer one stored by one replica reaches the other at its next pass.
    source.publish(11, description="Test Key 5 (firmware 2)")
    assert (await refresh(first)).updated
    assert (await housekeeping(second))["no"] == 11
    model = second.resources.metadata.by_aaguid(AAGUID)
    assert model is not None
    assert model.description == "Test Key 5 (firmware 2)"
    # A replica started now holds it before its first request.
    third = await make_api(**source.settings())
    assert third.resources.metadata.catalogue is not None
    assert third.resources.metadata.catalogue.number == 11


async def test_two_replicas_storing_at_once_store_one_version(
    make_api: ApiFactory, source: Source
) -> None:
    source.publish(20)
    first = await make_api(**source.settings())
    second = await make_api(**source.settings())
    attempts = await asyncio.gather(refresh(first), refresh(second))
    assert {a.outcome for a in attempts} <= {"updated", "not_newer"}
    assert sum(attempt.updated for attempt in attempts) == 1
    assert await first.scalar("SELECT count(*) FROM authenticator_metadata") == 1
    for api in (first, second):
        assert api.resources.metadata.catalogue is not None
        assert api.resources.metadata.catalogue.number == 20


async def test_the_cli_refreshes(
    backend: Backend, source: Source, make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "PASSKEY_DATABASE_URL": backend.database_url,
        "PASSKEY_MDS": "true",
        "PASSKEY_MDS_FILE": str(source.file),
        "PASSKEY_MDS_ROOT": str(source.root_file),
        "PASSKEY_MDS_SIGNER": forge.SIGNER,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PASSKEY_REDIS_URL", raising=False)
    source.publish(30)
    stored = await asyncio.to_thread(CliRunner().invoke, main, ["mds", "refresh"])
    assert stored.exit_code == 0, stored.output
    assert "stored and using BLOB no 30 (2 entries" in stored.output
    again = await asyncio.to_thread(CliRunner().invoke, main, ["mds", "refresh"])
    assert again.exit_code == 1
    assert "not stored (not_newer)" in again.output
    assert "BLOB no 30 stays in use" in again.output
    # A running replica takes it up at its next pass.
    api = await make_api(**source.settings())
    assert (await housekeeping(api))["no"] == 30

    monkeypatch.setenv("PASSKEY_MDS", "false")
    off = await asyncio.to_thread(CliRunner().invoke, main, ["mds", "refresh"])
    assert off.exit_code == 2
    assert "PASSKEY_MDS=true" in off.output


async def test_readyz_shows_no_failure_details(
    make_api: ApiFactory, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    """/readyz is public: it says how the last refresh ended, never why (the reason
    names files, certificates, the URL's path, OS errors: the log has it)."""
    source.status = 503
    api = await make_api(**source.settings(by_url=True))
    details = await housekeeping(api)
    assert details == {"state": "none", "stale": True, "last_refresh": {"outcome": "unreachable"}}
    assert "answered HTTP 503" in caplog.text
    source.status = 200
    source.publish(3)
    details = await housekeeping(api)
    assert set(details) == {"state", "stale", "no", "next_update", "last_refresh"}
    assert details["last_refresh"] == {"outcome": "updated"}


async def test_a_refresh_comes_daily_before_the_next_update(
    make_api: ApiFactory, source: Source
) -> None:
    """nextUpdate is the latest date of the next BLOB: FIDO may publish earlier (a
    REVOKED status cannot wait a month), so a replica asks at least daily."""
    source.publish(5, next_update=date.today() + timedelta(days=30))
    api = await make_api(**source.settings(by_url=True))
    now = datetime.now(UTC)
    async with api.resources.sessionmaker() as db:
        await api.resources.metadata.housekeep(db, now)
        assert source.fetches == 1
        source.publish(6)
        await api.resources.metadata.housekeep(db, now + timedelta(hours=2))
        assert source.fetches == 1  # not hourly
        await api.resources.metadata.housekeep(db, now + timedelta(days=1, minutes=1))
    assert source.fetches == 2
    assert api.resources.metadata.catalogue is not None
    assert api.resources.metadata.catalogue.number == 6


async def test_a_first_blob_long_past_its_next_update_is_refused(
    make_api: ApiFactory, source: Source
) -> None:
    """With none held, a BLOB 90 days past its nextUpdate is a replay of an old one (or
    a mirror long stuck): refused, where one held is kept however old."""
    source.publish(7, next_update=date.today() - timedelta(days=90))
    api = await make_api(**source.settings())
    attempt = await refresh(api)
    assert attempt.outcome == "outdated"
    assert api.resources.metadata.catalogue is None
    assert await api.scalar("SELECT count(*) FROM authenticator_metadata") == 0


async def test_no_transaction_is_open_while_fetching(
    make_api: ApiFactory, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.publish(3)
    api = await make_api(**source.settings())
    async with api.resources.sessionmaker() as db:
        seen: list[bool] = []
        real_fetch = sources.fetch

        async def fetch(settings: Any) -> bytes:
            seen.append(db.in_transaction())
            return await real_fetch(settings)

        monkeypatch.setattr(sources, "fetch", fetch)
        attempt = await api.resources.metadata.housekeep(db, datetime.now(UTC))
    assert attempt is not None
    assert attempt.updated
    assert seen == [False]


async def test_a_dripping_source_is_given_up_at_the_deadline(
    make_api: ApiFactory, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "DEADLINE", 1.0)
    source.drip = True
    api = await make_api(**source.settings(by_url=True))
    started = time.monotonic()
    details = await housekeeping(api)
    assert details["last_refresh"]["outcome"] == "unreachable"
    assert time.monotonic() - started < 5


async def test_metadata_housekeeping_cannot_stall_pruning(
    make_api: ApiFactory, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that hangs (whatever its cause) holds up neither the pruning of expired
    sessions and old audit events, nor the next pass of either."""
    pruned = 0
    real_prune = sessions_housekeeping.prune

    async def prune(*args: Any, **kwargs: Any) -> Any:
        nonlocal pruned
        pruned += 1
        return await real_prune(*args, **kwargs)

    async def hangs(resources: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(sessions_housekeeping, "prune", prune)
    monkeypatch.setattr(app_module, "metadata_housekeeping", hangs)
    monkeypatch.setattr(app_module, "PURGE_INTERVAL", timedelta(seconds=0.05))
    source.publish(3)
    await make_api(**source.settings())
    for _ in range(200):
        if pruned >= 3:
            break
        await asyncio.sleep(0.02)
    assert pruned >= 3


async def test_a_database_error_after_a_lost_race_is_still_recorded(
    make_api: ApiFactory, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica stored the same no (IntegrityError), then the database went away
    while the newest was read: the attempt is recorded, nothing escapes."""
    source.publish(3)
    api = await make_api(**source.settings())
    service = api.resources.metadata

    async def stored_meanwhile(db: Any, version: Any) -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    calls = 0
    real_load = service._load_newest

    async def load_newest(db: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OperationalError("SELECT", {}, Exception("connection lost"))
        return await real_load(db)

    monkeypatch.setattr(repository, "add", stored_meanwhile)
    monkeypatch.setattr(service, "_load_newest", load_newest)
    attempt = await refresh(api)
    assert attempt.outcome == "not_newer"
    assert service.last_attempt == attempt


async def test_an_unexpected_error_is_recorded_and_raised_not_blamed_on_the_database(
    make_api: ApiFactory, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.publish(3)
    api = await make_api(**source.settings())

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(blob, "verify", broken)
    with pytest.raises(RuntimeError):
        await refresh(api)
    attempt = api.resources.metadata.last_attempt
    assert attempt is not None
    assert attempt.outcome == "failed"
    assert "could not store" not in attempt.message
    assert "RuntimeError" in attempt.message
