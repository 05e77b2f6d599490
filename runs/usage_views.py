"""``GET /cost-logs`` and ``GET /usage``: what the key's project spent, as JSON or as CSV
(``?format=csv``, as ``/experiment-results/{id}?format=`` does)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Project
from accounts.viewsets import ProjectScopedMixin
from llmops.core.api.negotiation import DownloadFormatNegotiation
from llmops.core.errors import ValidationFailed
from runs import usage
from runs.models import CostLog
from runs.usage_serializers import CostLogSerializer, UsageSerializer

FORMATS = ("json", "csv")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"

_BAD_REQUEST = OpenApiResponse(description="validation error (the envelope names the parameter)")

_FILTER_PARAMETERS = [
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="ISO date or date-time, inclusive"),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="ISO date or date-time, exclusive"),
    OpenApiParameter("endpoint", str, description="model endpoint id or name"),
    OpenApiParameter("model", str, description="model id, as sent to the provider"),
    OpenApiParameter("key", str, description="API key id or prefix"),
    OpenApiParameter("purpose", str, enum=list(CostLog.Purpose.values), description="run, or judge (LLM scoring)"),
]


def _format_parameter(what: str) -> OpenApiParameter:
    return OpenApiParameter(
        "format", str, enum=list(FORMATS), description=f"csv: download {what} as a CSV file (attachment)"
    )


def _wants_csv(request: Request) -> bool:
    file_format = request.query_params.get("format")
    if file_format is not None and file_format not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}", param="format")
    return file_format == "csv"


def _attachment(response: HttpResponse | StreamingHttpResponse, filename: str):
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


class CostLogListView(ProjectScopedMixin, generics.ListAPIView):
    """One row per model call the project paid for (runs and judge calls), newest first."""

    queryset = CostLog.objects.all()
    serializer_class = CostLogSerializer
    required_scope = "read"
    content_negotiation_class = DownloadFormatNegotiation

    def scoped_queryset(self, project: Project) -> QuerySet[CostLog]:
        return usage.cost_logs_filter(usage.cost_logs_for(project=project), params=self.request.query_params)

    @extend_schema(
        summary="List cost logs: what each model call cost",
        parameters=[*_FILTER_PARAMETERS, _format_parameter("every matching row (no paging)")],
        # Media types on both 200s: drf-spectacular then reads the JSON one as the list (paging, "_list").
        responses={
            (200, "application/json"): CostLogSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
            400: _BAD_REQUEST,
        },
    )
    def get(self, request: Request, *args, **kwargs) -> Response | StreamingHttpResponse:
        if _wants_csv(request):
            lines = usage.cost_logs_csv(queryset=self.get_queryset())
            return _attachment(StreamingHttpResponse(lines, content_type=CSV_CONTENT_TYPE), "cost-logs.csv")
        return self.list(request, *args, **kwargs)


class UsageView(ProjectScopedMixin, APIView):
    """Calls, tokens and cost of the project's model calls, per day, endpoint, model, key or prompt."""

    required_scope = "read"
    content_negotiation_class = DownloadFormatNegotiation

    @extend_schema(
        summary="Usage: calls, tokens and cost per group",
        parameters=[
            OpenApiParameter(
                "group_by", str, enum=list(usage.GROUP_BY), default="day", description="how to group the calls"
            ),
            *_FILTER_PARAMETERS,
            _format_parameter("one row per group"),
        ],
        responses={
            (200, "application/json"): UsageSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            400: _BAD_REQUEST,
        },
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        params = request.query_params
        group_by = usage.group_by_parse(value=params.get("group_by"))
        wants_csv = _wants_csv(request)
        queryset = usage.cost_logs_filter(usage.cost_logs_for(project=self.project), params=params)
        summary = usage.usage_summary(queryset=queryset, group_by=group_by)
        if wants_csv:
            lines = usage.usage_csv(usage=summary)
            return _attachment(StreamingHttpResponse(lines, content_type=CSV_CONTENT_TYPE), f"usage-{group_by}.csv")
        return Response(UsageSerializer(summary).data)
