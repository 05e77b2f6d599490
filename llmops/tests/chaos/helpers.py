"""Fault injection helpers: a Redis server of the test's own (never the machine's shared one) that a
test can kill, pause (a hung server: connections accepted, nothing answered) and restart on the same
port; pointing the cache or the Celery publisher at a port where nothing listens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings as django_settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``redis-server`` on a free port of 127.0.0.1. ``persistent``: append-only file synced on every
    write, as docker-compose runs Redis, so queued tasks survive a kill -9 and a restart."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.directory = directory
        self.persistent = persistent
        self.process: subprocess.Popen | None = None
        self.paused = False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, *, timeout: float = 10.0) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir"]
        command += [str(self.directory), "--appendonly", "yes" if self.persistent else "no"]
        if self.persistent:
            command += ["--appendfsync", "always"]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: connections reset, new ones refused."""
        if self.process is not None and self.process.poll() is None:
            if self.paused:
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, the server answers nothing (a hung Redis)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False


def cache_settings(url: str) -> dict:
    """The CACHES setting of the platform, pointed at ``url`` (same options, same key prefix)."""
    default = dict(django_settings.CACHES["default"])
    return {"default": {**default, "LOCATION": url}}


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Publish this process's Celery tasks to ``url``; the previous broker again afterwards."""
    from llmops.celery import app

    def point(target: str) -> None:
        # Drop the app's references to its pools, as Celery does after a fork; kombu keeps one pool
        # per broker URL, so pointing back reuses the previous broker's connections.
        app.conf.broker_url = target
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url
    point(url)
    try:
        yield
    finally:
        point(previous)


def degraded_count(component: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("llmops_degraded_total", {"component": component}) or 0.0
