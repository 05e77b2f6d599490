"""One canonical-JSON hash for prompt version identity, idempotency request hashes and the response
cache: stored hashes must not change, so the digests are pinned."""

from __future__ import annotations

import uuid
from decimal import Decimal

from llmops.core.hashing import canonical_hash, canonical_json
from prompts.hashing import content_hash


def test_key_order_and_whitespace_do_not_change_the_hash():
    assert canonical_json({"b": 2, "a": "ü"}) == '{"a":"ü","b":2}'
    assert canonical_hash({"variables": {"b": 2, "a": "ü"}, "n": 1}) == canonical_hash(
        {"n": 1, "variables": {"a": "ü", "b": 2}}
    )
    # The digest stored for idempotency keys before the helper existed.
    assert (
        canonical_hash({"variables": {"b": 2, "a": "ü"}, "n": 1})
        == "6363aa3b7e573e043dd4b83f51f6e01799f361b62693a2ea44687047889e9ac8"
    )


def test_values_json_cannot_encode_are_hashed_as_their_text():
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert canonical_json({"id": key, "price": Decimal("0.50")}) == (
        '{"id":"12345678-1234-5678-1234-567812345678","price":"0.50"}'
    )


def test_prompt_content_hash_is_unchanged():
    digest = content_hash(
        kind="chat",
        template_format="jinja2",
        template="",
        messages=[{"role": "user", "content": "Héllo {{ name }}"}],
        model_settings={"temperature": 0.2, "max_tokens": 5},
        variables_schema=None,
    )
    assert digest == "e5aae8427441d184c8e53bb7eedfe1672ec8d8eb9d57533f8f0d026e3ad72d78"
