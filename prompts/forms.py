"""Admin forms. Each validates through the same services the API uses and maps their errors to fields."""

from __future__ import annotations

import re

from django import forms

from llmops.core.errors import DomainError
from llmops.core.forms import CommaListField, ConsoleFormMixin
from prompts import services
from prompts.models import Prompt, PromptVersion
from prompts.validation import MAX_DESCRIPTION_CHARS, check_labels, check_name, check_tags, check_text

_FIELD = re.compile(r"^[a-z_]+")
_ALIASES = {"labels": "new_labels", "label": "new_labels"}  # the service's name -> the form's field


def _add_domain_error(form: forms.Form, error: DomainError) -> None:
    """Put a service error on the field its param names (``messages[1].content`` -> ``messages``)."""
    match = _FIELD.match(error.param or "")
    field = _ALIASES.get(match.group(0), match.group(0)) if match else None
    field = field if field in form.fields else None
    form.add_error(field, error.message)


class VersionContentFields(forms.Form):
    """The content of a new version, as typed in the console; checked by the service that saves it."""

    kind = forms.ChoiceField(choices=PromptVersion.Kind.choices, initial=PromptVersion.Kind.TEXT)
    template_format = forms.ChoiceField(
        choices=PromptVersion.TemplateFormat.choices, initial=PromptVersion.TemplateFormat.FSTRING
    )
    template = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 10, "cols": 100}), help_text="text prompts"
    )
    messages = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100}),
        help_text='chat prompts: [{"role": "system", "content": "..."}, {"role": "user", "content": "{input}"}]',
    )
    model_settings = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 100}),
        help_text='{"model_endpoint": "<endpoint name>", "parameters": {"temperature": 0.2, "max_tokens": 256}}',
    )
    variables_schema = forms.JSONField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 100}), help_text="optional JSON Schema"
    )
    commit_message = forms.CharField(required=False, max_length=500)
    new_labels = CommaListField(
        required=False, label="Labels", help_text="comma-separated labels to point at this version, e.g. staging"
    )

    def clean_version_content(self, data: dict) -> None:
        """Check the version's content through the service (errors on their fields) and keep it."""
        self.content = None
        try:
            data["labels"] = check_labels(data.get("new_labels") or [])
            self.content = services.version_content_prepare(
                kind=data.get("kind") or PromptVersion.Kind.TEXT,
                template_format=data.get("template_format") or PromptVersion.TemplateFormat.FSTRING,
                template=data.get("template") or "",
                messages=data.get("messages") or None,
                model_settings=data.get("model_settings") or None,
                variables_schema=data.get("variables_schema"),
            )
        except DomainError as error:
            _add_domain_error(self, error)

    def version_arguments(self) -> dict:
        content = self.content
        return {
            "kind": content.kind,
            "template_format": content.template_format,
            "template": content.template,
            "messages": content.messages,
            "model_settings": content.model_settings,
            "variables_schema": content.variables_schema,
            "commit_message": self.cleaned_data.get("commit_message") or "",
            "labels": self.cleaned_data["labels"],
        }


class PromptAdminForm(ConsoleFormMixin, VersionContentFields, forms.ModelForm):
    """Prompt metadata plus the content of a new version: saving changed content creates a version."""

    tags = CommaListField(required=False)

    class Meta:
        model = Prompt
        fields = ("project", "name", "description", "tags")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "tags" in self.fields:
            self.fields["tags"].required = False
        if self.instance.pk:
            # Start from the newest version: an edit is a diff against it.
            latest = PromptVersion.objects.filter(
                prompt=self.instance, version=self.instance.latest_version_number
            ).first()
            if latest is not None:
                for name in ("kind", "template_format", "template", "messages", "model_settings", "variables_schema"):
                    self.initial[name] = getattr(latest, name)
                self.initial["messages"] = latest.messages or None

    def clean(self) -> dict:
        data = super().clean()
        # Everything the services will check, checked here so that it lands on its field.
        checks = [lambda: data.update(tags=check_tags(data.get("tags") or []))]
        if "description" in data:
            checks.append(lambda: check_text(data["description"], param="description", limit=MAX_DESCRIPTION_CHARS))
        if self.instance._state.adding and data.get("name") is not None:
            checks.append(lambda: check_name(data["name"]))
        for check in checks:
            try:
                check()
            except DomainError as error:
                _add_domain_error(self, error)
        self.clean_version_content(data)
        return data


class PromptVersionAddForm(ConsoleFormMixin, VersionContentFields):
    """ "Prompt versions -> Add": a new version of a chosen prompt through the same service as
    ``POST /prompts/{id}/versions``; the number, author and content hash are the service's to set."""

    prompt = forms.ModelChoiceField(queryset=Prompt.objects.none())
    field_order = ("prompt",)

    def __init__(self, *args, prompts, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["prompt"].queryset = prompts.select_related("project").order_by("project__slug", "name")
        self.fields["prompt"].label_from_instance = lambda prompt: f"{prompt.project.slug} / {prompt.name}"

    def clean(self) -> dict:
        data = super().clean()
        self.clean_version_content(data)
        return data


class PromoteForm(ConsoleFormMixin, forms.Form):
    label = forms.CharField(max_length=36, initial="production", help_text="production, staging or a custom label")
    version = forms.TypedChoiceField(coerce=int)
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, prompt: Prompt, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        numbers = PromptVersion.objects.filter(prompt=prompt).order_by("-version").values_list("version", flat=True)
        self.fields["version"].choices = [(number, f"v{number}") for number in numbers]


class RollbackForm(ConsoleFormMixin, forms.Form):
    label = forms.ChoiceField()
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, prompt: Prompt, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        labels = prompt.labels.select_related("version").order_by("name")
        self.fields["label"].choices = [
            (label.name, f"{label.name} (now v{label.version.version})") for label in labels
        ]


class DiffForm(forms.Form):
    from_version = forms.TypedChoiceField(coerce=int, label="From")
    to_version = forms.TypedChoiceField(coerce=int, label="To")

    def __init__(self, *args, prompt: Prompt, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        numbers = list(
            PromptVersion.objects.filter(prompt=prompt).order_by("-version").values_list("version", flat=True)
        )
        for name in ("from_version", "to_version"):
            self.fields[name].choices = [(number, f"v{number}") for number in numbers]
