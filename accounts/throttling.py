"""Per-key request limits, counted atomically in the shared cache (Redis), so the limit holds across
every web worker. Two budgets per key and minute: all requests, and requests that start model work
(views mark those with ``counts_as_run`` or ``run_actions``). Both are counted, and the key's
revocation marker read, in one round trip (llmops.core.counters); a cache that is not Redis (the
quickstart's file cache) is counted by django-ratelimit.

When Redis does not answer, the limit fails open: the request goes through uncounted, without
X-RateLimit-* headers, with a warning in the log (at most once a minute per process) and
``llmops_degraded_total{component="ratelimit"}`` counting each such request. A limiter outage must
not become a platform outage, and what the limit protects most, money, stays enforced: budgets are
checked in PostgreSQL on every run (runs.budgets)."""

from __future__ import annotations

import time

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import APIKey
from accounts.services import api_key_forget_locally, revoked_marker_key
from llmops.core import counters, resilience
from llmops.core.api.throttling import Usage

_NOT_COUNTED = object()


def counts_as_run(request: Request, view) -> bool:
    if getattr(view, "counts_as_run", False):
        return True
    return getattr(view, "action", None) in getattr(view, "run_actions", ())


def _usage(request: Request, *, api_key: APIKey, group: str, per_minute: int) -> Usage | None:
    """The key's usage of one budget by django-ratelimit, counting this request; None when it could
    not be counted."""
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


def _usages(request: Request, view, *, api_key: APIKey, budgets: list[tuple[str, int]]) -> list[Usage] | None:
    """The key's usage of each budget, counting this request, up to the first one over its limit;
    None when the request could not be counted. Raises AuthenticationFailed for a key revoked since
    this process cached it."""
    if not settings.RATELIMIT_ENABLE:
        return [Usage(limit=limit, remaining=limit, reset_seconds=60, limited=False) for _, limit in budgets]

    # Cache entries the view will read (prompts' fetch by name), fetched in the same round trip.
    prefetch = getattr(view, "cache_prefetch", None)
    reads = prefetch(request) if prefetch is not None else []

    def one_round_trip():
        return counters.count(
            reads=reads,
            budgets=[
                counters.Budget(name=f"apikey.{group}:{api_key.pk}", limit=limit, period=60) for group, limit in budgets
            ],
            flag=revoked_marker_key(api_key.pk),
        )

    counted = resilience.cache_call(
        "ratelimit", one_round_trip, fallback=_NOT_COUNTED, consequence="requests are not rate limited"
    )
    if counted is _NOT_COUNTED:
        return None
    if counted is None:  # not Redis: one budget at a time
        usages = []
        for group, limit in budgets:
            usage = _usage(request, api_key=api_key, group=group, per_minute=limit)
            if usage is None:
                return None
            usages.append(usage)
            if usage.limited:
                break
        return usages
    if counted.flag:
        api_key_forget_locally(key_hash=api_key.key_hash)
        raise exceptions.AuthenticationFailed("API key has been revoked")
    # Read by the view instead of asking the cache again (see prompts.cache.cached_resolution).
    request._request.cache_prefetched = counted.values
    now = time.time()
    return [
        Usage(
            limit=item.budget.limit,
            remaining=max(item.budget.limit - item.count, 0),
            reset_seconds=max(item.window_ends - int(now), 1),
            limited=item.limited,
        )
        for item in counted.counts
    ]


class APIKeyRateThrottle(BaseThrottle):
    def allow_request(self, request: Request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, APIKey):
            return True
        budgets = [("requests", api_key.requests_per_minute or settings.API_DEFAULT_REQUESTS_PER_MINUTE)]
        if counts_as_run(request, view):
            budgets.append(("runs", api_key.runs_per_minute or settings.API_DEFAULT_RUNS_PER_MINUTE))
        usages = _usages(request, view, api_key=api_key, budgets=budgets)
        if usages is None:
            return True  # fails open: see the module's docstring
        tightest: Usage | None = None
        for usage in usages:
            if tightest is None or usage.limited or (not tightest.limited and usage.remaining < tightest.remaining):
                tightest = usage
        # Read by RateLimitHeadersMiddleware to put X-RateLimit-* on the response, whatever its status.
        request._request.rate_limit_usage = tightest
        self._wait = tightest.reset_seconds
        return not tightest.limited

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
