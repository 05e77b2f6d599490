"""DRF's serializers namespace with strict string fields: every API serializer module imports
``from llmops.core.api import serializers`` instead of ``rest_framework.serializers``.

DRF's CharField accepts numbers and converts them (``"template": 0`` becomes ``"0"``), so a client
bug passes unnoticed and the API accepts what its schema says is invalid. Here CharField and its
subclasses (slugs, e-mails, URLs, regex and IP address fields), declared or built by
ModelSerializer, refuse a non-string with the field named.

DRF also drops body fields it does not know, so a misspelt or foreign field (``"model": "fake-slow"``
for ``model_endpoint``) silently changes nothing. Serializers here refuse them with a 400 naming the
field; read-only fields stay accepted (a client may send back what it read). Serializers of query
strings, which carry pagination and format parameters too, set ``allow_unknown_fields``. ``aliases``
maps another accepted name (the seed's) to a field: both at once is a 400. Everything else is DRF's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.db import models
from rest_framework import serializers as drf
from rest_framework.serializers import *  # noqa: F403 - the rest of DRF's namespace, unchanged


class StrictStringMixin:
    """Only a JSON string is a string (form and query input are strings already)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CharField(StrictStringMixin, drf.CharField):
    pass


class EmailField(StrictStringMixin, drf.EmailField):
    pass


class IPAddressField(StrictStringMixin, drf.IPAddressField):
    pass


class RegexField(StrictStringMixin, drf.RegexField):
    pass


class SlugField(StrictStringMixin, drf.SlugField):
    pass


class URLField(StrictStringMixin, drf.URLField):
    pass


_STRICT = {
    drf.CharField: CharField,
    drf.EmailField: EmailField,
    drf.IPAddressField: IPAddressField,
    drf.RegexField: RegexField,
    drf.SlugField: SlugField,
    drf.URLField: URLField,
}


class KnownFieldsMixin:
    """Unknown input fields are a 400 naming them; ``aliases`` (alias -> field) are renamed first."""

    allow_unknown_fields: ClassVar[bool] = False
    aliases: ClassVar[dict[str, str]] = {}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = self._renamed(data)
            if not self.allow_unknown_fields:
                self._refuse_unknown(data)
        return super().to_internal_value(data)

    def _renamed(self, data: Mapping) -> Mapping:
        present = [alias for alias in self.aliases if alias in data]
        if not present:
            return data
        renamed = {key: data[key] for key in data}
        for alias in present:
            field = self.aliases[alias]
            if field in renamed:
                raise drf.ValidationError({alias: [f"'{alias}' is another name for '{field}': give one of them"]})
            renamed[field] = renamed.pop(alias)
        return renamed

    def _refuse_unknown(self, data: Mapping) -> None:
        unknown = [key for key in data if key not in self.fields]
        if unknown:
            accepted = ", ".join([*(name for name, field in self.fields.items() if not field.read_only), *self.aliases])
            raise drf.ValidationError(
                {
                    key: [drf.ErrorDetail(f"unknown field (accepted: {accepted})", code="unknown_field")]
                    for key in unknown
                }
            )


class Serializer(KnownFieldsMixin, drf.Serializer):
    pass


class ModelSerializer(KnownFieldsMixin, drf.ModelSerializer):
    """Fields built from model fields get the strict string classes too."""

    serializer_field_mapping: dict[type[models.Field], type[drf.Field]] = {
        model_field: _STRICT.get(field_class, field_class)
        for model_field, field_class in drf.ModelSerializer.serializer_field_mapping.items()
    }
