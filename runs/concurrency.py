"""Per-endpoint concurrency across every worker: a counting semaphore in Redis.

One sorted set per endpoint holds a member per call in flight, scored with the moment its lease
expires on the Redis server's clock (workers' clocks do not matter). Acquiring is one Lua script:
drop expired leases, then add ours only if fewer than the limit remain. Redis runs a script
atomically, so workers racing for the last slot cannot both get it, and a worker that dies mid-call
frees its slot when its lease runs out.

Without Redis (the quickstart: REDIS_URL unset) there is no cross-process limit: each worker process
enforces the limit among its own threads, which for the quickstart's single worker is the whole limit.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "llmops:concurrency:"

# KEYS[1] the slot set; ARGV: limit, token, lease in milliseconds. Returns 1 when the slot is taken.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
local expires = now_ms + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expires, ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + 1000)
return 1
"""


class Semaphore(Protocol):
    def acquire(self, name: str, *, limit: int, lease_seconds: float) -> str | None: ...

    def release(self, name: str, token: str) -> None: ...

    def in_use(self, name: str) -> int: ...


class RedisSemaphore:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(self, name: str, *, limit: int, lease_seconds: float) -> str | None:
        token = uuid.uuid4().hex
        lease_ms = max(1, int(lease_seconds * 1000))
        taken = self._acquire(keys=[KEY_PREFIX + name], args=[limit, token, lease_ms])
        return token if taken == 1 else None

    def release(self, name: str, token: str) -> None:
        try:
            self._client.zrem(KEY_PREFIX + name, token)
        except redis.RedisError:
            # The lease expires by itself; a failed release only delays the next call.
            logger.warning("could not release concurrency slot %s of %s", token, name, exc_info=True)

    def in_use(self, name: str) -> int:
        seconds, micros = self._client.time()
        now_ms = seconds * 1000 + micros // 1000
        return self._client.zcount(KEY_PREFIX + name, f"({now_ms}", "+inf")


class LocalSemaphore:
    """The same contract within one process, for deployments without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, dict[str, float]] = {}

    def _live(self, name: str) -> dict[str, float]:
        now = time.monotonic()
        leases = self._leases.setdefault(name, {})
        for token in [token for token, expires in leases.items() if expires <= now]:
            del leases[token]
        return leases

    def acquire(self, name: str, *, limit: int, lease_seconds: float) -> str | None:
        with self._lock:
            leases = self._live(name)
            if len(leases) >= limit:
                return None
            token = uuid.uuid4().hex
            leases[token] = time.monotonic() + lease_seconds
            return token

    def release(self, name: str, token: str) -> None:
        with self._lock:
            self._leases.get(name, {}).pop(token, None)

    def in_use(self, name: str) -> int:
        with self._lock:
            return len(self._live(name))


@lru_cache(maxsize=4)
def _semaphore_for(redis_url: str | None) -> Semaphore:
    if redis_url:
        return RedisSemaphore(redis.Redis.from_url(redis_url))
    return LocalSemaphore()


def semaphore() -> Semaphore:
    return _semaphore_for(settings.REDIS_URL)


def endpoint_key(endpoint_id: object) -> str:
    return f"endpoint:{endpoint_id}"


@contextmanager
def endpoint_slot(*, endpoint_id: object, limit: int, lease_seconds: float) -> Iterator[bool]:
    """Hold one of the endpoint's ``limit`` slots for the block; yields False (holding nothing) when full."""
    name = endpoint_key(endpoint_id)
    sem = semaphore()
    token = sem.acquire(name, limit=max(1, limit), lease_seconds=lease_seconds)
    try:
        yield token is not None
    finally:
        if token is not None:
            sem.release(name, token)
