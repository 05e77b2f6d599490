"""Small per-process TTL caches, in front of the shared cache for what every request reads.

A web worker answering thousands of requests a second cannot afford a Redis round trip for a value
that changes a few times a day (an API key). Entries live until an absolute deadline the caller
gives, so a value copied from the shared cache keeps that copy's deadline instead of starting a
new one. Every instance registers itself, so tests (and benchmarks) can forget them all at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_instances: weakref.WeakSet[LocalTTLCache] = weakref.WeakSet()


class LocalTTLCache(Generic[K, V]):
    """A bounded dict of ``key -> (value, deadline)``; ``deadline`` is ``time.monotonic()`` based."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[K, tuple[V, float]] = {}
        _instances.add(self)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self.delete(key)
            return None
        return entry[0]

    def set(self, key: K, value: V, *, deadline: float) -> None:
        if deadline <= time.monotonic():
            return
        with self._lock:
            if len(self._entries) >= self.max_entries and key not in self._entries:
                # Bounded memory under many keys: drop the expired entries, else everything.
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
                if len(self._entries) >= self.max_entries:
                    self._entries = {}
            self._entries[key] = (value, deadline)

    def replace(self, key: K, value: V) -> None:
        """A new value for a live entry, keeping its deadline; nothing when there is none."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] > time.monotonic():
                self._entries[key] = (value, entry[1])

    def delete(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries = {}


def clear_all() -> None:
    """Forget every process-local entry (tests)."""
    for instance in list(_instances):
        instance.clear()
