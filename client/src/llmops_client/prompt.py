"""A resolved prompt version, compiled locally with the server's own template engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import templating


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt, as ``GET /prompts/by-name/{name}`` returns it.

    ``compile(**variables)`` renders it exactly as the server does (``POST /prompts/{id}/render`` and
    ``POST /run``): the package ships the server's rendering module, so the same variables give the same
    text, and the same mistakes the same ``TemplateError`` (``code``, ``param``, ``message``).
    ``is_fallback`` is true for a prompt built from the caller's ``fallback=`` because the server could not
    be reached and nothing was cached.
    """

    name: str
    version: int | None
    kind: str
    template_format: str
    template: str = ""
    messages: list[dict[str, str]] | None = None
    model_settings: dict[str, Any] = field(default_factory=dict)
    variables: list[str] = field(default_factory=list)
    variables_schema: dict[str, Any] | None = None
    labels: list[str] = field(default_factory=list)
    content_hash: str = ""
    prompt_id: str | None = None
    commit_message: str = ""
    is_fallback: bool = False

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Prompt:
        """From the JSON body of the fetch-by-name endpoint."""
        return cls(
            name=body["prompt"],
            version=body["version"],
            kind=body["kind"],
            template_format=body["template_format"],
            template=body.get("template") or "",
            messages=body.get("messages") or None,
            model_settings=body.get("model_settings") or {},
            variables=list(body.get("variables") or []),
            variables_schema=body.get("variables_schema"),
            labels=list(body.get("labels") or []),
            content_hash=body.get("content_hash") or "",
            prompt_id=body.get("prompt_id"),
            commit_message=body.get("commit_message") or "",
        )

    @classmethod
    def fallback(
        cls,
        name: str,
        content: str | list[dict[str, str]],
        *,
        template_format: str = templating.FSTRING,
        variables_schema: dict[str, Any] | None = None,
    ) -> Prompt:
        """A prompt from local content: a template string (text) or a list of chat messages.

        Its templates are checked now, so a broken fallback fails when it is written, not during an outage.
        """
        kind = templating.TEXT if isinstance(content, str) else templating.CHAT
        template = content if isinstance(content, str) else ""
        messages = None if isinstance(content, str) else [dict(message) for message in content]
        names = templating.infer_variables(
            kind=kind, template_format=template_format, template=template, messages=messages
        )
        return cls(
            name=name,
            version=None,
            kind=kind,
            template_format=template_format,
            template=template,
            messages=messages,
            variables=names,
            variables_schema=variables_schema,
            is_fallback=True,
        )

    def render(self, variables: Mapping[str, object]) -> templating.RenderedPrompt:
        """The rendered text or messages; raises ``TemplateError`` as the server's ``400`` would."""
        return templating.render(
            kind=self.kind,
            template_format=self.template_format,
            template=self.template,  # the arguments the server's render_version passes
            messages=self.messages or None,
            variables=variables,
            variables_schema=self.variables_schema,
        )

    def compile(self, **variables: object) -> str | list[dict[str, str]]:
        """The text of a text prompt, or the messages (``[{"role", "content"}]``) of a chat prompt."""
        rendered = self.render(variables)
        return rendered.text if rendered.messages is None else rendered.messages  # type: ignore[return-value]
