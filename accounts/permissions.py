"""Scope checks. A view may set ``required_scope`` or ``action_scopes``; the default is read for
safe methods and write for the others. The admin scope includes all others."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.request import Request

from accounts.authentication import APIKeyPrincipal


def required_scope(request: Request, view) -> str:
    action_scopes = getattr(view, "action_scopes", {}) or {}
    action = getattr(view, "action", None)
    if action in action_scopes:
        return action_scopes[action]
    explicit = getattr(view, "required_scope", None)
    if explicit:
        return explicit
    return "read" if request.method in permissions.SAFE_METHODS else "write"


class HasScope(permissions.BasePermission):
    message = "this API key lacks the scope this request needs"

    def has_permission(self, request: Request, view) -> bool:
        principal = request.user
        if not isinstance(principal, APIKeyPrincipal):
            return False
        scope = required_scope(request, view)
        if principal.api_key.has_scope(scope):
            return True
        self.message = f"this API key lacks the '{scope}' scope"
        return False
