"""Readiness checks for the database, the broker and the Celery workers.

The health endpoint answers anyone, so it must stay cheap. The worker check is a broadcast over
the broker that waits up to a second for replies: its result is cached for
HEALTH_WORKERS_CACHE_SECONDS, in this process and in the shared cache, and refreshed by one caller
at a time, so a burst of calls costs one ping. The cache is an optimisation: when Redis is
unreachable each process keeps its own copy.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

WORKER_PING_TIMEOUT = 1.0
_WORKERS_CACHE_KEY = "health:workers"
_WORKERS_REFRESH_KEY = "health:workers:refresh"


@dataclass(frozen=True)
class ComponentStatus:
    ok: bool
    latency_ms: int
    detail: str = ""


def _timed(check) -> ComponentStatus:
    started = time.perf_counter()
    try:
        detail = check() or ""
        ok = True
    except Exception as error:
        detail, ok = f"{type(error).__name__}: {error}", False
    return ComponentStatus(ok=ok, latency_ms=int((time.perf_counter() - started) * 1000), detail=str(detail)[:300])


def check_database() -> ComponentStatus:
    def query() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor

    return _timed(query)


def check_broker(*, timeout: float = 2.0) -> ComponentStatus:
    from celery import current_app as app  # the platform's app: llmops/__init__.py makes it current

    def connect() -> str:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            return conn.transport_cls if isinstance(conn.transport_cls, str) else conn.transport.driver_name

    return _timed(connect)


def check_workers(*, timeout: float = WORKER_PING_TIMEOUT) -> ComponentStatus:
    from celery import current_app as app  # the platform's app: llmops/__init__.py makes it current

    def ping() -> str:
        replies = app.control.ping(timeout=timeout) or []
        if not replies:
            raise RuntimeError("no Celery worker answered the ping")
        return f"{len(replies)} worker(s): " + ", ".join(sorted(name for reply in replies for name in reply))

    return _timed(ping)


class _LocalWorkerCache:
    """This process's copy of the last worker check; the lock lets one thread refresh it."""

    def __init__(self) -> None:
        self.refresh_lock = threading.Lock()
        self.status: ComponentStatus | None = None
        self.checked_at = 0.0  # wall clock, comparable with the shared cache's entries

    def fresh(self, ttl: float) -> ComponentStatus | None:
        status = self.status
        return status if status is not None and time.time() - self.checked_at < ttl else None

    def store(self, status: ComponentStatus, checked_at: float) -> None:
        self.status, self.checked_at = status, checked_at

    def clear(self) -> None:
        self.status, self.checked_at = None, 0.0


_local_workers = _LocalWorkerCache()


def reset_worker_cache() -> None:
    """Forget this process's cached worker check (tests; the shared entry expires by itself)."""
    _local_workers.clear()


def _shared_worker_entry() -> tuple[ComponentStatus, float] | None:
    try:
        entry = cache.get(_WORKERS_CACHE_KEY)
    except Exception as error:
        logger.warning("health: shared cache unreachable (%s); caching the worker check in this process", error)
        return None
    try:
        return ComponentStatus(**entry["status"]), float(entry["checked_at"])
    except (KeyError, TypeError, ValueError):  # nothing cached, or an entry of another shape
        return None


def _ping_and_share(ttl: float) -> tuple[ComponentStatus, float]:
    """Ping the workers, unless another process is already doing it: then wait for its answer."""
    try:
        leader = cache.add(_WORKERS_REFRESH_KEY, 1, timeout=int(WORKER_PING_TIMEOUT) + 2)
    except Exception:
        leader = True  # no shared cache: this process pings for itself
    if not leader:
        deadline = time.monotonic() + WORKER_PING_TIMEOUT + 0.5
        while time.monotonic() < deadline:
            time.sleep(0.05)
            entry = _shared_worker_entry()
            if entry is not None and time.time() - entry[1] < ttl:
                return entry
        # The other process died or is slow: ping after all rather than report nothing.
    status, checked_at = check_workers(), time.time()
    try:
        cache.set(_WORKERS_CACHE_KEY, {"status": asdict(status), "checked_at": checked_at}, timeout=math.ceil(ttl))
        cache.delete(_WORKERS_REFRESH_KEY)
    except Exception as error:
        logger.warning("health: could not share the worker check (%s)", error)
    return status, checked_at


def worker_status() -> ComponentStatus:
    """The workers' status, at most HEALTH_WORKERS_CACHE_SECONDS old, pinging at most once per period."""
    ttl = settings.HEALTH_WORKERS_CACHE_SECONDS
    if ttl <= 0:
        return check_workers()
    status = _local_workers.fresh(ttl)
    if status is not None:
        return status
    stale = _local_workers.status
    if not _local_workers.refresh_lock.acquire(blocking=stale is None):
        # Another thread of this process is refreshing: its previous answer will do meanwhile.
        return stale
    try:
        status = _local_workers.fresh(ttl)  # refreshed while this thread waited for the lock
        if status is not None:
            return status
        entry = _shared_worker_entry()
        if entry is None or time.time() - entry[1] >= ttl:
            entry = _ping_and_share(ttl)
        _local_workers.store(*entry)
        return entry[0]
    finally:
        _local_workers.refresh_lock.release()


_informational: dict[str, Callable[[], ComponentStatus]] = {}


def register_component(name: str, check: Callable[[], ComponentStatus]) -> None:
    """Add an informational component to the report (an app registers it in its ``ready()``, as runs
    does for ``local_model``): it is shown, never makes the platform degraded or unavailable. The core
    imports no app, so app-specific checks live in the app. Registering a name again replaces it."""
    _informational[name] = check


def health_report(*, ping_workers: bool = True) -> tuple[bool, dict]:
    """Healthy means the web tier can serve, which needs only the database: with the broker (Redis)
    down, reads still answer and new work is accepted and persisted, so the verdict is "degraded",
    not a 503 that would pull every web server out of a load balancer. Workers are reported, not
    required, for the same reason."""
    components = {"database": check_database(), "broker": check_broker()}
    healthy = components["database"].ok
    if ping_workers and components["broker"].ok:
        components["workers"] = worker_status()
    for name, check in _informational.items():
        components[name] = check()
    report = {
        "status": "ok" if healthy else "unavailable",
        "components": {name: asdict(status) for name, status in components.items()},
    }
    if not healthy:
        report["failing"] = ["database"]
    degraded = [name for name in ("broker", "workers") if name in components and not components[name].ok]
    if healthy and degraded:
        report["status"] = "degraded"
        report["degraded"] = degraded
    return healthy, report


def public_report(report: dict) -> dict:
    """What an anonymous caller sees: the verdict and the names of the components behind a 503,
    without worker names, latencies or error messages."""
    return {key: report[key] for key in ("status", "failing", "degraded") if key in report}
