"""One error envelope for the whole API (see the API conventions):

{"error": {"type", "message", "param", "code"[, "fields"]}, "request_id"}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from llmops.errors import DomainError
from llmops.request_context import current_request_id

logger = logging.getLogger(__name__)

STATUS_BY_TYPE = {
    "authentication_error": 401,
    "budget_exceeded": 402,
    "permission_error": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 400,
    "rate_limit": 429,
    "internal_error": 500,
    "unavailable": 503,
}

_TYPE_BY_STATUS = {
    400: "validation_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limit",
    503: "unavailable",
}


class ApiError(exceptions.APIException):
    """An API error with an explicit type, code and param, for views that need one directly."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str = "validation_error",
        code: str = "invalid",
        param: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code or STATUS_BY_TYPE[error_type]
        self.error_type = error_type
        self.error_code = code
        self.param = param
        self.headers = headers or {}


def error_body(*, error_type: str, message: str, code: str, param: str | None = None, **extra: Any) -> dict:
    error = {"type": error_type, "message": message, "param": param, "code": code, **extra}
    return {"error": error, "request_id": current_request_id()}


def _first_field_error(detail: Any, path: str = "") -> tuple[str | None, str, str]:
    """The first (param, message, code) in a nested serializer error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            child = key if not path else (path if key == "non_field_errors" else f"{path}.{key}")
            if key == "non_field_errors" and not path:
                child = ""
            return _first_field_error(value, child)
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, dict | list):
            return _first_field_error(first, f"{path}[0]" if path else "[0]")
        return _first_field_error(first, path)
    code = getattr(detail, "code", "invalid") or "invalid"
    message = str(detail)
    return (path or None), (f"{path}: {message}" if path else message), code


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(
            error_body(error_type=exc.error_type, message=exc.message, code=exc.code, param=exc.param),
            status=STATUS_BY_TYPE[exc.error_type],
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(error_type="payload_too_large", message=str(exc), code="payload_too_large"), status=413
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected exception: Django's 500 handler answers (see server_error)

    if isinstance(exc, ApiError):
        body = error_body(error_type=exc.error_type, message=str(exc.detail), code=exc.error_code, param=exc.param)
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.ValidationError):
        param, message, code = _first_field_error(exc.detail)
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body(error_type="validation_error", message=message, code=code, param=param, fields=fields)
    else:
        error_type = _TYPE_BY_STATUS.get(response.status_code, "validation_error")
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        if isinstance(exc, exceptions.ParseError):
            code = "parse_error"
        body = error_body(error_type=error_type, message=str(detail), code=str(code))
    response.data = body
    return response


def _json_error(status_code: int, error_type: str, message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(error_type=error_type, message=message, code=code), status=status_code)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(status.HTTP_404_NOT_FOUND, "not_found", f"no route matches {request.path}", "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(
        500, "internal_error", "internal server error; quote the request id when reporting it", "internal_error"
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "validation_error", "bad request", "bad_request")
