"""Render a stored prompt version with input variables (the one entry point for runs and experiments)."""

from __future__ import annotations

from llmops.errors import ValidationFailed
from prompts.models import PromptVersion
from prompts.templating import RenderedPrompt, TemplateError, render


def render_version(*, version: PromptVersion, variables: dict) -> RenderedPrompt:
    """The rendered text or messages; a missing or mistyped variable is a ValidationFailed naming it."""
    try:
        return render(
            kind=version.kind,
            template_format=version.template_format,
            template=version.template,
            messages=version.messages or None,
            variables=variables,
            variables_schema=version.variables_schema,
        )
    except TemplateError as error:
        raise ValidationFailed(error.message, code=error.code, param=error.param) from None
