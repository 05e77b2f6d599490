"""Per-key request limits, counted atomically in the shared cache (Redis) by django-ratelimit, so
the limit holds across every web worker. Two budgets per key and minute: all requests, and
requests that start model work (views mark those with ``counts_as_run`` or ``run_actions``).

When Redis does not answer, the limit fails open: the request goes through uncounted, without
X-RateLimit-* headers, with a warning in the log (at most once a minute per process) and
``llmops_degraded_total{component="ratelimit"}`` counting each such request. A limiter outage must
not become a platform outage, and what the limit protects most, money, stays enforced: budgets are
checked in PostgreSQL on every run (runs.budgets)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import APIKey
from llmops import resilience

_NOT_COUNTED = object()


@dataclass(frozen=True)
class Usage:
    limit: int
    remaining: int
    reset_seconds: int
    limited: bool


def counts_as_run(request: Request, view) -> bool:
    if getattr(view, "counts_as_run", False):
        return True
    return getattr(view, "action", None) in getattr(view, "run_actions", ())


def _usage(request: Request, *, api_key: APIKey, group: str, per_minute: int) -> Usage | None:
    """The key's usage of one budget, counting this request; None when it could not be counted."""
    raw = resilience.cache_call(
        "ratelimit",
        lambda: get_usage(
            request,
            group=f"apikey.{group}",
            key=lambda _group, _request: str(api_key.pk),
            rate=f"{per_minute}/m",
            increment=True,
        ),
        fallback=_NOT_COUNTED,
        consequence="requests are not rate limited",
    )
    if raw is _NOT_COUNTED or (raw is not None and raw["time_left"] < 0):  # time_left < 0: the count failed
        return None
    if raw is None:  # rate limiting switched off
        return Usage(limit=per_minute, remaining=per_minute, reset_seconds=60, limited=False)
    return Usage(
        limit=raw["limit"],
        remaining=max(raw["limit"] - raw["count"], 0),
        reset_seconds=max(int(raw["time_left"]), 1),
        limited=raw["should_limit"],
    )


class APIKeyRateThrottle(BaseThrottle):
    def allow_request(self, request: Request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, APIKey):
            return True
        budgets = [("requests", api_key.requests_per_minute or settings.API_DEFAULT_REQUESTS_PER_MINUTE)]
        if counts_as_run(request, view):
            budgets.append(("runs", api_key.runs_per_minute or settings.API_DEFAULT_RUNS_PER_MINUTE))
        tightest: Usage | None = None
        for group, per_minute in budgets:
            usage = _usage(request, api_key=api_key, group=group, per_minute=per_minute)
            if usage is None:
                return True  # fails open: see the module's docstring
            if tightest is None or usage.limited or (not tightest.limited and usage.remaining < tightest.remaining):
                tightest = usage
            if usage.limited:
                break
        # Read by RateLimitHeadersMiddleware to put X-RateLimit-* on the response, whatever its status.
        request._request.rate_limit_usage = tightest
        self._wait = tightest.reset_seconds
        return not tightest.limited

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
