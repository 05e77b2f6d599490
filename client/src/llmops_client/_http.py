"""HTTP with retries: 429 and 503 honour ``Retry-After``, backoff is jittered, and every call has a deadline."""

from __future__ import annotations

import email.utils
import logging
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import APIError, ConnectionFailed

logger = logging.getLogger("llmops_client")

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Refusals: the server did no work, so any request may be sent again.
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried.

    ``max_attempts`` calls at most; before attempt *n* (n >= 2) the client sleeps a uniform random time in
    ``[0, min(max_backoff, backoff * 2**(n-2))]`` ("full jitter"), and never less than the server's
    ``Retry-After``. Nothing is sent after ``deadline`` seconds from the first attempt: when the next wait
    would pass it, the last error is raised at once.
    """

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 8.0
    deadline: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        jittered = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
        return max(jittered, retry_after or 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def api_error(response: httpx.Response) -> APIError:
    """The envelope of an error answer as an ``APIError`` (a body that is not the envelope is kept as text)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    return APIError(
        str(error.get("message") or (body if isinstance(body, str) and body else response.reason_phrase)),
        status=response.status_code,
        type=str(error.get("type") or ""),
        code=str(error.get("code") or ""),
        param=error.get("param"),
        request_id=str(body.get("request_id") or "") if isinstance(body, dict) else "",
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        body=body,
    )


class Transport:
    """One ``httpx.Client`` for the API, with authentication and the retry loop."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        retry: RetryPolicy,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "llmops-client",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": user_agent},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        idempotency_key: bool | str = False,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send a request, retrying refusals (429, 503) and failures to connect; raise on error answers.

        ``idempotency_key=True`` adds a fresh ``Idempotency-Key`` (a string is used as it is), the same on
        every attempt, so the server answers a retry with the first result instead of doing the work twice.
        With a key, or for GET/HEAD (``idempotent``), a timeout or a dropped connection is retried too;
        without one only errors that prove the request never arrived are. Statuses in ``ok`` (besides
        2xx) are returned rather than raised (e.g. 304).
        """
        policy = retry or self.retry
        sent_headers = dict(headers or {})
        if idempotency_key:
            sent_headers.setdefault(IDEMPOTENCY_HEADER, idempotency_key if isinstance(idempotency_key, str) else "")
            if not sent_headers[IDEMPOTENCY_HEADER]:
                sent_headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
        if idempotent is None:
            idempotent = method in ("GET", "HEAD") or IDEMPOTENCY_HEADER in sent_headers
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = self.http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    content=content,
                    headers=sent_headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure: Exception = ConnectionFailed(f"cannot reach {self.base_url}: {exc}")
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = ConnectionFailed(f"{method} {path} failed: {exc}")
                if not idempotent:
                    raise failure from exc
            else:
                if response.is_success or response.status_code in ok:
                    return response
                failure = api_error(response)
                if response.status_code not in RETRY_STATUSES:
                    raise failure
                retry_after = failure.retry_after
            if attempt >= policy.max_attempts:
                raise failure
            wait = policy.delay(attempt, retry_after)
            if time.monotonic() - started + wait > policy.deadline:
                raise failure
            logger.info("llmops: %s %s: %s; retry %d in %.2f s", method, path, failure, attempt, wait)
            time.sleep(wait)
