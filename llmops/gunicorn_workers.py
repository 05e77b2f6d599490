"""Gunicorn workers that answer the requests gunicorn itself refuses in the API's JSON error envelope.

Gunicorn parses the request line and headers before Django runs, and refuses an over-long request
line (414), over-long or too many headers (431) and a malformed request (400) with its own HTML
page, which no Django view, middleware or handler ever sees. The one place those answers are
written is the worker's ``handle_error``; these subclasses write the envelope there and leave every
other error (the application's own, TLS, proxy protocol) to gunicorn. The limits stay gunicorn's,
so memory per request stays bounded. docker/gunicorn.conf.py selects the worker.

Nothing here needs Django's settings: the gunicorn master loads this module before any application.
"""

from __future__ import annotations

import json
import uuid

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker


def _present(*names: str) -> tuple[type[Exception], ...]:
    # Some parse errors exist only in newer gunicorn releases.
    return tuple(getattr(http_errors, name) for name in names if hasattr(http_errors, name))


# A header the application produced is the application's fault: gunicorn's 500 stays.
_APPLICATION_ERRORS = _present("InvalidResponseHeader", "InvalidResponseHeaderName")
# (exception classes, status, reason phrase, error type, code, what the client did wrong)
_ANSWERS = (
    (
        _present("LimitRequestLine"),
        414,
        "URI Too Long",
        "uri_too_long",
        "request_line_too_long",
        "the request line (method, path and query string) is longer than the server accepts; "
        "send long parameters in a request body",
    ),
    (
        _present("LimitRequestHeaders"),
        431,
        "Request Header Fields Too Large",
        "header_fields_too_large",
        "header_fields_too_large",
        "a request header is longer than the server accepts, or there are too many headers",
    ),
    (
        _present(
            "InvalidRequestLine",
            "InvalidRequestMethod",
            "InvalidHTTPVersion",
            "InvalidHeader",
            "InvalidHeaderName",
            "ObsoleteFolding",
            "InvalidSchemeHeaders",
            "InvalidChunkSize",
            "ChunkMissingTerminator",
            "InvalidChunkExtension",
        ),
        400,
        "Bad Request",
        "validation_error",
        "malformed_request",
        "the HTTP request is malformed",
    ),
)


def error_response(exc: Exception) -> tuple[int, bytes] | None:
    """The status and the complete HTTP response for a request gunicorn refused, or None to let
    gunicorn answer."""
    if isinstance(exc, _APPLICATION_ERRORS):
        return None
    answer = next((answer for answer in _ANSWERS if answer[0] and isinstance(exc, answer[0])), None)
    if answer is None:
        return None
    _, status, reason, error_type, code, message = answer
    request_id = uuid.uuid4().hex
    detail = str(exc)[:200]  # gunicorn's detail can quote the offending bytes: keep it short
    body = json.dumps(
        {
            "error": {"type": error_type, "message": f"{message} ({detail})", "param": None, "code": code},
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return status, head.encode("latin-1") + body


class _JsonErrors:
    def handle_error(self, req, client, addr, exc) -> None:  # gunicorn's signature
        answer = error_response(exc)
        if answer is None:
            super().handle_error(req, client, addr, exc)
            return
        status, response = answer
        ip = (addr or ("", -1))[0]  # no address on a unix socket
        self.log.warning("Invalid request from ip=%s: %s (answered %s)", ip, exc, status)
        try:
            util.write_nonblock(client, response)
        except Exception:  # the client may be gone; gunicorn ignores this too
            self.log.debug("Failed to send error message.")


class JsonErrorSyncWorker(_JsonErrors, SyncWorker):
    """gunicorn's sync worker (one request at a time per process)."""


class JsonErrorThreadWorker(_JsonErrors, ThreadWorker):
    """gunicorn's gthread worker (GUNICORN_THREADS > 1)."""
