"""What every console form shares: browser input normalised before a service sees it, and fields
people can type without writing JSON.

Browsers submit textarea line breaks as ``\\r\\n``. Stored as typed, the same template saved from the
console and from a file would hash differently (a new version whose diff shows nothing), so every
string a console form cleans, including the strings inside JSON fields, has its line endings
normalised to ``\\n``. NUL characters are refused on their field: PostgreSQL cannot store them in
text or jsonb, and would answer a 500 instead of a form error.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from llmops.core.text import normalize_newlines

NUL_MESSAGE = "null characters are not allowed"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False


class ConsoleFormMixin:
    """Mix first into every console form (``class F(ConsoleFormMixin, forms.ModelForm)``): cleaned
    values reach ``clean()`` of the form, and from there the services, with ``\\n`` line endings,
    and a NUL character anywhere is an error on its field."""

    def _clean_fields(self) -> None:
        super()._clean_fields()
        for name, value in list(self.cleaned_data.items()):
            if _has_nul(value):
                self.add_error(name, NUL_MESSAGE)
            else:
                self.cleaned_data[name] = normalize_newlines(value)
        self._forget_invalid_choices()

    def _forget_invalid_choices(self) -> None:
        """An object choice that failed (a malformed id) is not shown again: widgets such as the
        admin's autocomplete look the posted value up to render it, and would fail on it."""
        invalid = [
            name
            for name, field in self.fields.items()
            if name in self._errors and isinstance(field, forms.ModelChoiceField)
        ]
        if invalid and self.is_bound:
            self.data = self.data.copy()
            for name in invalid:
                self.data[self.add_prefix(name)] = ""


class CommaListField(forms.Field):
    """A list of strings typed as ``a, b, c`` (tags, labels): shown the same way, never as JSON."""

    widget = forms.TextInput

    def __init__(self, *, max_length: int = 2000, **kwargs) -> None:
        self.max_length = max_length
        kwargs.setdefault("help_text", "comma-separated, e.g. smoke, edge-case")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        if isinstance(value, (list, tuple)):
            return [str(item).strip() for item in value if str(item).strip()]
        text = str(value).strip()
        if len(text) > self.max_length:
            raise forms.ValidationError(f"at most {self.max_length} characters", code="max_length")
        if text.startswith("[") and text.endswith("]"):
            # A list pasted as JSON (as an export shows it) is taken too.
            try:
                items = json.loads(text)
            except ValueError:
                items = None
            if isinstance(items, list) and all(isinstance(item, str) for item in items):
                return list(dict.fromkeys(item.strip() for item in items if item.strip()))
        return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(initial) != self.to_python(data)
        except forms.ValidationError:
            return True
