"""Cache of by-name resolutions (``name`` + label/version -> version), invalidated by generation.

Every cache entry carries a per-prompt generation number kept in the cache itself. A change to
the prompt (new version, label move, delete) bumps the generation, which orphans every entry
written before it. Bumping once inside the transaction and again after commit closes the race
where a reader that started before the commit stores the old resolution after the first bump:
it stored it under a generation that nobody reads any more.

Generations are keyed by (project, name) rather than prompt id, so a lookup by name needs no
database query to find its key. A generation that is missing (never set, or evicted) starts at
the current time in nanoseconds, which is above any value used before, so an eviction can never
revive entries of an earlier generation.

Redis may be unreachable (llmops.core.resilience): a lookup then computes from PostgreSQL without
caching, and a bump that could not be written is written as soon as Redis answers again, so a
resolution cached before the outage is not served after it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import TypeVar
from uuid import UUID

from django.core.cache import cache
from django.db import transaction

from llmops.core import resilience

T = TypeVar("T")
COMPONENT = "prompt_cache"

RESOLUTION_TIMEOUT = 300  # seconds; a backstop, invalidation does the real work
_PREFIX = "prompts:v1"


def _prompt_key(project_id: int | UUID, name: str) -> str:
    # Names may be 200 characters of '/' and '.': hash them into a short, safe key.
    digest = hashlib.sha256(f"{project_id}\x00{name}".encode()).hexdigest()[:32]
    return f"{_PREFIX}:{digest}"


def generation_key(project_id: int | UUID, name: str) -> str:
    return f"{_prompt_key(project_id, name)}:gen"


def generation(*, project_id: int | UUID, name: str) -> int:
    key = generation_key(project_id, name)
    value = cache.get(key)
    if value is None:
        cache.add(key, time.time_ns(), timeout=None)
        value = cache.get(key)
    return int(value)


def _bump(project_id: int | UUID, name: str) -> None:
    key = generation_key(project_id, name)
    try:
        cache.incr(key)
    except ValueError:  # missing: any fresh value is newer than every earlier one
        cache.set(key, time.time_ns(), timeout=None)


def _bump_or_defer(project_id: int | UUID, name: str) -> None:
    resilience.cache_write(COMPONENT, lambda: _bump(project_id, name))


def invalidate(*, project_id: int | UUID, name: str) -> None:
    """Orphan the prompt's cached resolutions now and again once the current transaction commits."""
    _bump_or_defer(project_id, name)
    transaction.on_commit(lambda: _bump_or_defer(project_id, name))


def lookup_keys(*, project_id: int | UUID, name: str, selector: str) -> list[str]:
    """The cache keys one lookup reads: the prompt's generation, then the selector's entry."""
    # The selector carries a caller's label: hash it too, so any text makes a safe key.
    selector_digest = hashlib.sha256(selector.encode()).hexdigest()[:16]
    return [generation_key(project_id, name), f"{_prompt_key(project_id, name)}:entry:{selector_digest}"]


def cached_resolution(
    *,
    project_id: int | UUID,
    name: str,
    selector: str,
    compute: Callable[[], T],
    prefetched: Mapping[str, object] | None = None,
) -> T:
    """The cached value for (prompt, selector), computing and storing it on a miss.

    One entry per (prompt, selector), stored with the generation it was computed under and read
    together with the current generation in one round trip (MGET), or taken from ``prefetched`` when
    the request already read both keys (the rate limiter's round trip does, see accounts.throttling):
    an entry whose generation is not the current one is a miss, so a label move is seen by the next
    read, in every process."""
    gen_key, entry_key = lookup_keys(project_id=project_id, name=name, selector=selector)

    def lookup() -> tuple[int, T | None]:
        if prefetched is not None and gen_key in prefetched and entry_key in prefetched:
            found = prefetched
        else:
            found = cache.get_many([gen_key, entry_key])
        current = found.get(gen_key)
        if current is None:
            return generation(project_id=project_id, name=name), None
        entry = found.get(entry_key)
        if entry is not None and entry[0] == int(current):
            return int(current), entry[1]
        return int(current), None

    current, value = resilience.cache_call(COMPONENT, lookup, fallback=(None, None))
    if value is None:
        value = compute()
        if current is not None:
            resilience.cache_call(
                COMPONENT, lambda: cache.set(entry_key, (current, value), timeout=RESOLUTION_TIMEOUT), fallback=None
            )
    return value
