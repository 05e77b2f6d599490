"""Errors raised by the client. Every API error carries the server's envelope fields."""

from __future__ import annotations

from .templating.errors import TemplateError

__all__ = ["APIError", "ConnectionFailed", "LLMOpsError", "TemplateError"]


class LLMOpsError(Exception):
    """Base class of every error the client raises (``TemplateError`` aside: see ``Prompt.compile``)."""


class ConnectionFailed(LLMOpsError):
    """The server could not be reached (refused, reset, timed out) within the retry deadline."""


class APIError(LLMOpsError):
    """An error answer of the API: ``status`` and the envelope's ``type``, ``code``, ``param``, ``message``."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str = "",
        code: str = "",
        param: str | None = None,
        request_id: str = "",
        retry_after: float | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        where = f" ({self.param})" if self.param else ""
        return f"{self.status} {self.type or 'error'}: {self.message}{where}"
