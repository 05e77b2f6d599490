"""The platform operator's credential: METRICS_TOKEN as a bearer token.

It belongs to no project and sees platform-wide state (every project's metrics, worker names in
the health report). Put it before APIKeyAuthentication: a bearer value that is not the token falls
through to the API keys.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from rest_framework import authentication
from rest_framework.request import Request


class PlatformPrincipal:
    is_authenticated = True
    is_anonymous = False
    project = None

    def __str__(self) -> str:
        return "platform token"


class PlatformTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[PlatformPrincipal, None] | None:
        token = settings.METRICS_TOKEN
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if not token or scheme.lower() != "bearer":
            return None
        if secrets.compare_digest(presented.strip().encode(), token.encode()):
            return PlatformPrincipal(), None
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="llmops"'


def is_platform(request: Request) -> bool:
    return isinstance(request.user, PlatformPrincipal)
