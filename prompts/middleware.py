from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from prompts.rendering import rendering_budget


class RenderBudgetMiddleware:
    """One rendering budget per request (``RENDER_BUDGET_SECONDS``), for the API and the admin alike:
    every template parsed or rendered while serving it -- all messages, all versions, all goldens --
    draws from it, so no request keeps a web worker busy rendering for longer. Running out is a
    ``render_budget_exceeded`` validation error from the service that was rendering."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with rendering_budget(scope="this request"):
            return self.get_response(request)
