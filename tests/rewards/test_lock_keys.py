"""The redemption locks keep the keys they had before the shared ``common.locks``: a process
of the old code and one of the new, side by side during a deploy, still exclude each other."""

from __future__ import annotations

import hashlib
import uuid

from carbon_inclusion.common.locks import lock_key


def _before(*parts: object) -> int:  # rewards.service.lock_key as it was
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def test_the_redemption_lock_keys_are_the_ones_they_were():
    citizen, reward = uuid.uuid4(), uuid.uuid4()
    assert lock_key("redeem-key", citizen, "key-12345678") == _before(
        "redeem-key", citizen, "key-12345678")
    assert lock_key("redeem", citizen, reward) == _before("redeem", citizen, reward)
