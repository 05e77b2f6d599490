from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults

from llmops.core.api.errors import error_body
from llmops.core.request_context import accept_request_id, current_request_id, request_id_var


class RequestIDMiddleware:
    """Gives every request an id (the caller's, when well-formed), for logs, tasks and the response."""

    header = "X-Request-ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_request_id(request.headers.get(self.header))
        request.request_id = request_id
        # Cleared on request_finished, not here: Django logs the response (e.g. "Not Found")
        # after the middleware chain has returned, and that line must carry the id too.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[self.header] = request_id
        return response


def clear_request_id(**_: object) -> None:
    request_id_var.set(None)


# Text no encoder accepts. Query bytes that are not UTF-8 (an encoded surrogate included) decode to
# lone surrogates below, so they are caught by the same test.
_SURROGATE = re.compile("[\ud800-\udfff]")
# RFC 9110 5.5: a field value with NUL, CR or LF must be rejected (or those characters replaced).
_HEADER_DEFECTS = {"\x00": "a NUL character", "\r": "a line break", "\n": "a line break"}


def _wsgi_bytes(raw: str) -> bytes:
    # WSGI environ strings carry the raw bytes as Latin-1 (PEP 3333).
    try:
        return raw.encode("latin-1")
    except UnicodeEncodeError:  # not from a WSGI server: already text
        return raw.encode("utf-8", "surrogatepass")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _defect(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if _SURROGATE.search(text):
        return "is not valid UTF-8"
    return None


def _path_param(path: str) -> str:
    """The route parameter that holds the bad text, when the path matches a route."""
    try:
        match = resolve(path)
    except Resolver404:
        return "path"
    return next((name for name, value in match.kwargs.items() if isinstance(value, str) and _defect(value)), "path")


def url_text_problem(request: HttpRequest) -> tuple[str | None, str] | None:
    """(param, message) for a path or query string holding text PostgreSQL cannot store, else None."""
    # Django already turned bytes of the path that are not UTF-8 into literal "%XX" text.
    if defect := _defect(request.path_info):
        return _path_param(request.path_info), f"the URL path {defect}"
    # Split as QueryDict does, but decode strictly: QueryDict turns bad bytes into U+FFFD silently.
    for field in _wsgi_bytes(request.META.get("QUERY_STRING", "")).split(b"&"):
        raw_name, _, raw_value = field.partition(b"=")
        name = _text(unquote_to_bytes(raw_name.replace(b"+", b" ")))
        if defect := _defect(name):
            return None, f"a query parameter name {defect}"
        if defect := _defect(_text(unquote_to_bytes(raw_value.replace(b"+", b" ")))):
            return name, f"query parameter '{name}' {defect}"
    return None


def header_text_problem(request: HttpRequest) -> tuple[str | None, str] | None:
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) and isinstance(value, str):
            for character, description in _HEADER_DEFECTS.items():
                if character in value:
                    header = key.removeprefix("HTTP_").replace("_", "-").title()
                    return header, f"header {header} contains {description}"
    return None


class RequestTextGuardMiddleware:
    """Refuses a request whose URL or headers carry text that cannot be stored or echoed (400).

    PostgreSQL text cannot hold NUL and no encoder takes a lone surrogate, so such a value in a path
    parameter, a filter or a key header would reach a query as a 500. Checked once here, before
    sessions, authentication and any view, it covers every route, including those added later. The
    API answers with the error envelope, everything else (the admin) with Django's 400 page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = url_text_problem(request) or header_text_problem(request)
        if problem is None:
            return self.get_response(request)
        param, message = problem
        if request.path.startswith("/api/"):
            return JsonResponse(
                error_body(error_type="validation_error", message=message, code="invalid_characters", param=param),
                status=400,
            )
        return defaults.bad_request(request, SuspiciousOperation(message))


class BodySizeLimitMiddleware:
    """Refuses an API request whose declared body exceeds the cap before anything reads it (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if declared > limit:
                return JsonResponse(
                    {
                        "error": {
                            "type": "payload_too_large",
                            "message": f"request body is larger than {limit} bytes",
                            "param": None,
                            "code": "payload_too_large",
                        },
                        "request_id": current_request_id(),
                    },
                    status=413,
                )
        return self.get_response(request)


class RateLimitHeadersMiddleware:
    """Adds X-RateLimit-Limit/-Remaining/-Reset to API responses whose key was counted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        usage = getattr(request, "rate_limit_usage", None)
        if usage is not None:
            response["X-RateLimit-Limit"] = str(usage.limit)
            response["X-RateLimit-Remaining"] = str(usage.remaining)
            response["X-RateLimit-Reset"] = str(usage.reset_seconds)
        return response
