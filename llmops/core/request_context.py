"""Per-request (or per-task) context shared by logging, Celery and services."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Identifiers that every log line written while handling one run or experiment carries.
log_fields_var: ContextVar[dict[str, str]] = ContextVar("log_fields", default={})  # noqa: B039 - never mutated

# Accept a caller's id only if it is short and plain, so it is safe in logs and headers.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{8,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(candidate: str | None) -> str:
    # fullmatch: "$" alone would let a trailing newline through into logs and the response header.
    if candidate and _VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Within the block, log records carry these fields (e.g. run_id, experiment_id)."""
    merged = {**log_fields_var.get(), **{name: str(value) for name, value in fields.items() if value is not None}}
    token = log_fields_var.set(merged)
    try:
        yield
    finally:
        log_fields_var.reset(token)


def current_log_fields() -> dict[str, str]:
    return log_fields_var.get()
