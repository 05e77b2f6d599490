from __future__ import annotations

import math

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Project
from accounts.viewsets import ProjectScopedMixin
from llmops.core.errors import ValidationFailed
from llmops.core.hashing import canonical_hash
from prompts.selectors import version_resolve
from runs import endpoints, selectors, services
from runs.models import ModelEndpoint, Run
from runs.serializers import (
    ModelEndpointSerializer,
    RunAcceptedSerializer,
    RunListSerializer,
    RunRequestSerializer,
    RunSerializer,
    run_status_url,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"

_ERRORS = {
    400: OpenApiResponse(description="validation error (the envelope names the parameter)"),
    404: OpenApiResponse(description="not found in the key's project"),
}


def parse_wait(request: Request) -> float:
    """``?wait=N`` in seconds, capped by RUN_WAIT_MAX_SECONDS; 0 when absent."""
    raw = request.query_params.get("wait")
    if raw is None or raw == "":
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationFailed("wait must be a non-negative number of seconds", code="invalid", param="wait")
    return min(seconds, settings.RUN_WAIT_MAX_SECONDS)


class RunCreateView(APIView):
    """POST /run (a route of the original API) answers at once (202), or waits up to ``?wait=N`` seconds."""

    required_scope = "run"
    counts_as_run = True

    @extend_schema(
        summary="Run a prompt version",
        description=(
            "Renders the prompt (a missing variable is a 400 naming it), stores a queued run and answers 202 "
            "at once; a worker calls the model. Name the prompt by `prompt_id` or `prompt_name` (with a "
            "`label` or `version`; default: production, else the latest), or a version by `prompt_version_id`. "
            "The endpoint is `model_endpoint` (or `model`), else the version's model settings, else the "
            "project's default endpoint. Poll `status_url` (`GET /runs/{id}`, or `GET /task-status/{task_id}`), "
            "or pass `?wait=N` to wait for the result."
        ),
        request=RunRequestSerializer,
        parameters=[
            OpenApiParameter("wait", float, description="seconds to wait for the result (capped)"),
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="same key and body: the first run again; same key, other body: 409",
            ),
        ],
        responses={
            200: OpenApiResponse(RunSerializer, description="The finished run (with ?wait, or a replayed request)"),
            202: OpenApiResponse(
                RunAcceptedSerializer,
                description="Accepted: the run is queued (or, with ?wait, still running); its status is at "
                "status_url, also sent as the Location header",
            ),
            409: OpenApiResponse(description="Idempotency-Key reused with another body"),
            **_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        wait = parse_wait(request)
        serializer = RunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project: Project = request.auth.project
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER, "")
        request_hash = canonical_hash(request.data)
        run, created = self._replay(project, idempotency_key, request_hash) or services.run_create(
            project=project,
            version=version_resolve(
                project=project,
                prompt_id=data.get("prompt_id"),
                name=data.get("prompt_name"),
                label=data.get("label"),
                version=data.get("version"),
                version_id=data.get("prompt_version_id"),
            ),
            variables=data["variables"],
            model_endpoint=data.get("model_endpoint"),
            parameters=data.get("parameters"),
            max_attempts=data.get("max_attempts"),
            api_key=request.auth,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        if wait > 0 and not run.is_terminal:
            run = selectors.run_wait(run_id=run.pk, timeout=wait)
        headers = {} if created else {"Idempotent-Replayed": "true"}
        if run.is_terminal:
            return Response(RunSerializer(run, context={"request": request}).data, status=200, headers=headers)
        headers["Location"] = run_status_url(run, request)
        return Response(RunAcceptedSerializer(run, context={"request": request}).data, status=202, headers=headers)

    @staticmethod
    def _replay(project: Project, idempotency_key: str, request_hash: str) -> tuple[Run, bool] | None:
        """The first run of a repeated request, found before resolving anything: a label moved since, or
        an endpoint disabled since, does not turn a retry of the same request into a new run."""
        if not idempotency_key.strip():
            return None
        existing = selectors.run_replay(
            project=project, idempotency_key=idempotency_key.strip(), request_hash=request_hash
        )
        return (existing, False) if existing is not None else None


class TaskStatusView(APIView):
    """GET /task-status/{task_id} (a route of the original API): the run POST /run returned the task id of."""

    required_scope = "read"

    @extend_schema(
        summary="Status of a run by task id",
        description="The same run as `GET /runs/{run_id}`, found by the `task_id` that POST /run returned. "
        "Statuses: queued (the original API's pending), running, completed (its success), failed, cancelled.",
        parameters=[OpenApiParameter("task_id", str, OpenApiParameter.PATH)],
        responses={200: RunSerializer, 404: _ERRORS[404]},
    )
    def get(self, request: Request, task_id: str) -> Response:
        run = selectors.run_by_task_id(project=request.auth.project, task_id=task_id)
        return Response(RunSerializer(run, context={"request": request}).data)


_RUN_FILTER_PARAMETERS = [
    OpenApiParameter("prompt", OpenApiTypes.UUID, description="prompt id"),
    OpenApiParameter("version", int, description="version number"),
    OpenApiParameter("status", str, description="one or more statuses, comma-separated"),
    OpenApiParameter("model", str, description="model endpoint id or name, or model id"),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="ISO date or date-time, inclusive"),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="ISO date or date-time, exclusive"),
]


@extend_schema_view(
    list=extend_schema(summary="List runs", parameters=_RUN_FILTER_PARAMETERS, responses=RunListSerializer),
    retrieve=extend_schema(summary="A run"),
)
class RunViewSet(ProjectScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Run.objects.all()
    serializer_class = RunSerializer
    action_scopes = {"list": "read", "retrieve": "read", "cancel": "run"}

    def scoped_queryset(self, project: Project) -> QuerySet[Run]:
        queryset = selectors.runs_for(project=project)
        if self.action == "list":
            queryset = selectors.runs_filter(queryset, params=self.request.query_params)
        return queryset

    def get_serializer_class(self):
        return RunListSerializer if self.action == "list" else RunSerializer

    @extend_schema(summary="Cancel a queued or running run", request=None, responses={200: RunSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = services.run_cancel(run=self.get_object())
        return Response(RunSerializer(run, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(summary="List model endpoints"),
    retrieve=extend_schema(summary="A model endpoint"),
    create=extend_schema(summary="Create a model endpoint (admin scope)"),
    update=extend_schema(summary="Replace a model endpoint (admin scope)"),
    partial_update=extend_schema(summary="Change a model endpoint (admin scope)"),
    destroy=extend_schema(summary="Delete a model endpoint (admin scope)"),
)
class ModelEndpointViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = ModelEndpoint.objects.all()
    serializer_class = ModelEndpointSerializer
    action_scopes = {
        "list": "read",
        "retrieve": "read",
        "create": "admin",
        "update": "admin",
        "partial_update": "admin",
        "destroy": "admin",
    }

    def scoped_queryset(self, project: Project) -> QuerySet[ModelEndpoint]:
        return selectors.model_endpoints_for(project=project)

    def perform_create(self, serializer: ModelEndpointSerializer) -> None:
        serializer.instance = endpoints.model_endpoint_create(project=self.project, **serializer.validated_data)

    def perform_update(self, serializer: ModelEndpointSerializer) -> None:
        serializer.instance = endpoints.model_endpoint_update(endpoint=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: ModelEndpoint) -> None:
        endpoints.model_endpoint_delete(endpoint=instance)
