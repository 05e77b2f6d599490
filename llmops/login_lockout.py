"""Console login lockout, on django-axes: the pieces this platform plugs into it (settings: AXES_*)."""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off, get_failure_limit
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from llmops.core.api.throttling import client_address


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses the login of a locked-out username or address before any password is checked.

    A call without a request is no login from outside (the test client's ``login()``, a shell):
    there is no address to count, so it goes on to the next backend instead of failing."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The address that failures are counted against: the same one the API's per-address limits use."""
    address = client_address(request)
    return None if address == "unknown" else address


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """A console page that says what happened and for how long (429 with Retry-After)."""
    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else None,
    }
    response = TemplateResponse(request, "admin/login_locked_out.html", context, status=429)
    if cool_off:
        response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response.render()
