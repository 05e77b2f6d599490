"""Readiness checks for the database, the broker and the Celery workers."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from django.db import connection


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
    from llmops.celery import app

    def connect() -> str:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            return conn.transport_cls if isinstance(conn.transport_cls, str) else conn.transport.driver_name

    return _timed(connect)


def check_workers(*, timeout: float = 1.0) -> ComponentStatus:
    from llmops.celery import app

    def ping() -> str:
        replies = app.control.ping(timeout=timeout) or []
        if not replies:
            raise RuntimeError("no Celery worker answered the ping")
        return f"{len(replies)} worker(s): " + ", ".join(sorted(name for reply in replies for name in reply))

    return _timed(ping)


def health_report(*, ping_workers: bool = True) -> tuple[bool, dict]:
    """Healthy means the web tier can serve: database and broker up. Workers are reported, not
    required, so a worker restart does not pull the web servers out of a load balancer."""
    components = {"database": check_database(), "broker": check_broker()}
    healthy = all(status.ok for status in components.values())
    if ping_workers and components["broker"].ok:
        components["workers"] = check_workers()
    report = {
        "status": "ok" if healthy else "unavailable",
        "components": {name: asdict(status) for name, status in components.items()},
    }
    failing = [name for name, status in components.items() if not status.ok and name != "workers"]
    if failing:
        report["failing"] = failing
    if "workers" in components and not components["workers"].ok:
        report["status"] = "degraded" if healthy else report["status"]
    return healthy, report
