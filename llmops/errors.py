"""Domain errors raised by services; the API layer turns them into the error envelope.

Services stay free of HTTP: they say what went wrong (type, code, param), the exception handler
picks the status code.
"""

from __future__ import annotations


class DomainError(Exception):
    error_type = "validation_error"
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param


class ValidationFailed(DomainError):
    error_type = "validation_error"


class NotFound(DomainError):
    error_type = "not_found"
    default_code = "not_found"


class Conflict(DomainError):
    error_type = "conflict"
    default_code = "conflict"


class PermissionDenied(DomainError):
    error_type = "permission_error"
    default_code = "permission_denied"


class Unavailable(DomainError):
    error_type = "unavailable"
    default_code = "unavailable"
