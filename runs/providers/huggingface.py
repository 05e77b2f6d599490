"""Chat completions through huggingface_hub's InferenceClient.

With ``base_url`` the client talks to any OpenAI-compatible server (vLLM, TGI, llama.cpp server, ...);
without it, to Hugging Face Inference Providers selected by ``provider``.

huggingface_hub 2.x sends ``chat_completion`` as exactly one HTTP request: ``InferenceClient._inner_post``
has no retry loop (older releases polled on 503 "model loading") and the shared httpx2 client uses a
transport with ``retries=0``. Every ``complete()`` call is therefore one attempt, which the callers count.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx2
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, OfflineModeIsEnabled
from huggingface_hub.inference._providers import PROVIDERS

from llmops.core.outbound import RedirectRefused, install_outbound_client

from .base import Completion, CompletionRequest, ProviderError, normalize_parameters, request_messages
from .registry import register

# Server error text is kept for diagnosis but bounded: a misbehaving server can return megabytes.
_MAX_MESSAGE_CHARS = 500

# Functions of huggingface_hub that turn the response body into output objects; a ValueError raised
# inside them means the server's body was unusable, not that the request was wrong.
_PARSING_FUNCTIONS = frozenset({"parse_obj", "parse_obj_as_instance"})


@register
class HuggingFaceProvider:
    kind: ClassVar[str] = "huggingface"

    def complete(self, request: CompletionRequest) -> Completion:
        if request.model.lower().startswith(("http:", "https:")) or "//" in request.model:
            # huggingface_hub would post to a model "id" that is a URL, with the credential.
            raise ProviderError(
                f"model id {request.model[:100]!r} is a URL, not a model id", retryable=False, error_type="bad_request"
            )
        messages = request_messages(request)
        parameters = normalize_parameters(request.parameters)
        client = _client_for(request)
        started = time.perf_counter()
        try:
            output = client.chat_completion(messages, model=request.model, **parameters)
        except Exception as exc:
            error = _translate_error(exc)
            if error is None:
                raise
            raise error from exc
        latency_ms = round((time.perf_counter() - started) * 1000)
        return _to_completion(output, model=request.model, latency_ms=latency_ms)


def hf_provider_names() -> frozenset[str]:
    """Inference Providers huggingface_hub can route to, plus its server-side "auto" policy."""
    return frozenset(PROVIDERS) | {"auto"}


def _client_for(request: CompletionRequest) -> InferenceClient:
    api_key = request.api_key or None
    if request.base_url:
        # InferenceClient treats anything not starting with http(s):// as a Hub model id and would route
        # the request, with the stored HF token, to Hugging Face instead.
        if not request.base_url.startswith(("http://", "https://")):
            raise ProviderError(
                f"base_url must start with http:// or https://, got {request.base_url!r}",
                retryable=False,
                error_type="bad_request",
            )
        # Without an explicit key huggingface_hub falls back to the locally stored HF token and would send
        # it to this arbitrary server; a None header value makes it drop the Authorization header instead.
        headers = None if api_key else {"authorization": None}
        return InferenceClient(
            base_url=request.base_url,
            api_key=api_key,
            timeout=request.timeout,
            headers=headers,  # type: ignore[arg-type]
        )
    return InferenceClient(
        provider=request.provider,  # type: ignore[arg-type]
        api_key=api_key,
        timeout=request.timeout,
    )


def _to_completion(output: Any, *, model: str, latency_ms: int) -> Completion:
    choices = output.get("choices") if isinstance(output, Mapping) else None
    if not isinstance(choices, list) or not choices:
        raise _bad_response("the server's response has no choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        raise _bad_response("the server's response has no message in its first choice")
    text = message.get("content")
    if text is None:
        text = ""  # e.g. a reply made only of tool calls
    if not isinstance(text, str):
        raise _bad_response(f"the server's message content is not text: {type(text).__name__}")
    finish_reason = choice.get("finish_reason")
    usage = output.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    served_model = output.get("model")
    return Completion(
        text=text,
        input_tokens=_token_count(usage.get("prompt_tokens")),
        output_tokens=_token_count(usage.get("completion_tokens")),
        latency_ms=latency_ms,
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        model=served_model if isinstance(served_model, str) and served_model else model,
    )


def _token_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def _translate_error(exc: Exception) -> ProviderError | None:
    """Map an exception from InferenceClient to a ProviderError; None for programming errors."""
    # Order matters: HfHubHTTPError and InferenceTimeoutError both subclass httpx2.HTTPError,
    # and BadRequestError also subclasses ValueError.
    if isinstance(exc, RedirectRefused):
        return ProviderError(str(exc), retryable=False, status_code=exc.status_code, error_type="bad_request")
    if isinstance(exc, HfHubHTTPError):
        return _from_http_error(exc)
    if isinstance(exc, InferenceTimeoutError | httpx2.TimeoutException):
        return ProviderError(f"the model server did not answer in time: {exc}", retryable=True, error_type="timeout")
    if isinstance(exc, OfflineModeIsEnabled):
        return ProviderError(
            "huggingface_hub refuses network calls because HF_HUB_OFFLINE is set",
            retryable=False,
            error_type="connection_error",
        )
    if isinstance(exc, httpx2.RemoteProtocolError):
        if "without sending a response" in str(exc):
            return _connection_error(f"the model server closed the connection: {exc}")
        return _bad_response(f"the model server sent a broken response: {exc}")
    if isinstance(exc, httpx2.DecodingError):
        return _bad_response(f"the model server's response could not be decoded: {exc}")
    if isinstance(exc, httpx2.NetworkError | httpx2.ProxyError):
        return _connection_error(f"could not reach the model server: {exc}")
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.LocalProtocolError | httpx2.InvalidURL):
        return ProviderError(f"invalid model server settings: {exc}", retryable=False, error_type="bad_request")
    if isinstance(exc, httpx2.HTTPError):
        return ProviderError(f"model server request failed: {exc}", retryable=False)
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return _bad_response(f"the model server's response is not valid JSON: {_clip(str(exc))}")
    if isinstance(exc, ValueError):
        if _raised_while_parsing(exc):
            return _bad_response(f"the model server's response has an unexpected shape: {_clip(str(exc))}")
        # Raised before any request is sent: missing token, model not served by that provider, ...
        return ProviderError(_clip(str(exc)), retryable=False, error_type="bad_request")
    return None


def _from_http_error(exc: HfHubHTTPError) -> ProviderError:
    response = exc.response
    status_code = response.status_code if response is not None else None
    detail = _clip(_server_detail(exc))
    retry_after = parse_retry_after(response.headers.get("retry-after")) if response is not None else None
    message = f"model server returned HTTP {status_code}: {detail}"
    if status_code == 429:
        error_type, retryable = "rate_limited", True
    elif status_code == 408:
        error_type, retryable = "timeout", True
    elif status_code in (401, 403):
        error_type, retryable = "authentication", False
    elif status_code == 404:
        error_type, retryable = "not_found", False
    elif status_code is not None and 400 <= status_code < 500:
        error_type, retryable = "bad_request", False
    elif status_code is not None and status_code >= 500:
        error_type, retryable = "server_error", True
    else:
        error_type, retryable = "provider_error", False
    return ProviderError(
        message, retryable=retryable, status_code=status_code, retry_after=retry_after, error_type=error_type
    )


def _server_detail(exc: HfHubHTTPError) -> str:
    # OpenAI-compatible servers answer {"error": {"message": ...}}; huggingface_hub would show the dict.
    try:
        data = exc.response.json()
    except Exception:  # any unreadable body: fall back to huggingface_hub's own summary
        data = None
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return data["message"]
    return exc.server_message or str(exc)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, given as delay-seconds or as an HTTP-date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _raised_while_parsing(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_name in _PARSING_FUNCTIONS:
            return True
        traceback = traceback.tb_next
    return False


def _bad_response(message: str) -> ProviderError:
    return ProviderError(message, retryable=True, error_type="bad_response")


def _connection_error(message: str) -> ProviderError:
    return ProviderError(message, retryable=True, error_type="connection_error")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


# Every request huggingface_hub sends goes through the vetted client: each connection is checked
# against the outbound rules where the socket opens, and redirects are refused (llmops.core.outbound).
install_outbound_client()
