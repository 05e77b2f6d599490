"""JSON strings only for string fields.

DRF's CharField accepts numbers and converts them (``"template": 0`` becomes ``"0"``), so a client
bug passes unnoticed and the API accepts what its schema says is invalid. Every CharField (and its
subclasses: slugs, e-mails, URLs, regex fields) refuses a non-string with the field named.
"""

from __future__ import annotations

from rest_framework import serializers

_original = serializers.CharField.to_internal_value


def _strict_to_internal_value(self, data):
    if not isinstance(data, str):
        self.fail("invalid")
    return _original(self, data)


def install() -> None:
    serializers.CharField.to_internal_value = _strict_to_internal_value
