"""DRF authentication by project API key: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import APIKey, Project
from accounts.services import AuthenticationError, api_key_authenticate


@dataclass(frozen=True)
class APIKeyPrincipal:
    """Who is calling: a project's key. Stands in for ``request.user`` in API views."""

    api_key: APIKey

    is_authenticated = True
    is_anonymous = False

    @property
    def project(self) -> Project:
        return self.api_key.project

    @property
    def user(self):
        return self.api_key.created_by

    def __str__(self) -> str:
        return f"key {self.api_key.prefix}"


def credentials_from(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <api key>'")
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


class APIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[APIKeyPrincipal, APIKey] | None:
        raw = credentials_from(request)
        if raw is None:
            return None
        try:
            api_key = api_key_authenticate(raw=raw)
        except AuthenticationError as error:
            raise exceptions.AuthenticationFailed(str(error)) from None
        return APIKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="llmops"'
