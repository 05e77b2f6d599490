from accounts.models import APIKey, BudgetPeriod
from llmops.core.api import serializers


class KeySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = APIKey
        fields = ["id", "name", "prefix", "scopes", "expires_at", "created_at"]
        read_only_fields = fields


class CurrentProjectSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="project.id", read_only=True)
    name = serializers.CharField(source="project.name", read_only=True)
    slug = serializers.CharField(source="project.slug", read_only=True)
    key = KeySummarySerializer(read_only=True)


class APIKeySerializer(serializers.ModelSerializer):
    """Lists and shows keys by prefix; the secret is never readable after creation."""

    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=APIKey.Scope.choices),
        allow_empty=False,
        required=False,
        max_length=len(APIKey.Scope.values),
    )
    requests_per_minute = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)
    runs_per_minute = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)
    budget_usd = serializers.DecimalField(
        max_digits=14, decimal_places=6, min_value=0, required=False, allow_null=True, coerce_to_string=True
    )
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = APIKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "requests_per_minute",
            "runs_per_minute",
            "budget_usd",
            "budget_period",
            "is_active",
            "revoked_at",
            "last_used_at",
            "created_at",
        ]
        read_only_fields = ["id", "prefix", "is_active", "revoked_at", "last_used_at", "created_at"]


class IssuedAPIKeySerializer(APIKeySerializer):
    key = serializers.CharField(read_only=True, help_text="the secret; shown only in this response")

    class Meta(APIKeySerializer.Meta):
        fields = [*APIKeySerializer.Meta.fields, "key"]
