"""The Python client's prompt cache, measured in one run against a real HTTP server (ratios, not times).

    .venv/bin/python bench/client.py [--outage-seconds 30]     # needs PostgreSQL and Redis, as the tests do

1. ``get_prompt`` from the cache against an uncached HTTP fetch of the same prompt: target >= 1,000x.
2. The server stopped for ``--outage-seconds`` (default 30, or LLMOPS_BENCH_OUTAGE_SECONDS) with a warm cache
   whose TTL is shorter than the outage: every call must still return the prompt (0 errors raised), and a
   label moved during the outage is seen once the server is back.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmops.settings_test")

import django

django.setup()

from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

SPEEDUP_TARGET = 1000.0


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class TrackingServer(ThreadedWSGIServer):
    """Remembers its connections, so stopping also cuts the keep-alive ones a client holds in its pool."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()

    def process_request(self, request: socket.socket, client_address: object) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def cut_connections(self) -> None:
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.connections.clear()


class Server:
    """Django over real sockets on a fixed port, which can be stopped (connections refused and open ones
    cut) and restarted."""

    def __init__(self) -> None:
        self.app = get_wsgi_application()
        self.port = 0
        self.httpd: TrackingServer | None = None

    def start(self) -> None:
        self.httpd = TrackingServer(("127.0.0.1", self.port), QuietHandler, allow_reuse_address=True)
        self.httpd.set_app(self.app)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.httpd is not None
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.cut_connections()
        self.httpd = None


def per_call(function, *, repeat: int) -> float:
    """Median seconds of one call, timing batches so a sub-microsecond call is measurable."""
    batch = max(1, repeat // 20)
    samples = []
    for _ in range(20):
        started = time.perf_counter()
        for _ in range(batch):
            function()
        samples.append((time.perf_counter() - started) / batch)
    return statistics.median(samples)


def run(outage_seconds: float) -> bool:
    from llmops_client import LLMOps, RetryPolicy

    from accounts import services as account_services
    from accounts.models import Project
    from prompts import services as prompt_services

    project = Project.objects.create(name="Bench client", slug="bench-client")
    key = account_services.api_key_create(
        project=project, name="bench", requests_per_minute=1_000_000, runs_per_minute=1_000_000
    ).secret
    prompt = prompt_services.prompt_create(
        project=project, name="bench-prompt", template="v1: {input}", labels=["production"]
    )
    prompt_services.prompt_version_create(prompt=prompt, template="v2: {input}")
    server = Server()
    server.start()
    ok = True
    try:
        retry = RetryPolicy(max_attempts=3, backoff=0.05, deadline=2.0)
        with LLMOps(f"http://127.0.0.1:{server.port}", key, cache_ttl=60.0, retry=retry) as client:
            client.get_prompt("bench-prompt")
            uncached = per_call(lambda: client.get_prompt("bench-prompt", cache=False), repeat=200)
            cached = per_call(lambda: client.get_prompt("bench-prompt"), repeat=200_000)
        speedup = uncached / cached
        ok &= speedup >= SPEEDUP_TARGET
        print(f"get_prompt: uncached HTTP fetch {uncached * 1e3:.3f} ms, cached {cached * 1e6:.3f} us")
        print(f"  ratio uncached / cached: {speedup:,.0f}x (target >= {SPEEDUP_TARGET:,.0f}x)")

        ttl = min(5.0, max(outage_seconds / 4, 0.2))  # the entry expires several times during the outage
        with LLMOps(
            f"http://127.0.0.1:{server.port}", key, cache_ttl=ttl, retry=retry, revalidate_timeout=0.5
        ) as client:
            client.get_prompt("bench-prompt")
            server.stop()
            calls = errors = 0
            latencies = []
            ends = time.monotonic() + outage_seconds
            while time.monotonic() < ends:
                started = time.perf_counter()
                try:
                    client.get_prompt("bench-prompt").compile(input="x")
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - started)
                calls += 1
                time.sleep(0.001)
            prompt_services.label_move(prompt=prompt, label="production", version=2)
            server.start()
            back = time.monotonic()
            while client.get_prompt("bench-prompt").version != 2:
                if time.monotonic() - back > ttl + 5:
                    ok = False
                    break
                time.sleep(0.01)
            seen_after = time.monotonic() - back
            stats = client.cache_stats
        ok &= errors == 0
        latencies.sort()
        print(f"server stopped {outage_seconds:g} s, cache TTL {ttl:g} s: {calls:,} calls, {errors} errors raised")
        print(
            f"  served stale {stats.stale_served:,} times; latency p50 {latencies[len(latencies) // 2] * 1e6:.1f} us, "
            f"max {latencies[-1] * 1e3:.1f} ms"
        )
        print(f"  ratio errors / calls: {errors / max(calls, 1):.6f} (target 0)")
        print(f"  label moved during the outage seen {seen_after:.2f} s after the server returned (TTL {ttl:g} s)")
    finally:
        if server.httpd is not None:
            server.stop()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outage-seconds", type=float, default=float(os.environ.get("LLMOPS_BENCH_OUTAGE_SECONDS", "30"))
    )
    options = parser.parse_args()
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        ok = run(options.outage_seconds)
    finally:
        from django.db import connections

        connections.close_all()
        teardown_databases(databases, verbosity=0)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
