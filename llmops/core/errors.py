"""Domain errors raised by services; the API layer turns them into the error envelope.

Services stay free of HTTP: they say what went wrong (type, code, param), the exception handler
picks the status code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorType:
    status: int
    description: str  # of the status, in the OpenAPI document


# Every ``error.type`` of the envelope, once: its HTTP status and what it means. The exception
# handler, the OpenAPI document and DRF errors (typed by their status) all read this table.
ERROR_TYPES: dict[str, ErrorType] = {
    "validation_error": ErrorType(400, "Invalid input; `error.param` names the field"),
    "authentication_error": ErrorType(401, "Missing, malformed, unknown, revoked or expired API key"),
    "budget_exceeded": ErrorType(402, "Cost budget exceeded"),
    "permission_error": ErrorType(403, "The key lacks the scope this operation needs"),
    "not_found": ErrorType(404, "No such object in the key's project"),
    "method_not_allowed": ErrorType(405, "Method not allowed"),
    "not_acceptable": ErrorType(406, "Not acceptable"),
    "conflict": ErrorType(409, "Conflict with the current state"),
    "payload_too_large": ErrorType(413, "Request body too large"),
    "unsupported_media_type": ErrorType(415, "Unsupported media type"),
    "rate_limit": ErrorType(429, "Rate limit exceeded; see Retry-After"),
    "internal_error": ErrorType(500, "A bug on the server"),
    "unavailable": ErrorType(503, "A dependency is unavailable"),
}


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
