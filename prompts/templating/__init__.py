"""Prompt templates: validation, variable inference and safe rendering.

Pure Python (Jinja2 and jsonschema, no Django): the client package ships this package
(``client/src/llmops_client/templating`` links here), so ``Prompt.compile`` renders as the server does.

A prompt version is ``text`` (one template string) or ``chat`` (a list of
``{"role": "system"|"user"|"assistant", "content": <template>}`` messages); every
template string uses the version's format.

Safety rules
------------
``fstring``
    ``{name}`` substitutes the variable ``name`` (a plain identifier); ``{{`` and ``}}``
    are literal braces. Every other placeholder -- ``{}``, ``{0}``, ``{x.y}``,
    ``{x[0]}``, ``{x!r}``, ``{x:>10}``, ``{0.__class__}`` -- is rejected with a
    ``TemplateError`` (``invalid_template``) naming it, as is an unpaired brace.
    Nothing is ever evaluated: values are substituted in one pass, so a value
    containing ``{other}`` stays literally ``{other}``. Strings are inserted as is,
    lists/dicts as JSON (``ensure_ascii=False``), other values with ``str()``.
``jinja2``
    Rendered in a hardened ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``
    and autoescape off; conditionals, loops, macros and filters work, while private
    attributes (``''.__class__``), imports/includes, mutation, ``str.format`` and
    anything that could build an oversized value are refused. See ``jinja.py``.
    Values are passed to the template as they are.

Variables
---------
The variables of a version are the names its templates read, in order of first
appearance (for jinja2, names found by ``jinja2.meta.find_undeclared_variables`` --
so loop variables and ``{% set %}`` names are excluded -- ordered by first occurrence
in the source; ``range``, ``cycler`` and ``joiner`` are reserved globals). All of them
are required at render time, together with the ``required`` names of the optional
JSON Schema; schema ``default``s fill in missing properties first. Values must be
JSON data; extra variables are ignored.

Limits
------
``MAX_TEMPLATE_CHARS`` per template string, ``MAX_VARIABLES`` distinct variables per
version, ``MAX_MESSAGES`` per chat, ``MAX_OUTPUT_CHARS`` for the whole rendered prompt
(and for any value a jinja2 template builds), ``MAX_RANGE`` items per jinja2
``range()``, ``MAX_RENDER_SECONDS`` for one ``render()`` call: all templates of the prompt
share it. Each public function accepts the limits it applies as keyword arguments.

Time is budgeted beyond one call too: ``render_budget()`` opens a budget that every parse and
render inside shares (a web request, an experiment cell); see ``budget.py``. Exceeding any
open budget is a ``TemplateError`` with code ``render_budget_exceeded``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from . import fstring, jinja
from .budget import RenderBudget, render_budget, template_work
from .errors import (
    INVALID_MESSAGES,
    INVALID_TEMPLATE,
    MAX_MESSAGES,
    MAX_OUTPUT_CHARS,
    MAX_RANGE,
    MAX_RENDER_SECONDS,
    MAX_TEMPLATE_CHARS,
    MAX_VARIABLES,
    RENDER_BUDGET_EXCEEDED,
    TEMPLATE_TOO_LARGE,
    TOO_MANY_VARIABLES,
    TemplateError,
)
from .variables import prepare_variables, validate_variables_schema

__all__ = [
    "CHAT",
    "FSTRING",
    "JINJA2",
    "MAX_MESSAGES",
    "MAX_OUTPUT_CHARS",
    "MAX_RANGE",
    "MAX_RENDER_SECONDS",
    "MAX_TEMPLATE_CHARS",
    "MAX_VARIABLES",
    "RENDER_BUDGET_EXCEEDED",
    "ROLES",
    "TEXT",
    "RenderBudget",
    "RenderedPrompt",
    "TemplateError",
    "infer_variables",
    "render",
    "render_budget",
    "validate_template",
    "validate_variables_schema",
]

TEXT, CHAT = "text", "chat"
FSTRING, JINJA2 = "fstring", "jinja2"
KINDS = (TEXT, CHAT)
FORMATS = (FSTRING, JINJA2)
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class RenderedPrompt:
    text: str | None = None
    messages: list[dict] | None = None

    def as_text(self) -> str:
        """The text, or each message as ``role: content`` on its own line (for hashing/caching)."""
        if self.messages is None:
            return self.text or ""
        return "\n".join(f"{message['role']}: {message['content']}" for message in self.messages)


@dataclass(frozen=True)
class _Source:
    param: str  # where errors about this template point
    text: str
    role: str | None  # None for a text prompt


def validate_template(
    *,
    kind: str,
    template_format: str,
    template: str | None,
    messages: list[dict] | None,
    max_template_chars: int = MAX_TEMPLATE_CHARS,
    max_variables: int = MAX_VARIABLES,
    max_messages: int = MAX_MESSAGES,
) -> list[str]:
    """Check a prompt version's templates and return its variables (see ``infer_variables``)."""
    return infer_variables(
        kind=kind,
        template_format=template_format,
        template=template,
        messages=messages,
        max_template_chars=max_template_chars,
        max_variables=max_variables,
        max_messages=max_messages,
    )


def infer_variables(
    *,
    kind: str,
    template_format: str,
    template: str | None,
    messages: list[dict] | None,
    max_template_chars: int = MAX_TEMPLATE_CHARS,
    max_variables: int = MAX_VARIABLES,
    max_messages: int = MAX_MESSAGES,
) -> list[str]:
    """Variables the templates read, in order of first appearance across them.

    Parsing is the validation, so this raises ``TemplateError`` for any invalid template. Parsing is
    template work: it counts against the open rendering budgets.
    """
    _check_format(template_format)
    names: dict[str, None] = {}
    with template_work() as deadline:
        for source in _sources(kind=kind, template=template, messages=messages, max_messages=max_messages):
            if len(source.text) > max_template_chars:
                raise TemplateError(
                    f"template is {len(source.text)} characters; the limit is {max_template_chars}",
                    code=TEMPLATE_TOO_LARGE,
                    param=source.param,
                )
            try:
                found = fstring.variables(source.text) if template_format == FSTRING else jinja.variables(source.text)
                deadline.check()  # a parse cannot be interrupted: stop after the one that ran out
            except TemplateError as exc:
                raise exc.located(source.param) from None
            names.update(dict.fromkeys(found))
            if len(names) > max_variables:
                raise TemplateError(
                    f"templates use more than {max_variables} variables",
                    code=TOO_MANY_VARIABLES,
                    param=source.param,
                )
    return list(names)


def render(
    *,
    kind: str,
    template_format: str,
    template: str | None,
    messages: list[dict] | None,
    variables: Mapping[str, object],
    variables_schema: dict | None = None,
    max_template_chars: int = MAX_TEMPLATE_CHARS,
    max_variables: int = MAX_VARIABLES,
    max_messages: int = MAX_MESSAGES,
    max_output_chars: int = MAX_OUTPUT_CHARS,
    max_range: int = MAX_RANGE,
    max_render_seconds: float = MAX_RENDER_SECONDS,
) -> RenderedPrompt:
    """Validate everything, then render each template with the prepared variables.

    The call has one rendering budget of ``max_render_seconds`` for all its templates, inside any
    budget already open (a request's, a cell's): the tighter one stops the work.
    """
    with render_budget(seconds=max_render_seconds, scope="this prompt"), template_work() as deadline:
        names = infer_variables(
            kind=kind,
            template_format=template_format,
            template=template,
            messages=messages,
            max_template_chars=max_template_chars,
            max_variables=max_variables,
            max_messages=max_messages,
        )
        validate_variables_schema(variables_schema)
        schema_required = (variables_schema or {}).get("required", [])
        values = prepare_variables(variables, required=[*names, *schema_required], schema=variables_schema)

        room = max_output_chars  # the limit covers the whole prompt, not each message
        rendered: list[_Source] = []
        for source in _sources(kind=kind, template=template, messages=messages, max_messages=max_messages):
            try:
                deadline.check()
                if template_format == FSTRING:
                    text = fstring.render(source.text, values, max_output_chars=room)
                else:
                    text = jinja.render(
                        source.text, values, max_output_chars=room, max_range=max_range, deadline=deadline
                    )
            except TemplateError as exc:
                raise exc.located(source.param) from None
            room -= len(text)
            rendered.append(_Source(param=source.param, text=text, role=source.role))

    if kind == TEXT:
        return RenderedPrompt(text=rendered[0].text)
    return RenderedPrompt(messages=[{"role": item.role, "content": item.text} for item in rendered])


def _check_format(template_format: str) -> None:
    if template_format not in FORMATS:
        raise TemplateError(
            f"template format must be one of {', '.join(FORMATS)}",
            code=INVALID_TEMPLATE,
            param="template_format",
        )


def _sources(*, kind: str, template: str | None, messages: list[dict] | None, max_messages: int) -> Iterator[_Source]:
    """The template strings of a version, after checking its shape."""
    if kind == TEXT:
        if messages:
            raise TemplateError("a text prompt has no messages", code=INVALID_MESSAGES, param="messages")
        if not isinstance(template, str):
            raise TemplateError("a text prompt needs a template string", code=INVALID_TEMPLATE, param="template")
        yield _Source(param="template", text=template, role=None)
        return
    if kind != CHAT:
        raise TemplateError(f"kind must be one of {', '.join(KINDS)}", code=INVALID_TEMPLATE, param="kind")
    if template:
        raise TemplateError("a chat prompt uses messages, not a template", code=INVALID_TEMPLATE, param="template")
    if not isinstance(messages, list) or not messages:
        raise TemplateError("a chat prompt needs a non-empty list of messages", code=INVALID_MESSAGES, param="messages")
    if len(messages) > max_messages:
        raise TemplateError(
            f"a chat prompt may have at most {max_messages} messages", code=INVALID_MESSAGES, param="messages"
        )
    for index, message in enumerate(messages):
        yield _message_source(index, message)


def _message_source(index: int, message: object) -> _Source:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise TemplateError("each message must be an object with role and content", code=INVALID_MESSAGES, param=param)
    unexpected = sorted(str(key) for key in message.keys() - {"role", "content"})
    if unexpected:
        raise TemplateError(f"unexpected message field(s): {', '.join(unexpected)}", code=INVALID_MESSAGES, param=param)
    if message.get("role") not in ROLES:
        raise TemplateError(f"role must be one of {', '.join(ROLES)}", code=INVALID_MESSAGES, param=f"{param}.role")
    if not isinstance(message.get("content"), str):
        raise TemplateError("content must be a string", code=INVALID_MESSAGES, param=f"{param}.content")
    return _Source(param=f"{param}.content", text=message["content"], role=message["role"])
