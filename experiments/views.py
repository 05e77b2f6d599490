from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Project
from accounts.viewsets import ProjectScopedMixin
from experiments import selectors, services
from experiments.downloads import FORMATS, export_response
from experiments.models import Experiment
from experiments.serializers import (
    ExperimentAcceptedSerializer,
    ExperimentReportSerializer,
    ExperimentRequestSerializer,
    ExperimentSerializer,
    status_url,
)
from llmops.core.api.negotiation import DownloadFormatNegotiation
from llmops.core.errors import ValidationFailed
from llmops.core.hashing import canonical_hash
from prompts.selectors import prompt_get

IDEMPOTENCY_HEADER = "Idempotency-Key"
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_ERRORS = {
    400: OpenApiResponse(description="validation error (the envelope names the parameter)"),
    404: OpenApiResponse(description="not found in the key's project"),
}


class ExperimentCreateView(APIView):
    """POST /run-experiment (a route of the original API) answers 202 at once; the cells run on the workers."""

    required_scope = "run"
    counts_as_run = True

    @extend_schema(
        summary="Run an experiment: prompt versions x golden examples x repeats, scored",
        description=(
            "Creates one cell per version, golden example and repeat and answers 202 at once; workers run and "
            "score the cells. Without `versions`, every version of the prompt; without `scorers`, exact, "
            "lexical_similarity and hallucination (see GET /scorers). Follow `status_url` for progress and "
            "`results_url` for the report with per-version statistics and the comparison between versions."
        ),
        request=ExperimentRequestSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="same key and body: the first experiment again; same key, other body: 409",
            )
        ],
        responses={
            202: OpenApiResponse(
                ExperimentAcceptedSerializer,
                description="Accepted: the experiment's cells are queued; progress at status_url (also the "
                "Location header), the report at results_url",
            ),
            409: OpenApiResponse(description="Idempotency-Key reused with another body"),
            **_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ExperimentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project: Project = request.auth.project
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        request_hash = canonical_hash(request.data)
        experiment = selectors.experiment_replay(
            project=project, idempotency_key=idempotency_key, request_hash=request_hash
        )
        created = False
        if experiment is None:
            experiment, created = services.experiment_create(
                project=project,
                prompt=prompt_get(project=project, prompt_id=data["prompt_id"]),
                name=data["experiment_name"],
                versions=data.get("versions"),
                model_endpoint=data.get("model_endpoint"),
                scorers=data.get("scorers"),
                repeats=data["repeats"],
                concurrency=data["concurrency"],
                golden_filter=serializer.golden_filter(),
                parameters=data.get("parameters"),
                cache=data["cache"],
                max_attempts=data.get("max_attempts"),
                api_key=request.auth,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
        headers = {"Location": status_url(experiment, request)}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        body = ExperimentAcceptedSerializer(experiment, context={"request": request}).data
        return Response(body, status=202, headers=headers)


class ExperimentResultsView(APIView):
    """GET /experiment-results/{id} (a route of the original API): the report, as JSON or as a file."""

    required_scope = "read"
    content_negotiation_class = DownloadFormatNegotiation

    @extend_schema(
        summary="The report of an experiment: progress, per-version statistics, comparisons, examples",
        parameters=[
            OpenApiParameter("experiment_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter(
                "format",
                str,
                enum=list(FORMATS),
                description="download the report as a file (attachment) instead of reading it",
            ),
        ],
        responses={200: ExperimentReportSerializer, 404: _ERRORS[404]},
    )
    def get(self, request: Request, experiment_id: str) -> Response | HttpResponse:
        experiment = selectors.experiment_get(project=request.auth.project, experiment_id=experiment_id)
        file_format = request.query_params.get("format")
        if file_format is not None:
            if file_format not in FORMATS:
                raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}", param="format")
            return export_response(experiment=experiment, file_format=file_format)
        return Response(selectors.experiment_report(experiment=experiment))


_LIST_PARAMETERS = [
    OpenApiParameter("prompt", OpenApiTypes.UUID, description="prompt id"),
    OpenApiParameter("status", str, description="one or more statuses, comma-separated"),
]


@extend_schema_view(
    list=extend_schema(summary="List experiments", parameters=_LIST_PARAMETERS),
    retrieve=extend_schema(summary="An experiment's configuration and progress"),
)
class ExperimentViewSet(ProjectScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Experiment.objects.all()
    serializer_class = ExperimentSerializer
    lookup_value_regex = UUID_PATTERN
    action_scopes = {
        "list": "read",
        "retrieve": "read",
        "cancel": "run",
        "resume": "run",
        "export_json": "read",
        "export_csv": "read",
        "export_html": "read",
    }
    run_actions = ("resume",)

    def scoped_queryset(self, project: Project) -> QuerySet[Experiment]:
        queryset = selectors.experiments_for(project=project)
        if self.action == "list":
            queryset = selectors.experiments_filter(queryset, params=self.request.query_params)
        return queryset

    def _summary(self, experiment: Experiment, *, status: int = 200, headers: dict | None = None) -> Response:
        fresh = selectors.experiment_get(project=self.project, experiment_id=experiment.pk)
        return Response(
            ExperimentSerializer(fresh, context={"request": self.request}).data, status=status, headers=headers
        )

    @extend_schema(
        summary="Cancel an experiment: pending cells and runs in flight are cancelled",
        request=None,
        responses={200: ExperimentSerializer, 409: OpenApiResponse(description="already finished")},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._summary(services.experiment_cancel(experiment=self.get_object()))

    @extend_schema(
        summary="Resume an experiment: run its failed, cancelled and pending cells, never completed ones",
        request=None,
        responses={
            202: OpenApiResponse(ExperimentSerializer, description="Accepted: the cells to run again are queued"),
            409: OpenApiResponse(description="every cell has completed"),
        },
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        experiment = services.experiment_resume(experiment=self.get_object())
        return self._summary(experiment, status=202, headers={"Location": status_url(experiment, request)})

    def _export(self, file_format: str) -> HttpResponse:
        return export_response(experiment=self.get_object(), file_format=file_format)

    @extend_schema(summary="The report as a JSON file", responses={(200, "application/json"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path=r"export\.json", url_name="export-json")
    def export_json(self, request: Request, pk: str | None = None) -> HttpResponse:
        return self._export("json")

    @extend_schema(summary="The report as CSV, one row per cell", responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], url_path=r"export\.csv", url_name="export-csv")
    def export_csv(self, request: Request, pk: str | None = None) -> HttpResponse:
        return self._export("csv")

    @extend_schema(
        summary="The report as one self-contained HTML page", responses={(200, "text/html"): OpenApiTypes.STR}
    )
    @action(detail=True, methods=["get"], url_path=r"export\.html", url_name="export-html")
    def export_html(self, request: Request, pk: str | None = None) -> HttpResponse:
        return self._export("html")
