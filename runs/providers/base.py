"""Provider-neutral request, result and error types shared by every model provider."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

ERROR_TYPES = frozenset(
    {
        "rate_limited",
        "server_error",
        "timeout",
        "connection_error",
        "bad_response",
        "bad_request",
        "authentication",
        "not_found",
        "provider_error",
    }
)

# Generation parameters a provider understands, with the type each value is coerced to.
# Values arrive from JSON/forms, so "0.2" or 64.0 must work; anything else is ignored.
_INT_PARAMETERS = ("max_tokens", "seed")
_FLOAT_PARAMETERS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompt: str | None = None
    messages: list[dict] | None = None
    parameters: dict = field(default_factory=dict)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a log line or a traceback
    provider: str | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: int
    finish_reason: str | None
    model: str


class ProviderError(Exception):
    """A failed model call, classified so the caller can decide whether to try again."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
        error_type: str = "provider_error",
    ) -> None:
        if error_type not in ERROR_TYPES:
            raise ValueError(f"unknown provider error type {error_type!r}")
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.error_type = error_type

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by Exception's default pickling, which Celery relies on.
        return (
            _rebuild_provider_error,
            (self.message, self.retryable, self.status_code, self.retry_after, self.error_type),
        )

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, error_type={self.error_type!r}, retryable={self.retryable}, "
            f"status_code={self.status_code}, retry_after={self.retry_after})"
        )


def _rebuild_provider_error(
    message: str, retryable: bool, status_code: int | None, retry_after: float | None, error_type: str
) -> ProviderError:
    return ProviderError(
        message, retryable=retryable, status_code=status_code, retry_after=retry_after, error_type=error_type
    )


@runtime_checkable
class Provider(Protocol):
    kind: ClassVar[str]

    def complete(self, request: CompletionRequest) -> Completion: ...


def bad_request(message: str) -> ProviderError:
    return ProviderError(message, retryable=False, error_type="bad_request")


def request_messages(request: CompletionRequest) -> list[dict]:
    """The request as chat messages: a text prompt becomes a single user message."""
    if request.messages is not None and request.prompt is not None:
        raise bad_request("a completion request takes either a prompt or messages, not both")
    if request.messages is not None:
        if not request.messages:
            raise bad_request("a chat request needs at least one message")
        for message in request.messages:
            if not isinstance(message, dict) or "role" not in message:
                raise bad_request(f"each chat message needs a role and content, got {message!r}")
        return list(request.messages)
    if request.prompt is not None:
        return [{"role": "user", "content": request.prompt}]
    raise bad_request("a completion request needs a prompt or messages")


def normalize_parameters(parameters: dict) -> dict[str, Any]:
    """Known generation parameters with coerced types; unknown keys and None values are dropped."""
    normalized: dict[str, Any] = {}
    for name in _INT_PARAMETERS:
        value = parameters.get(name)
        if value is not None:
            normalized[name] = _coerce(name, value, int)
    for name in _FLOAT_PARAMETERS:
        value = parameters.get(name)
        if value is not None:
            normalized[name] = _coerce(name, value, float)
    if "max_tokens" in normalized and normalized["max_tokens"] < 1:
        raise bad_request(f"max_tokens must be at least 1, got {normalized['max_tokens']}")
    stop = parameters.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list | tuple) or not all(isinstance(s, str) for s in stops):
            raise bad_request(f"stop must be a string or a list of strings, got {stop!r}")
        if stops:
            normalized["stop"] = list(stops)
    return normalized


def _coerce(name: str, value: Any, kind: type[int] | type[float]) -> int | float:
    if isinstance(value, bool):
        raise bad_request(f"parameter {name} must be a number, got {value!r}")
    if isinstance(value, int):
        # Exact path for ints: a 64-bit seed would lose precision through float().
        return value if kind is int else float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise bad_request(f"parameter {name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise bad_request(f"parameter {name} must be finite, got {value!r}")
    if kind is int:
        if not number.is_integer():
            raise bad_request(f"parameter {name} must be an integer, got {value!r}")
        return int(number)
    return number
