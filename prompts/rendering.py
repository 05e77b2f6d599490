"""Render a stored prompt version with input variables (the one entry point for runs and experiments)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from django.conf import settings

from llmops.core.errors import ValidationFailed
from prompts.models import PromptVersion
from prompts.templating import RenderBudget, RenderedPrompt, TemplateError, render, render_budget


def rendering_budget(*, scope: str) -> AbstractContextManager[RenderBudget]:
    """One budget of ``RENDER_BUDGET_SECONDS`` shared by all template work of ``scope`` (a request,
    an experiment cell), however many prompts, messages or versions it renders."""
    return render_budget(seconds=settings.RENDER_BUDGET_SECONDS, scope=scope)


def render_version(*, version: PromptVersion, variables: dict) -> RenderedPrompt:
    """The rendered text or messages; a missing or mistyped variable, or a render that runs out of
    its budget (``render_budget_exceeded``), is a ValidationFailed naming it."""
    try:
        return render(
            kind=version.kind,
            template_format=version.template_format,
            template=version.template,
            messages=version.messages or None,
            variables=variables,
            variables_schema=version.variables_schema,
            max_render_seconds=settings.RENDER_BUDGET_SECONDS,
        )
    except TemplateError as error:
        raise ValidationFailed(error.message, code=error.code, param=error.param) from None
