"""No username oracle in the time a failed recovery takes: an attempt naming no usable
account (unknown, disabled, impossible; a link naming none) counts against a stand-in
row (recovery/attempts.py), so it writes one row and commits it exactly as an attempt on
a real account writes the account's row. Before, its UPDATE matched no row and its commit
wrote nothing, and it answered about half a millisecond sooner.

What the tests compare is the work itself, as the database sees it: every write
statement's verb and row count, and every commit, in order."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from passkey_api.recovery import attempts
from passkey_api.storage.models import RecoveryStandIn
from passkey_api.users import names
from tests.api.conftest import Api, ApiFactory, new_username, problem_code
from tests.api.test_recovery_codes import recover
from tests.api.test_recovery_email import _mail_api, ask_for_link, link_in_mail, user_with_address
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator

WRONG = "AAAA-AAAA-AAAA"  # a code of the old form: no slow hash, the same statements


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@contextlib.contextmanager
def writes(api: Api) -> Iterator[list[tuple[str, int]]]:
    """What the app's database connections write meanwhile: (verb, rows) per INSERT or
    UPDATE, and ("COMMIT", 0) per commit of a transaction that ran one. DELETEs are left
    out: a failed recovery deletes nothing, and the app's housekeeping (which runs at its
    start, maybe meanwhile) deletes only."""
    seen: list[tuple[str, int]] = []
    writing: set[Any] = set()
    engine = api.resources.engine.sync_engine

    def executed(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE"):
            seen.append((verb, cursor.rowcount))
            writing.add(conn)

    def committed(conn: Any) -> None:
        if conn in writing:
            seen.append(("COMMIT", 0))
        writing.discard(conn)

    def rolled_back(conn: Any) -> None:
        writing.discard(conn)

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("after_cursor_execute", executed),
        ("commit", committed),
        ("rollback", rolled_back),
    ]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)


async def stand_ins(api: Api) -> dict[uuid.UUID, tuple[int, datetime | None]]:
    async with api.resources.engine.connect() as connection:
        rows = await connection.run_sync(
            lambda sync: sync.execute(
                RecoveryStandIn.__table__.select()  # type: ignore[attr-defined]
            ).all()
        )
    return {row.id: (row.recovery_failures, row.recovery_failures_since) for row in rows}


async def failed(api: Api, username: str) -> list[tuple[str, int]]:
    """The writes of one failed code attempt for `username`."""
    with writes(api) as seen:
        assert problem_code(await recover(api.client, username, WRONG)) == "recovery_failed"
    return seen


async def test_the_migration_makes_the_stand_ins(api: Api) -> None:
    rows = await stand_ins(api)
    assert sorted(rows) == sorted(uuid.UUID(int=n) for n in range(attempts.STAND_INS))


@pytest.mark.parametrize("who", ["unknown", "disabled", "impossible"])
async def test_a_name_without_a_usable_account_writes_as_a_known_one_does(
    api: Api, who: str
) -> None:
    known = new_username()
    assert (await api.sign_up(SoftAuthenticator(), known)).status_code == 201
    name = "nobody-" + known
    if who == "disabled":
        assert (await api.sign_up(SoftAuthenticator(), name)).status_code == 201
        now = datetime.now(UTC)
        await api.execute("UPDATE users SET disabled_at = :t WHERE username = :n", t=now, n=name)
    elif who == "impossible":
        name = "\u200b" * 3  # invisible characters only: no account can have it
    api.client.cookies.clear()

    before = await stand_ins(api)
    expected = await failed(api, known)
    assert ("UPDATE", 1) in expected  # the account's row counts the attempt
    assert await stand_ins(api) == before  # and no stand-in does
    assert await failed(api, name) == expected
    after = await stand_ins(api)
    changed = [key for key in after if after[key] != before[key]]
    assert len(changed) == 1
    run = api.settings.recovery_max_failures - 1  # a stand-in's run ends before the ceiling
    assert after[changed[0]][0] == before[changed[0]][0] % run + 1
    if who == "disabled":  # the account's own row does not count it
        failures = "SELECT recovery_failures FROM users WHERE username = :n"
        assert await api.scalar(failures, n=name) == 0


async def test_a_stand_in_never_pauses(make_api: ApiFactory) -> None:
    """However many attempts name an unknown name, every one writes its stand-in (a real
    account's attempts stop writing only once it is paused, after its own ceiling)."""
    api = await make_api(recovery_max_failures=3)
    name = "nobody-" + new_username()
    mine = attempts.stand_in(names.normalize(name)[1], api.resources.secret_key).id
    counts = []
    for _ in range(7):
        assert ("UPDATE", 1) in await failed(api, name)
        counts.append((await stand_ins(api))[mine][0])
    # The same row every time (attempts on one name queue on one row, as on one account),
    # its run starting over before the ceiling.
    assert set(counts) == {1, 2}
    assert all(b == a % 2 + 1 for a, b in itertools.pairwise(counts))


async def test_a_failed_link_naming_no_account_writes_as_a_stale_one_does(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await _mail_api(make_api, smtp)
    _, address, _ = await user_with_address(api, smtp)
    before = len(await smtp.wait_for(address, 1))
    assert (await ask_for_link(api.client, address)).status_code == 202
    _, token = await link_in_mail(smtp, address, before + 1)
    # The account is disabled before its link is followed: the link names it, and fails.
    await api.execute("UPDATE users SET disabled_at = :t", t=datetime.now(UTC))
    with writes(api) as stale:
        answer = await api.post("/v1/recovery/email/verify", {"token": token})
        assert problem_code(answer) == "recovery_link_invalid"
    assert ("UPDATE", 1) in stale
    saved = await stand_ins(api)
    with writes(api) as unknown:
        answer = await api.post("/v1/recovery/email/verify", {"token": "x" * 43})
        assert problem_code(answer) == "recovery_link_invalid"
    assert unknown == stale
    assert await stand_ins(api) != saved
