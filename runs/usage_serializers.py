"""Shapes of ``GET /cost-logs`` and ``GET /usage``. Money is a decimal string, as on runs."""

from __future__ import annotations

from llmops.core.api import serializers
from runs.models import MONEY, CostLog
from runs.usage import CURRENCY, GROUP_BY


class CostLogSerializer(serializers.ModelSerializer):
    model_endpoint_name = serializers.CharField(source="model_endpoint.name", read_only=True, default=None)
    api_key_name = serializers.CharField(source="api_key.name", read_only=True, default=None)
    api_key_prefix = serializers.CharField(source="api_key.prefix", read_only=True, default=None)
    prompt_id = serializers.UUIDField(source="run.prompt_version.prompt_id", read_only=True, default=None)
    prompt_name = serializers.CharField(source="run.prompt_version.prompt.name", read_only=True, default=None)
    cost = serializers.DecimalField(**MONEY, read_only=True, allow_null=True)
    cost_known = serializers.BooleanField(source="price_known", read_only=True)

    class Meta:
        model = CostLog
        fields = [
            "id",
            "created_at",
            "purpose",
            "model_id",
            "model_endpoint",
            "model_endpoint_name",
            "api_key",
            "api_key_name",
            "api_key_prefix",
            "run",
            "prompt_id",
            "prompt_name",
            "input_tokens",
            "output_tokens",
            "input_price_per_million",
            "output_price_per_million",
            "cost",
            "cost_known",
        ]
        read_only_fields = fields


class UsageTotalsSerializer(serializers.Serializer):
    calls = serializers.IntegerField(help_text="model calls (runs and judge calls)")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(**MONEY, help_text="sum of the known costs")
    unpriced_calls = serializers.IntegerField(help_text="calls whose price was unknown: not counted in cost")


class UsageGroupSerializer(UsageTotalsSerializer):
    key = serializers.CharField(
        allow_null=True,
        help_text="the UTC date, endpoint id, model id, API key id or prompt id; null: calls with none",
    )
    label = serializers.CharField(help_text="what to show: the date, name, model id or 'name (prefix)' of a key")

    def to_representation(self, instance) -> dict:
        """Key and label first, then the totals."""
        data = super().to_representation(instance)
        return {"key": data.pop("key"), "label": data.pop("label"), **data}


class UsageSerializer(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=GROUP_BY)
    currency = serializers.ChoiceField(choices=[CURRENCY])
    results = UsageGroupSerializer(many=True)
    total = UsageTotalsSerializer()
