"""Redis may be away; PostgreSQL is the source of truth.

Redis holds the API key cache, the by-name prompt cache, the rate-limit counters and the Celery
queue, and nothing that PostgreSQL does not also have. So when it stops answering:

- a cache read is a miss and the caller reads PostgreSQL; a cache write is dropped, and an
  invalidation that could not be written is written again once Redis answers (``cache_write``);
- a rate-limit check is skipped: the request is let through (see ``accounts.throttling``);
- a task that cannot be published stays queued in PostgreSQL, where the sweepers find it.

Each failure, and each call skipped because of one, counts in ``llmops_degraded_total{component}``
and logs a warning at most once per ``WARNING_INTERVAL_SECONDS`` per component. After a failure a
circuit breaker skips Redis for ``REDIS_CIRCUIT_BREAKER_SECONDS``, then lets one caller try again:
during an outage a request pays nothing, instead of a connect timeout per call. The breakers are
per process; the short socket timeouts in the settings bound what the one trying caller pays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import redis
from django.conf import settings
from kombu.exceptions import KombuError
from kombu.exceptions import OperationalError as BrokerOperationalError
from prometheus_client import Counter

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEGRADED = Counter(
    "llmops_degraded_total",
    "Operations degraded by a dependency that did not answer: a cache read served from PostgreSQL, a rate"
    " limit not counted, a task left to the sweeper, a request answered 503",
    ["component"],
)

# Any Redis error: refused or hung connections, a replica that turned read-only, a full Redis
# (noeviction refuses writes) or one still loading its data. OSError covers socket errors raised
# around redis-py, and a file-based cache's disk.
CACHE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
# A broker that cannot be reached (kombu wraps most of these in its OperationalError).
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    BrokerOperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
)

WARNING_INTERVAL_SECONDS = 60.0
# Invalidations kept for replay; beyond this the oldest are dropped and only expiry bounds staleness.
MAX_PENDING_WRITES = 10_000


class CircuitBreaker:
    """Closed: calls go through. Open (after a failure): calls are skipped for ``cooldown`` seconds,
    after which one caller is let through to try; its success closes the breaker."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed

    @staticmethod
    def cooldown() -> float:
        return settings.REDIS_CIRCUIT_BREAKER_SECONDS

    def allow(self) -> bool:
        with self._lock:
            if self._open_until is None:
                return True
            now = time.monotonic()
            if now < self._open_until:
                return False
            self._open_until = now + self.cooldown()  # this caller tries; the others keep skipping
            return True

    def failed(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self.cooldown()

    def succeeded(self) -> None:
        with self._lock:
            self._open_until = None

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def reset(self) -> None:
        self.succeeded()


cache_breaker = CircuitBreaker("cache")
broker_breaker = CircuitBreaker("broker")

_warned_at: dict[str, float] = {}
_suppressed: dict[str, int] = {}
_warn_lock = threading.Lock()
_pending_writes: deque[Callable[[], object]] = deque(maxlen=MAX_PENDING_WRITES)


def degraded(component: str, error: BaseException | None, *, consequence: str, dependency: str = "Redis") -> None:
    """Count one degraded operation, and warn about it unless this component warned recently."""
    DEGRADED.labels(component).inc()
    with _warn_lock:
        now = time.monotonic()
        if now - _warned_at.get(component, float("-inf")) < WARNING_INTERVAL_SECONDS:
            _suppressed[component] = _suppressed.get(component, 0) + 1
            return
        _warned_at[component] = now
        suppressed = _suppressed.pop(component, 0)
    cause = f"{type(error).__name__}: {error}" if error is not None else "circuit open after a recent failure"
    more = f" ({suppressed} more since the last warning)" if suppressed else ""
    logger.warning("%s: %s unavailable (%s); %s%s", component, dependency, cause, consequence, more)


def _guarded(
    breaker: CircuitBreaker,
    errors: tuple[type[BaseException], ...],
    component: str,
    operation: Callable[[], T],
    *,
    consequence: str,
) -> tuple[bool, T | None]:
    if not breaker.allow():
        degraded(component, None, consequence=consequence)
        return False, None
    try:
        result = operation()
    except errors as error:
        breaker.failed()
        degraded(component, error, consequence=consequence)
        return False, None
    breaker.succeeded()
    return True, result


def cache_call(
    component: str, operation: Callable[[], T], *, fallback: T, consequence: str = "served from PostgreSQL"
) -> T:
    """``operation()`` on the cache, or ``fallback`` when Redis fails or failed a moment ago."""

    def call() -> T:
        # Invalidations missed during an outage go first, or this read could return what they remove.
        _replay_pending_writes()
        return operation()

    ok, result = _guarded(cache_breaker, CACHE_ERRORS, component, call, consequence=consequence)
    return result if ok else fallback


def cache_write(component: str, operation: Callable[[], object]) -> bool:
    """An invalidation (delete, generation bump): done now, or kept and done again as soon as a later
    cache call in this process finds Redis back, so an entry cached before the outage is not served
    after it. Idempotent operations only. True when it reached Redis now."""

    def write() -> bool:
        operation()
        return True

    done = cache_call(component, write, fallback=False, consequence="invalidation deferred")
    if not done:
        _pending_writes.append(operation)
    return done


def _replay_pending_writes() -> None:
    """Do the deferred invalidations, oldest first; one that fails goes back, and its error is raised."""
    while _pending_writes:
        try:
            operation = _pending_writes.popleft()
        except IndexError:  # another thread emptied it
            return
        try:
            operation()
        except CACHE_ERRORS:
            _pending_writes.appendleft(operation)
            raise


def broker_call(component: str, operation: Callable[[], T], *, fallback: T, consequence: str) -> T:
    """``operation()`` on the broker, or ``fallback`` when it fails or failed a moment ago."""
    ok, result = _guarded(broker_breaker, BROKER_ERRORS, component, operation, consequence=consequence)
    return result if ok else fallback


def broker_publish(what: str, send: Callable[[], object]) -> bool:
    """``send()`` (a Celery publication) unless the broker failed a moment ago; False when the task
    was not handed to the broker, which the caller's sweeper must then make up for."""

    def publish() -> bool:
        try:
            send()
        except KombuError as error:
            if isinstance(error, BROKER_ERRORS):
                raise
            # Not an outage (a message the broker refused, say): no breaker, but not lost either.
            logger.exception("could not publish %s; left to the sweeper", what)
            return False
        return True

    return broker_call("broker", publish, fallback=False, consequence=f"{what} left to the sweeper")


def reset() -> None:
    """Close the breakers and forget deferred writes and warning times (tests)."""
    cache_breaker.reset()
    broker_breaker.reset()
    _pending_writes.clear()
    with _warn_lock:
        _warned_at.clear()
        _suppressed.clear()
