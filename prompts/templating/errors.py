"""The error raised by the template engine, its codes, and the limits that trigger them."""

from __future__ import annotations

import functools

# Limits. Public functions take each one as a keyword argument defaulting to these.
MAX_TEMPLATE_CHARS = 100_000  # per template string (the text template or one message's content)
MAX_VARIABLES = 100  # distinct variables per prompt version
MAX_OUTPUT_CHARS = 200_000  # rendered prompt, and any single value built while rendering
MAX_MESSAGES = 100  # messages per chat prompt
MAX_RANGE = 10_000  # items a jinja2 range() may produce
MAX_RENDER_SECONDS = 2.0  # rendering budget of one render() call: all templates of the prompt together

# Error codes.
MISSING_VARIABLE = "missing_variable"
INVALID_VARIABLE = "invalid_variable"
INVALID_TEMPLATE = "invalid_template"
UNSAFE_TEMPLATE = "unsafe_template"
TEMPLATE_TOO_LARGE = "template_too_large"
TOO_MANY_VARIABLES = "too_many_variables"
OUTPUT_TOO_LARGE = "output_too_large"
RENDER_BUDGET_EXCEEDED = "render_budget_exceeded"
INVALID_SCHEMA = "invalid_schema"
INVALID_MESSAGES = "invalid_messages"

_MAX_DETAIL_CHARS = 300


class TemplateError(ValueError):
    """A template, its variables or its schema cannot be used.

    ``code`` is a stable machine-readable reason, ``param`` points at the offending
    input (``"template"``, ``"messages[1].content"``, ``"variables.input"``...).
    """

    def __init__(self, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Keyword-only arguments need help to survive pickling (task queues, caches).
        return functools.partial(TemplateError, code=self.code, param=self.param), (self.message,)

    def __repr__(self) -> str:
        return f"TemplateError({self.message!r}, code={self.code!r}, param={self.param!r})"

    def located(self, param: str) -> TemplateError:
        """This error, pointing at ``param`` unless it already points somewhere."""
        if self.param is not None:
            return self
        return TemplateError(self.message, code=self.code, param=param)


def clip(text: str, limit: int = _MAX_DETAIL_CHARS) -> str:
    """Shorten text quoted in error messages; it may contain user data of any size."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
