from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field

from evaluation import golden_io
from evaluation.models import GoldenExample
from llmops.core.api import serializers
from llmops.core.errors import ValidationFailed


@extend_schema_field(
    {
        "oneOf": [
            {"type": "object", "additionalProperties": {}},
            {"type": "string", "description": "a JSON-encoded object"},
        ],
        "description": "The prompt's variables: an object, or a string holding a JSON object.",
        "example": {"input": "I love this!"},
    }
)
class InputDataField(serializers.Field):
    """A JSON object, also accepted as a JSON-encoded string (the seed's form)."""

    default_error_messages = {"invalid": "input_data must be a JSON object or a string holding one"}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        try:
            return golden_io.parse_input_data(data, param=self.field_name or "input_data")
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message, code=error.code) from None

    def to_representation(self, value: Any) -> Any:
        return value


class GoldenExampleSerializer(serializers.ModelSerializer):
    """A golden example as the API returns it: ``input_data`` is always an object."""

    prompt_id = serializers.UUIDField(read_only=True)
    input_data = serializers.DictField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        model = GoldenExample
        fields = [
            "id",
            "prompt_id",
            "input_data",
            "expected_output",
            "tags",
            "split",
            "metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class GoldenExampleWriteSerializer(serializers.Serializer):
    """A golden example as a client sends it."""

    prompt_id = serializers.UUIDField()
    input_data = InputDataField()
    expected_output = serializers.CharField(allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=golden_io.MAX_TAG_CHARS), required=False, max_length=golden_io.MAX_TAGS
    )
    split = serializers.ChoiceField(choices=GoldenExample.Split.choices, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)


class GoldenExampleFilterSerializer(serializers.Serializer):
    """Query parameters of the list (and of the export)."""

    allow_unknown_fields = True  # the query also carries page, page_size and the like

    prompt = serializers.UUIDField(required=False)
    split = serializers.ChoiceField(
        choices=[*golden_io.SPLITS[1:], "none"],
        required=False,
        allow_blank=True,
        help_text="train, validation, test, or none (goldens without a split)",
    )
    tag = serializers.CharField(required=False, allow_blank=True, max_length=golden_io.MAX_TAG_CHARS)

    def validate(self, attrs: dict) -> dict:
        # A query parameter given empty is not "no filter": ``?prompt=`` is not a prompt id.
        if self.initial_data.get("prompt", None) == "":
            raise serializers.ValidationError({"prompt": ["must be a prompt id (UUID)"]})
        return attrs

    def selector_kwargs(self) -> dict[str, Any]:
        data = self.validated_data
        split = data.get("split") or None
        return {
            "prompt_id": data.get("prompt"),
            "split": "" if split == "none" else split,
            "tag": data.get("tag") or None,
        }


class GoldenExportQuerySerializer(GoldenExampleFilterSerializer):
    prompt = serializers.UUIDField(help_text="the prompt whose golden examples to export")
    format = serializers.ChoiceField(choices=golden_io.FORMATS, default=golden_io.JSONL)


class GoldenImportFormSerializer(serializers.Serializer):
    """The multipart form of an import (raw bodies pass ``prompt_id`` and ``format`` in the query)."""

    allow_unknown_fields = True  # the form merges the query string, which may carry other parameters

    prompt_id = serializers.UUIDField()
    file = serializers.FileField(help_text="JSONL or CSV, UTF-8")
    format = serializers.ChoiceField(
        choices=golden_io.FORMATS,
        required=False,
        help_text="jsonl or csv; by default from the file name's extension (.jsonl, .ndjson, .csv)",
    )


class GoldenImportQuerySerializer(serializers.Serializer):
    allow_unknown_fields = True  # a query string
    prompt_id = serializers.UUIDField()
    format = serializers.ChoiceField(choices=golden_io.FORMATS, required=False)


class GoldenImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="how many golden examples were created")
