"""Canonical JSON: the one byte form a value is hashed in (request hashes, document hashes,
certificate hashes). Keys sorted, no spaces, UTF-8 as is."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
