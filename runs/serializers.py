from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer

from llmops.core.api import serializers
from runs.endpoints import ENDPOINT_FIELDS
from runs.models import ModelEndpoint, Run, RunAttempt
from runs.services import MAX_ATTEMPTS_LIMIT


def run_status_url(run: Run, request=None) -> str:
    path = reverse("run-detail", kwargs={"pk": run.pk})
    return request.build_absolute_uri(path) if request is not None else path


@extend_schema_serializer(component_name="RunCreate")
class RunRequestSerializer(serializers.Serializer):
    """The body of POST /run: a prompt by id or by name (with a label or version), or a version by its
    id, and its variables."""

    aliases = {"model": "model_endpoint", "input_data": "variables"}

    prompt_id = serializers.UUIDField(required=False)
    prompt_version_id = serializers.UUIDField(
        required=False, help_text="a version by its id; with prompt_id, a version of that prompt"
    )
    prompt_name = serializers.CharField(required=False, max_length=200)
    label = serializers.CharField(required=False, max_length=36)
    version = serializers.IntegerField(required=False, min_value=1)
    variables = serializers.DictField(required=False, default=dict)
    input_data = serializers.DictField(required=False, help_text="another name for variables")
    model_endpoint = serializers.CharField(
        required=False,
        max_length=100,
        help_text="endpoint id or name; default: the version's model_settings.model_endpoint, else the "
        "project's default endpoint",
    )
    model = serializers.CharField(required=False, max_length=100, help_text="another name for model_endpoint")
    parameters = serializers.DictField(required=False, help_text="overrides of the generation parameters")
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ATTEMPTS_LIMIT)

    def validate(self, attrs: dict) -> dict:
        if "prompt_version_id" in attrs:
            for other in ("prompt_name", "label", "version"):
                if other in attrs:
                    raise serializers.ValidationError({other: [f"give either prompt_version_id or {other}"]})
            return attrs
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


class RunAttemptSerializer(serializers.ModelSerializer):
    """One attempt of a run. ``discarded`` and ``lease_expired`` attempts may have been billed by the
    provider although the run did not keep their answer: they are not in the cost log."""

    error = serializers.SerializerMethodField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=9, read_only=True, allow_null=True)

    class Meta:
        model = RunAttempt
        fields = [
            "number",
            "outcome",
            "started_at",
            "finished_at",
            "error",
            "input_tokens",
            "output_tokens",
            "latency_ms",
            "cost",
        ]
        read_only_fields = fields

    @extend_schema_field(RunErrorSerializer(allow_null=True))
    def get_error(self, attempt: RunAttempt) -> dict | None:
        if not attempt.error_type and not attempt.error_message:
            return None
        return {"type": attempt.error_type, "message": attempt.error_message}


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
    attempts_history = RunAttemptSerializer(
        many=True, read_only=True, help_text="every attempt so far, oldest first, including ones not kept"
    )

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
            "attempts_history",
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
    """Runs in a list, without the rendered prompt (it can be long) or the attempts history (a query each)."""

    attempts_history = None

    class Meta(RunSerializer.Meta):
        fields = [
            name
            for name in RunSerializer.Meta.fields
            if name not in ("rendered_prompt", "rendered_messages", "attempts_history")
        ]
        read_only_fields = fields


class ModelEndpointSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text="The endpoint's credential, sent as a Bearer token to this endpoint only. Write-only: stored "
        'encrypted, never returned; null or "" removes it. Changing provider, base_url or hf_provider '
        "needs it again.",
    )
    api_key_set = serializers.SerializerMethodField(help_text="whether the endpoint holds a credential")
    api_key_hint = serializers.CharField(read_only=True, help_text="the credential's last characters, e.g. '…a1b2'")

    class Meta:
        model = ModelEndpoint
        fields = ["id", *ENDPOINT_FIELDS, "api_key_set", "api_key_hint", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"default_parameters": {"required": False}}

    def get_api_key_set(self, endpoint: ModelEndpoint) -> bool:
        return bool(endpoint.api_key_encrypted)
