from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runs.models import ModelEndpoint, Run
from runs.services import ENDPOINT_FIELDS, MAX_ATTEMPTS_LIMIT


def run_status_url(run: Run, request=None) -> str:
    path = reverse("run-detail", kwargs={"pk": run.pk})
    return request.build_absolute_uri(path) if request is not None else path


class RunRequestSerializer(serializers.Serializer):
    """The body of POST /run: a prompt by id or by name (with a label or version), and its variables."""

    prompt_id = serializers.UUIDField(required=False)
    prompt_name = serializers.CharField(required=False, max_length=200)
    label = serializers.CharField(required=False, max_length=36)
    version = serializers.IntegerField(required=False, min_value=1)
    variables = serializers.DictField(required=False, default=dict)
    model_endpoint = serializers.CharField(required=False, max_length=100, help_text="endpoint id or name")
    parameters = serializers.DictField(required=False, help_text="overrides of the generation parameters")
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ATTEMPTS_LIMIT)

    def validate(self, attrs: dict) -> dict:
        if ("prompt_id" in attrs) == ("prompt_name" in attrs):
            raise serializers.ValidationError({"prompt_id": ["give either prompt_id or prompt_name"]})
        if "label" in attrs and "version" in attrs:
            raise serializers.ValidationError({"version": ["give either a label or a version, not both"]})
        return attrs


class RunAcceptedSerializer(serializers.Serializer):
    run_id = serializers.UUIDField(source="pk")
    task_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Run.Status.choices)
    status_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, run: Run) -> str:
        return run_status_url(run, self.context.get("request"))


class RunErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()


class RunSerializer(serializers.ModelSerializer):
    run_id = serializers.UUIDField(source="pk", read_only=True)
    prompt_id = serializers.UUIDField(source="prompt_version.prompt_id", read_only=True)
    prompt_name = serializers.CharField(source="prompt_version.prompt.name", read_only=True)
    version = serializers.IntegerField(source="prompt_version.version", read_only=True)
    model_endpoint_name = serializers.CharField(source="model_endpoint.name", read_only=True, default=None)
    error = serializers.SerializerMethodField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=9, read_only=True, allow_null=True)
    cost_known = serializers.BooleanField(read_only=True)
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "run_id",
            "task_id",
            "status",
            "prompt_id",
            "prompt_name",
            "version",
            "prompt_version",
            "model_endpoint",
            "model_endpoint_name",
            "model_id",
            "variables",
            "parameters",
            "rendered_prompt",
            "rendered_messages",
            "output",
            "finish_reason",
            "error",
            "input_tokens",
            "output_tokens",
            "latency_ms",
            "cost",
            "cost_known",
            "attempts",
            "max_attempts",
            "request_id",
            "created_at",
            "started_at",
            "finished_at",
            "next_attempt_at",
            "status_url",
        ]
        read_only_fields = fields

    @extend_schema_field(RunErrorSerializer(allow_null=True))
    def get_error(self, run: Run) -> dict | None:
        if not run.error_type:
            return None
        return {"type": run.error_type, "message": run.error_message}

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, run: Run) -> str:
        return run_status_url(run, self.context.get("request"))


class RunListSerializer(RunSerializer):
    """Runs in a list, without the rendered prompt (it can be long)."""

    class Meta(RunSerializer.Meta):
        fields = [name for name in RunSerializer.Meta.fields if name not in ("rendered_prompt", "rendered_messages")]
        read_only_fields = fields


class ModelEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelEndpoint
        fields = ["id", *ENDPOINT_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"default_parameters": {"required": False}}
