"""ceremonies/decoys.py without a database: how many decoys names list, and that each is
recognised by the seed that made it and no other."""

from __future__ import annotations

import secrets
from collections import Counter

from passkey_api.ceremonies import decoys


def test_names_list_mostly_one_decoy_sometimes_two_rarely_three() -> None:
    seed = secrets.token_bytes(32)
    lists = [decoys.descriptors(seed, f"name-{n}") for n in range(4000)]
    counts = Counter(len(listed) for listed in lists)
    assert set(counts) == {1, 2, 3}
    assert 0.70 < counts[1] / 4000 < 0.80
    assert 0.15 < counts[2] / 4000 < 0.25
    assert 0.03 < counts[3] / 4000 < 0.08
    other = secrets.token_bytes(32)
    for listed in lists[:500]:
        assert len({credential_id for credential_id, _ in listed}) == len(listed)
        for credential_id, transports in listed:
            assert transports
            assert decoys.is_decoy(seed, credential_id)
            assert not decoys.is_decoy(other, credential_id)
    assert lists[7] == decoys.descriptors(seed, "name-7")  # the same every time
