"""Content identity: SHA-256 of a canonical JSON form (sorted keys, no whitespace, UTF-8), so key
order and formatting never change a hash. Used for prompt version identity, idempotency request
hashes and the experiments' response cache keys: stored hashes depend on this exact encoding."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Values JSON cannot encode (Decimal, UUID, datetime) are encoded as their ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()
