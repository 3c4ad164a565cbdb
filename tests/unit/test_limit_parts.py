"""The parts of the rate limits that need no I/O: who a client is as the limits count it,
and the in-process tables under a flood (they refuse newcomers, never forget live ones)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from passkey_api.errors import ChallengeStoreFull
from passkey_api.kit.client_info import ClientAddresses, limit_key
from passkey_api.storage.challenges import MemoryChallengeStore
from passkey_api.storage.ratelimit import Limit, MemoryCounter, RateLimiter

PROXY = "10.0.0.1"


@pytest.mark.parametrize(
    ("entry", "client"),
    [
        ("198.51.100.4", "198.51.100.4"),
        ("198.51.100.4:4711", "198.51.100.4"),
        ("2001:db8::5", "2001:db8::5"),
        ("[2001:db8::5]", "2001:db8::5"),
        ("[2001:db8::5]:8443", "2001:db8::5"),
        ("[2001:DB8:0::5]:1", "2001:db8::5"),
        # Anything else is garbage, and garbage means: believe only the peer.
        ("[2001:db8::5", PROXY),
        ("2001:db8::5]:80", PROXY),
        ("198.51.100.4:", PROXY),
        ("198.51.100.4:http", PROXY),
        ("[198.51.100.4]:80", PROXY),
        ("[::1]x", PROXY),
        ("unknown", PROXY),
    ],
)
def test_forwarded_for_entries_with_ports_or_brackets(entry: str, client: str) -> None:
    addresses = ClientAddresses(["10.0.0.0/8"])
    assert addresses.resolve(PROXY, [entry]) == client
    # Behind a second trusted hop, written with a port too, the same client.
    assert addresses.resolve(PROXY, [f"{entry}, 10.0.0.2:80"]) == client


def test_limits_count_ipv6_clients_per_64_and_ipv4_per_address() -> None:
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb:cccc:dddd:eeee")
    assert limit_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("198.51.100.4") == "198.51.100.4"
    assert limit_key("198.51.100.5") != limit_key("198.51.100.4")
    # An IPv4 client seen through a dual-stack socket is that IPv4 client.
    assert limit_key("::ffff:198.51.100.4") == "198.51.100.4"
    assert limit_key("not-an-address") == "not-an-address"
    assert limit_key(None) == "unknown"


def test_a_full_counter_table_keeps_its_live_counters() -> None:
    counter = MemoryCounter(max_keys=3)
    later = time.time() + 60
    for _ in range(5):
        counter.hit("victim", later)
    counter.hit("a", later)
    counter.hit("b", later)
    # A newcomer finds the table full of live windows: it is not counted (over any limit)...
    assert counter.hit("flood", later) is None
    # ...and the counter a flood would want gone goes on counting.
    assert counter.hit("victim", later) == 6
    # Once windows end, their room is free again.
    expired = MemoryCounter(max_keys=2)
    expired.hit("gone", time.time() - 1)
    expired.hit("live", later)
    assert expired.hit("new", later) == 1
    assert expired.hit("live", later) == 2


async def test_a_full_counter_table_limits_newcomers_not_its_members() -> None:
    limiter = RateLimiter(None, max_keys=2)
    limit = Limit(count=3, seconds=60)
    assert await limiter.hit("victim", limit) is None
    assert await limiter.hit("other", limit) is None
    retry_after = await limiter.hit("flood", limit)
    assert retry_after is not None
    assert 1 <= retry_after <= 60
    assert [await limiter.hit("victim", limit) for _ in range(3)][-1] is not None


async def test_a_full_challenge_store_refuses_new_ceremonies_and_keeps_live_ones() -> None:
    store = MemoryChallengeStore(max_entries=3)
    ttl = timedelta(minutes=5)
    for n in range(3):
        await store.put(bytes([n]) * 16, {"n": n}, ttl)
    with pytest.raises(ChallengeStoreFull) as refused:
        await store.put(b"flood" * 4, {"n": 99}, ttl)
    assert refused.value.status == 503
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 300  # type: ignore[index]
    # Every ceremony in progress can still finish.
    assert [await store.take(bytes([n]) * 16) for n in range(3)] == [{"n": n} for n in range(3)]
    # Taken, they make room.
    await store.put(b"next" * 4, {"n": 3}, ttl)
    assert await store.take(b"next" * 4) == {"n": 3}


async def test_expired_challenges_make_room_wherever_they_are() -> None:
    store = MemoryChallengeStore(max_entries=2)
    await store.put(b"long" * 4, {"n": 1}, timedelta(minutes=5))
    await store.put(b"short" * 4, {"n": 2}, timedelta(microseconds=1))
    await asyncio.sleep(0.001)
    await store.put(b"new" * 4, {"n": 3}, timedelta(minutes=5))
    assert await store.take(b"long" * 4) == {"n": 1}
    assert await store.take(b"new" * 4) == {"n": 3}


class Clock:
    """time.monotonic as the challenge store reads it, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_a_full_challenge_store_under_a_flood_is_not_scanned_on_each_put(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr("passkey_api.storage.challenges.time", clock)
    size, ttl = 50_000, timedelta(seconds=300)
    store = MemoryChallengeStore(max_entries=size)
    for n in range(size):  # one ceremony begun every 6 ms: they end one by one
        clock.now += 0.006
        await store.put(n.to_bytes(16, "big"), {}, ttl)
    # A steady flood: each time the earliest entry ends, one new one gets in, the rest are
    # refused. Before, each ending cost a scan of every entry (a stale earliest expiry).
    started = time.perf_counter()
    admitted, waits = 0, set()
    for n in range(500):
        clock.now += 0.006
        for flood in range(4):
            try:
                await store.put(f"flood-{n}-{flood}".encode(), {}, ttl)
                admitted += 1
            except ChallengeStoreFull as refused:
                waits.add((refused.headers or {}).get("Retry-After"))
    elapsed = time.perf_counter() - started
    assert (admitted, waits) == (500, {"1"})
    assert elapsed < 0.25, f"{elapsed:.3f} s for 2,000 puts into a full store"


async def test_lifetimes_mixed_in_one_store(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("passkey_api.storage.challenges.time", clock)
    store = MemoryChallengeStore(max_entries=3)
    await store.put(b"flow", {"n": 1}, timedelta(minutes=10))
    await store.put(b"ceremony", {"n": 2}, timedelta(minutes=5))
    await store.put(b"code", {"n": 3}, timedelta(minutes=1))
    with pytest.raises(ChallengeStoreFull) as refused:
        await store.put(b"more", {}, timedelta(minutes=5))
    assert refused.value.headers == {"Retry-After": "60"}  # when the earliest one ends
    clock.now += 61  # the last one put ends first, and makes room
    await store.put(b"more", {"n": 4}, timedelta(minutes=5))
    with pytest.raises(ChallengeStoreFull) as refused:
        await store.put(b"again", {}, timedelta(minutes=5))
    assert refused.value.headers == {"Retry-After": "239"}  # the ceremony ends
    # Put again, an entry lives from then on.
    await store.put(b"ceremony", {"n": 5}, timedelta(minutes=10))
    clock.now += 240
    assert await store.take(b"ceremony") == {"n": 5}
    assert await store.take(b"more") == {"n": 4}
    assert await store.take(b"code") is None
    assert await store.take(b"flow") == {"n": 1}
