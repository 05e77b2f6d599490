from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer

from evaluation.models import GoldenExample
from experiments.config import DEFAULT_CONCURRENCY, ExperimentConfig
from experiments.models import Experiment
from experiments.selectors import experiment_progress
from experiments.services import MAX_CONCURRENCY, MAX_REPEATS, GoldenFilter
from llmops.core.api import serializers
from runs.services import MAX_ATTEMPTS_LIMIT


def absolute(request, name: str, **kwargs: Any) -> str:
    path = reverse(name, kwargs=kwargs)
    return request.build_absolute_uri(path) if request is not None else path


def status_url(experiment: Experiment, request=None) -> str:
    return absolute(request, "experiment-detail", pk=experiment.pk)


def results_url(experiment: Experiment, request=None) -> str:
    return absolute(request, "experiment-results", experiment_id=experiment.pk)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "a scorer name, with its default threshold"},
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                    "params": {"type": "object", "additionalProperties": {}},
                },
                "required": ["name"],
            },
        ],
        "example": {"name": "contains", "threshold": 0.5, "params": {"case_sensitive": True}},
    }
)
class ScorerField(serializers.Field):
    """A scorer name or ``{"name", "threshold", "params"}``; the service checks the rest."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str | dict):
            raise serializers.ValidationError("a scorer is a name or an object with name, threshold and params")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class GoldenFilterSerializer(serializers.Serializer):
    split = serializers.ChoiceField(
        choices=GoldenExample.Split.choices, required=False, allow_null=True, allow_blank=True, default=None
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=10_000)


@extend_schema_serializer(component_name="ExperimentCreate")
class ExperimentRequestSerializer(serializers.Serializer):
    """The body of POST /run-experiment."""

    aliases = {"model": "model_endpoint"}

    prompt_id = serializers.UUIDField()
    experiment_name = serializers.CharField(max_length=200)
    versions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        help_text="version numbers; default: every version of the prompt",
    )
    model_endpoint = serializers.CharField(
        required=False,
        max_length=100,
        help_text="endpoint id or name; default: each version's model_settings.model_endpoint, else the "
        "project's default endpoint",
    )
    model = serializers.CharField(required=False, max_length=100, help_text="another name for model_endpoint")
    scorers = serializers.ListField(
        child=ScorerField(),
        required=False,
        allow_empty=False,
        help_text='default: ["exact", "lexical_similarity", "hallucination"] (exact is the primary scorer)',
    )
    repeats = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_REPEATS)
    concurrency = serializers.IntegerField(
        required=False, default=DEFAULT_CONCURRENCY, min_value=1, max_value=MAX_CONCURRENCY
    )
    goldens = GoldenFilterSerializer(required=False, help_text="which golden examples; default: all of the prompt")
    parameters = serializers.DictField(required=False, help_text="overrides of the generation parameters")
    cache = serializers.BooleanField(required=False, default=False, help_text="reuse identical earlier answers")
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ATTEMPTS_LIMIT)

    def golden_filter(self) -> GoldenFilter:
        raw = self.validated_data.get("goldens") or {}
        return GoldenFilter(
            split=raw.get("split"), tags=tuple(raw.get("tags") or ()), ids=tuple(str(i) for i in raw.get("ids", ()))
        )


class ExperimentLinksMixin(serializers.Serializer):
    """Where to poll an experiment and where its report is."""

    status_url = serializers.SerializerMethodField()
    results_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, experiment: Experiment) -> str:
        return status_url(experiment, self.context.get("request"))

    @extend_schema_field(OpenApiTypes.URI)
    def get_results_url(self, experiment: Experiment) -> str:
        return results_url(experiment, self.context.get("request"))


class ExperimentAcceptedSerializer(ExperimentLinksMixin, serializers.Serializer):
    experiment_id = serializers.UUIDField(source="pk")
    status = serializers.ChoiceField(choices=Experiment.Status.choices)
    total_cells = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    cached = serializers.IntegerField()
    percent = serializers.FloatField(help_text="cells completed, failed or cancelled, in percent")


class ScorerConfigSerializer(serializers.Serializer):
    name = serializers.CharField()
    threshold = serializers.FloatField()
    params = serializers.DictField()


class PublicGoldenFilterSerializer(serializers.Serializer):
    split = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())


class ExperimentConfigSerializer(serializers.Serializer):
    versions = serializers.ListField(child=serializers.IntegerField())
    scorers = ScorerConfigSerializer(many=True)
    repeats = serializers.IntegerField()
    concurrency = serializers.IntegerField()
    model_endpoint = serializers.CharField(allow_null=True)
    cache = serializers.BooleanField()
    golden_filter = PublicGoldenFilterSerializer()
    parameters = serializers.DictField()


class ExperimentSerializer(ExperimentLinksMixin, serializers.ModelSerializer):
    """An experiment's summary: configuration and progress, without results."""

    experiment_id = serializers.UUIDField(source="pk", read_only=True)
    prompt_id = serializers.UUIDField(read_only=True)
    prompt_name = serializers.CharField(source="prompt.name", read_only=True)
    config = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields = [
            "id",
            "experiment_id",
            "name",
            "prompt_id",
            "prompt_name",
            "status",
            "config",
            "total_cells",
            "progress",
            "error_message",
            "created_at",
            "started_at",
            "finished_at",
            "status_url",
            "results_url",
        ]
        read_only_fields = fields

    @extend_schema_field(ExperimentConfigSerializer)
    def get_config(self, experiment: Experiment) -> dict:
        return ExperimentConfig.of(experiment).public()

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, experiment: Experiment) -> dict:
        return experiment_progress(experiment=experiment)


# -- the report, described for the OpenAPI document (experiments.selectors.experiment_report builds it) --


class ScoreSummarySerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    std = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class LatencySerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class TokensSerializer(serializers.Serializer):
    input = serializers.IntegerField()
    output = serializers.IntegerField()


class VersionSummarySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    version_id = serializers.UUIDField()
    n = serializers.IntegerField()
    completed = serializers.IntegerField()
    failures = serializers.IntegerField()
    scores = serializers.DictField(child=ScoreSummarySerializer())
    pass_rate = serializers.FloatField(allow_null=True, help_text="completed cells passing every scorer")
    hallucination_rate = serializers.FloatField(
        allow_null=True, help_text="completed cells failing a hallucination scorer; null without one"
    )
    latency_ms = LatencySerializer()
    tokens = TokensSerializer(help_text="tokens this experiment paid for (cached cells add none)")
    cost = serializers.DecimalField(max_digits=18, decimal_places=9, allow_null=True, help_text="null when unknown")
    cost_known = serializers.BooleanField()


class ComparisonSerializer(serializers.Serializer):
    baseline = serializers.CharField()
    candidate = serializers.CharField()
    scorer = serializers.CharField()
    n = serializers.IntegerField(help_text="goldens both versions have a score for")
    mean_baseline = serializers.FloatField(allow_null=True)
    mean_candidate = serializers.FloatField(allow_null=True)
    mean_difference = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    wilcoxon_p = serializers.FloatField(allow_null=True)
    mcnemar_p = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()
    verdict = serializers.CharField()


class CellSerializer(serializers.Serializer):
    repeat = serializers.IntegerField()
    status = serializers.CharField()
    output = serializers.CharField(allow_null=True)
    scores = serializers.DictField(child=serializers.FloatField())
    passed = serializers.BooleanField(allow_null=True)
    cached = serializers.BooleanField()
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class ExampleSerializer(serializers.Serializer):
    golden_id = serializers.UUIDField()
    input_data = serializers.DictField()
    expected_output = serializers.CharField()
    cells = serializers.DictField(
        child=serializers.ListField(child=CellSerializer()), help_text="version number -> cells by repeat"
    )


class FlakyExampleSerializer(serializers.Serializer):
    golden_id = serializers.UUIDField()
    version = serializers.IntegerField()
    scores = serializers.ListField(child=serializers.FloatField())
    variance = serializers.FloatField()


class ExperimentReportSerializer(serializers.Serializer):
    experiment_id = serializers.UUIDField()
    name = serializers.CharField()
    prompt_id = serializers.UUIDField()
    prompt_name = serializers.CharField()
    status = serializers.ChoiceField(choices=Experiment.Status.choices)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    config = ExperimentConfigSerializer()
    progress = ProgressSerializer()
    versions = VersionSummarySerializer(many=True)
    comparisons = ComparisonSerializer(many=True)
    examples = ExampleSerializer(many=True)
    flaky_examples = FlakyExampleSerializer(many=True)
