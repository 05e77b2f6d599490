"""Response shapes of GET /api/v1/scorers (the scorer catalogue; see evaluation.scorers.catalogue)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field

from evaluation.scorers.base import PARAM_TYPES
from llmops.core.api import serializers


@extend_schema_field({"type": "string", "enum": list(PARAM_TYPES), "description": "the param's JSON type"})
class ParamTypeField(serializers.CharField):
    pass


class ScorerParamSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="the key in the scorer's params")
    type = ParamTypeField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True, help_text="used when the param is absent; null: none")
    choices = serializers.ListField(
        child=serializers.JSONField(), allow_null=True, help_text="the accepted values, when only a few are"
    )
    description = serializers.CharField()


class ScoreRangeSerializer(serializers.Serializer):
    min = serializers.FloatField()
    max = serializers.FloatField()


class ScorerExampleSerializer(serializers.Serializer):
    name = serializers.CharField()
    params = serializers.DictField(required=False, help_text="every default, and an example of each required param")


class ScorerSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="what an experiment's scorers list names")
    measures = serializers.CharField(help_text="what the score means, in a few words")
    description = serializers.CharField()
    range = ScoreRangeSerializer(help_text="the scores it can give (every score lies in [0, 1])")
    binary = serializers.BooleanField(help_text="only ever range.min or range.max (a pass/fail check)")
    default_threshold = serializers.FloatField(help_text="a score passes at or above it; override with threshold")
    needs_expected = serializers.BooleanField(help_text="needs the golden example's expected output")
    needs_judge = serializers.BooleanField(help_text="calls a judge model: give params.judge_endpoint")
    local_model = serializers.CharField(allow_null=True, help_text="a model the server runs itself, if any")
    requires_extra = serializers.CharField(
        allow_null=True, help_text="the optional dependency group the server needs for it, if any"
    )
    slow = serializers.BooleanField(help_text="calls a model (judge or local): seconds rather than microseconds")
    params = ScorerParamSerializer(many=True)
    example = ScorerExampleSerializer(help_text="a scorer entry for POST /run-experiment that validates")


class ScorerCatalogueSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ScorerSerializer(many=True)
