"""Per-client-address request limits for endpoints anyone may call (the health check).

Counted atomically in the shared cache by django-ratelimit, like the per-key limits, so the limit
holds across web workers. When the cache is unreachable each process counts on its own: a Redis
outage neither lifts the limit nor turns a health check into a 500.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Usage:
    """One request limit's state after counting a request: what X-RateLimit-* headers report."""

    limit: int
    remaining: int
    reset_seconds: int
    limited: bool


def client_address(request: HttpRequest | Request) -> str:
    """The caller's address: the peer, or TRUSTED_CLIENT_IP_HEADER when a proxy of the operator
    sets it (for X-Forwarded-For, its last entry: the one that proxy appended). IPv6 callers are
    counted per /64, the block one host usually holds."""
    candidates = []
    header = settings.TRUSTED_CLIENT_IP_HEADER
    if header:
        raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        candidates.append(raw.rsplit(",", 1)[-1].strip())
    candidates.append(request.META.get("REMOTE_ADDR", ""))
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        prefix = 64 if address.version == 6 else 32
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    return "unknown"


class _LocalWindows:
    """Fixed one-minute windows counted in this process, for when the shared cache is down."""

    max_keys = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, *, limit: int) -> Usage:
        now = time.time()
        with self._lock:
            ends, count = self._windows.get(key, (0.0, 0))
            if ends <= now:
                ends, count = now + WINDOW_SECONDS, 0
            count += 1
            self._windows[key] = (ends, count)
            if len(self._windows) > self.max_keys:
                # Bounded memory under a flood from many addresses: drop finished windows first.
                self._windows = {k: v for k, v in self._windows.items() if v[0] > now} or {key: (ends, count)}
                if len(self._windows) > self.max_keys:
                    self._windows = {key: (ends, count)}
        return Usage(
            limit=limit,
            remaining=max(limit - count, 0),
            reset_seconds=max(int(ends - now), 1),
            limited=count > limit,
        )

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


_local_windows = _LocalWindows()
_last_warning = float("-inf")


def _warn_shared_cache_down(error: Exception) -> None:
    # Once a minute per process: during an outage every request would otherwise log a traceback.
    global _last_warning
    if time.monotonic() - _last_warning >= WINDOW_SECONDS:
        _last_warning = time.monotonic()
        logger.warning("rate limit: shared cache unreachable (%s); counting in this process", error)


def reset_local_windows() -> None:
    """Forget this process's fallback counts (tests)."""
    _local_windows.clear()


class ClientAddressRateThrottle(BaseThrottle):
    """``rate_setting`` names the setting holding the requests allowed per address and minute."""

    group = "health"
    rate_setting = "HEALTH_REQUESTS_PER_MINUTE"

    def allow_request(self, request: Request, view) -> bool:
        if not settings.RATELIMIT_ENABLE:
            return True
        per_minute = getattr(settings, self.rate_setting)
        address = client_address(request)
        usage = self._shared_usage(request, address=address, per_minute=per_minute)
        if usage is None:
            usage = _local_windows.hit(f"{self.group}:{address}", limit=per_minute)
        # Read by RateLimitHeadersMiddleware to put X-RateLimit-* on the response, whatever its status.
        request._request.rate_limit_usage = usage
        self._wait = usage.reset_seconds
        return not usage.limited

    def _shared_usage(self, request: Request, *, address: str, per_minute: int) -> Usage | None:
        try:
            raw = get_usage(
                request,
                group=f"address.{self.group}",
                key=lambda _group, _request: address,
                rate=f"{per_minute}/m",
                increment=True,
            )
        except Exception as error:
            _warn_shared_cache_down(error)
            return None
        if raw is None or raw["time_left"] < 0:  # django-ratelimit's answer when the cache failed
            return None
        return Usage(
            limit=raw["limit"],
            remaining=max(raw["limit"] - raw["count"], 0),
            reset_seconds=max(int(raw["time_left"]), 1),
            limited=raw["should_limit"],
        )

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
