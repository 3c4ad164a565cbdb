"""Making codes cannot jam the slow hashes everyone's recovery needs: new sets are limited
per account, and the pool's queue of slow hashes is bounded (a full one answers 503
`recovery_busy` before anything is counted or written)."""

from __future__ import annotations

import asyncio

from passkey_api.recovery import codes
from tests.api.conftest import ApiFactory, new_username, problem_code
from tests.api.test_recovery_codes import device, fresh_ip, recover
from tests.softauthn import SoftAuthenticator


async def test_an_account_makes_a_bounded_number_of_code_sets(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, rate_limit_recovery_codes="2/hour")
    authenticator = SoftAuthenticator()
    async with device(api, fresh_ip()) as client:
        options = await client.post("/v1/registration/options", json={"username": new_username()})
        made = authenticator.create(options.json(), origin="http://localhost:8000")
        assert (await client.post("/v1/registration/verify", json=made)).status_code == 201
        answers = [await client.post("/v1/me/recovery-codes") for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert problem_code(answers[-1]) == "rate_limited"
        assert int(answers[-1].headers["Retry-After"]) > 0


async def test_a_full_hash_queue_answers_503_and_counts_nothing(make_api: ApiFactory) -> None:
    api = await make_api(recovery_hash_queue=codes.COUNT)  # one new set fills it
    authenticator, username = SoftAuthenticator(), new_username()
    assert (await api.sign_up(authenticator, username)).status_code == 201
    first = (await api.client.post("/v1/me/recovery-codes")).json()["codes"]
    # Two new sets at once: one gets the queue, the other waits for nothing.
    both = await asyncio.gather(
        api.client.post("/v1/me/recovery-codes"), api.client.post("/v1/me/recovery-codes")
    )
    assert sorted(a.status_code for a in both) == [201, 503]
    busy = next(a for a in both if a.status_code == 503)
    assert problem_code(busy) == "recovery_busy"
    assert int(busy.headers["Retry-After"]) > 0
    current = next(a for a in both if a.status_code == 201).json()["codes"]
    # While a set is being hashed, a code attempt is refused before it is counted.
    making = asyncio.ensure_future(api.client.post("/v1/me/recovery-codes"))
    for _ in range(5000):  # until its hashes hold the queue
        if codes.queued():
            break
        await asyncio.sleep(0.001)
    assert codes.queued() == codes.COUNT
    async with device(api, fresh_ip()) as lost:
        refused = await recover(lost, username, current[0])
        assert (refused.status_code, problem_code(refused)) == (503, "recovery_busy")
        assert await api.scalar("SELECT recovery_failures FROM users") == 0
        assert (await making).status_code == 201
        assert codes.queued() == 0
        # The old sets are void; the newest works.
        newest = (await making).json()["codes"]
        assert problem_code(await recover(lost, username, first[0])) == "recovery_failed"
        assert (await recover(lost, username, newest[0])).status_code == 200
