"""DRF's serializers namespace with strict string fields: every API serializer module imports
``from llmops.core.api import serializers`` instead of ``rest_framework.serializers``.

DRF's CharField accepts numbers and converts them (``"template": 0`` becomes ``"0"``), so a client
bug passes unnoticed and the API accepts what its schema says is invalid. Here CharField and its
subclasses (slugs, e-mails, URLs, regex and IP address fields), declared or built by
ModelSerializer, refuse a non-string with the field named. Everything else is DRF's own.
"""

from __future__ import annotations

from typing import Any

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


class ModelSerializer(drf.ModelSerializer):
    """Fields built from model fields get the strict string classes too."""

    serializer_field_mapping: dict[type[models.Field], type[drf.Field]] = {
        model_field: _STRICT.get(field_class, field_class)
        for model_field, field_class in drf.ModelSerializer.serializer_field_mapping.items()
    }
