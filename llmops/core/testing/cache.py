"""Clearing the cache of one test (or benchmark) process only."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def clear_process_cache() -> None:
    """Delete this process's cache keys: FLUSHDB would also wipe other processes' keys. Also
    forgets the in-process copies (llmops.core.local_cache, and those kept for when the shared
    cache is down)."""
    from llmops.core.api.throttling import reset_local_windows
    from llmops.core.health import reset_worker_cache
    from llmops.core.local_cache import clear_all

    reset_worker_cache()
    clear_all()
    reset_local_windows()
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    client = cache._cache.get_client(write=True) if hasattr(cache, "_cache") else None
    if client is None or not prefix:
        cache.clear()
        return
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
