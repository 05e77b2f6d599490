"""Fixed-window request counters in one Redis round trip.

django-ratelimit counts one budget per call with an ``add`` and an ``incr``: two round trips per
budget, four for a request that starts model work. Here every budget of a request is counted by one
Lua script, which also reports whether a flag key is set (the API key's revocation marker), so the
per-request cost of limiting is one round trip whatever it checks. The same round trip can read cache
entries the view is about to need (``reads``), so a cached answer costs no second one. Windows and their jitter are
django-ratelimit's: fixed windows ending at a per-key offset, so keys do not all reset together.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

# Counted in order; the first budget over its limit stops the count, so a refused request does not
# spend the budgets after it. KEYS: the flag, the keys to read, the budgets' counters. ARGV: how many
# keys to read, then (limit, expiry) per budget. Returns {flag set (0/1), {values read}, count 1, ...}.
_LUA = """
local reads = tonumber(ARGV[1])
local result = {redis.call('EXISTS', KEYS[1]), {}}
if reads > 0 then result[2] = redis.call('MGET', unpack(KEYS, 2, 1 + reads)) end
local first = 2 + reads
for i = first, #KEYS do
  local j = i - first
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3 + 2 * j]) end
  result[3 + j] = count
  if count > tonumber(ARGV[2 + 2 * j]) then break end
end
return result
"""
_script = redis.commands.core.Script(None, _LUA.encode())
# Seconds a window's counter outlives the window, as django-ratelimit keeps it.
EXPIRY_FUDGE_SECONDS = 5


@dataclass(frozen=True)
class Budget:
    name: str  # e.g. "apikey.requests:<key id>"
    limit: int
    period: int  # seconds


@dataclass(frozen=True)
class Count:
    budget: Budget
    count: int
    window_ends: int  # unix time

    @property
    def limited(self) -> bool:
        return self.count > self.budget.limit


def window_end(name: str, period: int, now: float) -> int:
    ts = int(now)
    end = ts - (ts % period) + (zlib.crc32(name.encode()) % period)
    return end + period if end < ts else end


def redis_client() -> redis.Redis | None:
    """The default cache's Redis primary (where Django's Redis cache writes), or None when the cache
    is not Redis (the quickstart's file cache)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


@dataclass(frozen=True)
class Counted:
    counts: list[Count]
    flag: bool
    values: dict[str, object]  # each key read -> its cached value, None when missing


def count(*, budgets: list[Budget], flag: str, reads: Sequence[str] = ()) -> Counted | None:
    """Count one request against ``budgets`` (until the first one over its limit), read ``flag`` and
    the cache entries ``reads``, in one round trip. None when the cache is not Redis; Redis errors
    propagate (the caller decides what an outage means)."""
    client = redis_client()
    if client is None:
        return None
    backend = caches["default"]
    now = time.time()
    ends = [window_end(budget.name, budget.period, now) for budget in budgets]
    keys = [backend.make_key(flag), *(backend.make_key(key) for key in reads)]
    args: list[int] = [len(reads)]
    for budget, end in zip(budgets, ends, strict=True):
        keys.append(backend.make_key(f"rl2:{budget.name}:{budget.period}:{end}"))
        args += [budget.limit, budget.period + EXPIRY_FUDGE_SECONDS]
    result = _script(keys=keys, args=args, client=client)
    serializer = backend._cache._serializer  # how Django's Redis cache stores values
    values = {key: None if raw is None else serializer.loads(raw) for key, raw in zip(reads, result[1], strict=True)}
    counts = [
        Count(budget=budget, count=int(value), window_ends=end)
        for budget, end, value in zip(budgets, ends, result[2:], strict=False)
    ]
    return Counted(counts=counts, flag=bool(int(result[0])), values=values)
