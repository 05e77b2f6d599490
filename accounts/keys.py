"""API key format: ``llmops_`` + 32 random base62 characters + a 6-character CRC32 checksum.

The fixed prefix and the checksum let secret scanners recognise a leaked key without a
database, and let the server reject a mistyped key before querying anything.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

KEY_PREFIX = "llmops_"
_ALPHABET = string.digits + string.ascii_letters
_BODY_LENGTH = 32
_CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + _BODY_LENGTH + _CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = 14


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{KEY_PREFIX}{body}{_checksum(body)}"


def is_well_formed(raw: str) -> bool:
    if len(raw) != KEY_LENGTH or not raw.startswith(KEY_PREFIX):
        return False
    body, checksum = raw[len(KEY_PREFIX) : -_CHECKSUM_LENGTH], raw[-_CHECKSUM_LENGTH:]
    if any(char not in _ALPHABET for char in body):
        return False
    return secrets.compare_digest(_checksum(body), checksum)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def display_prefix(raw: str) -> str:
    return raw[:DISPLAY_PREFIX_LENGTH]
