from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from llmops.request_context import accept_request_id, current_request_id, request_id_var


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
