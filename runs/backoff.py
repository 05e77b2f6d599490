"""When to try a failed model call again.

Full jitter (a uniform draw in [0, base * 2**(n-1)], capped) spreads the retries of many runs that
failed together, e.g. on one 429 burst, instead of sending them back in lockstep. A provider's
Retry-After is a floor: retrying earlier only earns another 429.
"""

from __future__ import annotations

import random

from django.conf import settings


def retry_delay(
    *,
    attempt: int,
    retry_after: float | None = None,
    base: float | None = None,
    cap: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    base = settings.RUN_RETRY_BASE_SECONDS if base is None else base
    cap = settings.RUN_RETRY_MAX_SECONDS if cap is None else cap
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    delay = (rng or random).uniform(0.0, ceiling)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return min(delay, cap)
