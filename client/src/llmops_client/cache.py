"""The in-process prompt cache: fresh, refreshed in the background, revalidated, or served stale.

An entry of age ``a`` (seconds since the server last confirmed it) is served:

- ``a < ttl * refresh_ratio``: from memory, no I/O;
- ``a < ttl``: from memory, while one background thread revalidates it (``If-None-Match``; a ``304``
  has no body and only renews the entry), so a busy application never waits on the server;
- ``a >= ttl``: after a conditional request made in the caller's thread (one attempt, short timeout), so
  a label moved on the server is seen once the TTL has passed. When that fails (server down, ``429``,
  ``5xx``), the stale entry is served instead, and for ``quiet_seconds`` further calls serve it without
  trying again, refreshing in the background.

A cached prompt is never lost to an outage; an error reaches the caller only when nothing is cached and
no fallback was given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import APIError, ConnectionFailed
from .prompt import Prompt

logger = logging.getLogger("llmops_client")

CacheKey = tuple[str, str | None, int | None]  # name, label, version
# fetch(key, etag, background) -> (prompt, etag) for a 200, None for a 304
Fetch = Callable[[CacheKey, str | None, bool], "tuple[Prompt, str] | None"]


def is_outage(error: Exception) -> bool:
    """Failures that say nothing about the prompt: the server is down, refusing or broken."""
    return isinstance(error, ConnectionFailed) or (
        isinstance(error, APIError) and (error.status == 429 or error.status >= 500)
    )


@dataclass
class CacheStats:
    """Counters since the client was made (read them to see what the cache did)."""

    hits: int = 0  # served from memory, fresh
    background_refreshes: int = 0  # revalidations started in a background thread
    not_modified: int = 0  # 304 answers: the entry renewed, no body transferred
    fetched: int = 0  # 200 answers with a body
    stale_served: int = 0  # served past the TTL because the server could not confirm it
    fallbacks: int = 0  # caller's fallback served: nothing cached and the server unreachable


@dataclass
class _Entry:
    prompt: Prompt
    etag: str
    confirmed_at: float
    quiet_until: float = 0.0
    refreshing: bool = False
    failing: bool = False


@dataclass
class PromptCache:
    ttl: float
    fetch: Fetch
    refresh_ratio: float = 0.5
    quiet_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._entries: dict[CacheKey, _Entry] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, key: CacheKey, *, fallback: Prompt | None) -> Prompt:
        entry = self._entries.get(key)
        if entry is None:
            return self._first_fetch(key, fallback=fallback)
        now = self.clock()
        age = now - entry.confirmed_at
        if age < self.ttl * self.refresh_ratio:
            self.stats.hits += 1
            return entry.prompt
        if age < self.ttl:
            self.stats.hits += 1
            if now >= entry.quiet_until:
                self._refresh_in_background(key, entry)
            return entry.prompt
        if now < entry.quiet_until or entry.refreshing:
            self.stats.stale_served += 1
            return entry.prompt
        try:
            return self._revalidate(key, entry, background=False)
        except Exception as error:
            if not is_outage(error):
                self._drop(key, entry)  # e.g. 404: the prompt or label is gone
                raise
            self._failed(key, entry, error)
            self.stats.stale_served += 1
            return entry.prompt

    def _first_fetch(self, key: CacheKey, *, fallback: Prompt | None) -> Prompt:
        try:
            result = self.fetch(key, None, False)
        except Exception as error:
            if fallback is None or not is_outage(error):
                raise
            self.stats.fallbacks += 1
            logger.warning("llmops: using the fallback of %s: %s", key[0], error)
            return fallback
        assert result is not None  # no etag sent: never a 304
        prompt, etag = result
        self.stats.fetched += 1
        with self._lock:
            self._entries[key] = _Entry(prompt=prompt, etag=etag, confirmed_at=self.clock())
        return prompt

    def _revalidate(self, key: CacheKey, entry: _Entry, *, background: bool) -> Prompt:
        result = self.fetch(key, entry.etag, background)
        confirmed_at = self.clock()
        with self._lock:
            if entry.failing:
                logger.warning("llmops: %s is served by the server again", key[0])
            if result is None:
                self.stats.not_modified += 1
                entry.confirmed_at = confirmed_at
                entry.quiet_until = 0.0
                entry.failing = False
                return entry.prompt
            prompt, etag = result
            self.stats.fetched += 1
            self._entries[key] = _Entry(prompt=prompt, etag=etag, confirmed_at=confirmed_at)
            return prompt

    def _refresh_in_background(self, key: CacheKey, entry: _Entry) -> None:
        with self._lock:
            if entry.refreshing:
                return
            entry.refreshing = True
        self.stats.background_refreshes += 1
        threading.Thread(target=self._refresh, args=(key, entry), name="llmops-prompt-refresh", daemon=True).start()

    def _refresh(self, key: CacheKey, entry: _Entry) -> None:
        try:
            self._revalidate(key, entry, background=True)
        except Exception as error:
            if is_outage(error):
                self._failed(key, entry, error)
            else:
                self._drop(key, entry)
                logger.warning("llmops: %s is no longer served: %s", key[0], error)
        finally:
            entry.refreshing = False

    def _failed(self, key: CacheKey, entry: _Entry, error: Exception) -> None:
        """Keep serving the entry; try the server again after ``quiet_seconds``; warn once per outage."""
        entry.quiet_until = self.clock() + self.quiet_seconds
        if not entry.failing:
            entry.failing = True
            logger.warning(
                "llmops: cannot revalidate %s v%s, serving it from cache: %s", key[0], entry.prompt.version, error
            )

    def _drop(self, key: CacheKey, entry: _Entry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]
