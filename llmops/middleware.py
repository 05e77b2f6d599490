from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from llmops.request_context import accept_request_id, request_id_var


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
