"""One error envelope for the whole API (see the API conventions):

{"error": {"type", "message", "param", "code"[, "fields"]}, "request_id"}

A request that fails because PostgreSQL (or Redis, where nothing falls back) does not answer is a
503 ``unavailable`` with Retry-After, not a 500: the client should try again, nothing is broken.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerOperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from llmops.core import resilience
from llmops.core.errors import ERROR_TYPES, DomainError
from llmops.core.request_context import current_request_id

logger = logging.getLogger(__name__)

STATUS_BY_TYPE = {name: error_type.status for name, error_type in ERROR_TYPES.items()}
# A DRF error carries a status only; 402 and 500 are never DRF's, so their types come from our errors.
_TYPE_BY_STATUS = {status: name for name, status in STATUS_BY_TYPE.items() if status not in (402, 500)}


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


# What an outage of each dependency raises: connection refused, reset or timed out, a server that
# shut down or restarted, a statement cancelled, and the like.
_OUTAGES: tuple[tuple[tuple[type[BaseException], ...], str, str], ...] = (
    ((DatabaseOperationalError, DatabaseInterfaceError), "database", "the database"),
    ((redis.ConnectionError, redis.TimeoutError), "redis", "Redis"),
    ((BrokerOperationalError,), "broker", "the task broker"),
)


def outage_of(exc: BaseException | None) -> tuple[str, str] | None:
    """(component, what) when ``exc`` says a dependency is unavailable, else None."""
    for types, component, what in _OUTAGES:
        if isinstance(exc, types):
            return component, what
    return None


def retry_after() -> str:
    return str(settings.UNAVAILABLE_RETRY_AFTER_SECONDS)


def _outage_body(exc: BaseException, where: str) -> dict | None:
    """The envelope of a 503 for a dependency's outage (counted and logged), else None."""
    outage = outage_of(exc)
    if outage is None:
        return None
    component, what = outage
    resilience.degraded(component, exc, consequence=f"answered 503 to {where}", dependency=what)
    return error_body(
        error_type="unavailable",
        message=f"{what} is unavailable; try again in a few seconds",
        code=f"{component}_unavailable",
    )


def unavailable_response(request: HttpRequest, exc: BaseException | None) -> HttpResponse | None:
    """The 503 for a dependency's outage (the envelope under /api/, plain text elsewhere), else None."""
    body = _outage_body(exc, f"{request.method} {request.path}") if exc is not None else None
    if body is None:
        return None
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        response = HttpResponse(f"503 Service Unavailable: {body['error']['message']}\n", status=503)
        response["Content-Type"] = "text/plain; charset=utf-8"
    response["Retry-After"] = retry_after()
    return response


def exception_handler(exc: Exception, context: dict) -> Response | None:
    request = context.get("request")
    body = _outage_body(exc, f"{request.method} {request.path}" if request is not None else "a request")
    if body is not None:
        return Response(body, status=503, headers={"Retry-After": retry_after()})
    if isinstance(exc, DomainError):
        response = Response(
            error_body(error_type=exc.error_type, message=exc.message, code=exc.code, param=exc.param),
            status=STATUS_BY_TYPE[exc.error_type],
        )
        if response.status_code == 503:
            response["Retry-After"] = retry_after()
        return response
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

    if isinstance(exc, exceptions.ValidationError):
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
    if response.status_code == 503 and not response.has_header("Retry-After"):
        response["Retry-After"] = retry_after()
    return response


def _json_error(status_code: int, error_type: str, message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(error_type=error_type, message=message, code=code), status=status_code)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(status.HTTP_404_NOT_FOUND, "not_found", f"no route matches {request.path}", "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls its 500 handler while handling the exception: an outage is a 503, not a bug.
    unavailable = unavailable_response(request, sys.exc_info()[1])
    if unavailable is not None:
        return unavailable
    return _json_error(
        500, "internal_error", "internal server error; quote the request id when reporting it", "internal_error"
    )


class UnavailableMiddleware:
    """A view that fails because a dependency is down answers 503 with Retry-After: DRF views get
    this from ``exception_handler``, every other view (the admin) from here. Exceptions outside views
    reach ``server_error`` (the 500 handler), which does the same."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable_response(request, exception)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "validation_error", "bad request", "bad_request")
