from rest_framework import serializers

from accounts.models import APIKey


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
