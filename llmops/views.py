from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import APIKeyAuthentication
from accounts.models import APIKey
from llmops.core.api import serializers
from llmops.core.api.authentication import PlatformTokenAuthentication, is_platform
from llmops.core.api.throttling import ClientAddressRateThrottle
from llmops.core.health import health_report, public_report
from llmops.core.metrics import render_metrics

_HEALTH = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(
            choices=["ok", "degraded", "unavailable"],
            help_text="ok; degraded: serving, but the broker or every Celery worker does not answer (work "
            "is accepted and runs once they are back); unavailable: a 503",
        ),
        "failing": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="the components behind a 503"
        ),
        "degraded": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="the components behind a degraded status"
        ),
        "components": serializers.DictField(
            child=inline_serializer(
                "HealthComponent",
                {
                    "ok": serializers.BooleanField(),
                    "latency_ms": serializers.IntegerField(),
                    "detail": serializers.CharField(),
                },
            ),
            required=False,
            help_text="per component detail (worker names, latencies, errors): only for an API key with the "
            "admin scope or METRICS_TOKEN",
        ),
    },
)


def _admin_key(request: Request) -> APIKey | None:
    api_key = request.auth
    return api_key if isinstance(api_key, APIKey) and api_key.has_scope("admin") else None


class HealthView(APIView):
    """Anyone may ask; only an admin key or METRICS_TOKEN gets the per-component detail."""

    authentication_classes = [PlatformTokenAuthentication, APIKeyAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [ClientAddressRateThrottle]

    def perform_authentication(self, request: Request) -> None:
        # Authenticated on first use in get(), so the per-address limit is counted before any key lookup.
        pass

    @extend_schema(
        summary="Health of the database, broker and workers",
        description=(
            "200 when the database answers (degraded when the broker or the workers do not), 503 otherwise. "
            "Anonymous callers get the status and the failing or degraded components; an API key with the "
            "admin scope (or METRICS_TOKEN) also gets each component's detail. The worker check is cached "
            "for a few seconds. Limited per client address (HEALTH_REQUESTS_PER_MINUTE)."
        ),
        parameters=[OpenApiParameter("workers", bool, description="ping Celery workers (default true)")],
        responses={
            200: OpenApiResponse(_HEALTH, description="The database answers (see degraded for the rest)"),
            503: OpenApiResponse(_HEALTH, description="The database does not answer (see failing)"),
        },
        auth=[{}, {"ApiKeyBearer": []}, {"ApiKeyHeader": []}],
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("workers", "true").lower()
        if raw not in ("true", "false", "1", "0"):
            raise exceptions.ValidationError({"workers": ["must be true or false"]})
        detailed = is_platform(request) or _admin_key(request) is not None  # a bad credential is a 401 here
        healthy, report = health_report(ping_workers=raw in ("true", "1"))
        return Response(report if detailed else public_report(report), status=200 if healthy else 503)


class MetricsView(APIView):
    """Prometheus text format. METRICS_TOKEN as a bearer token sees the whole platform; an API key
    with the admin scope sees its own project's series only."""

    authentication_classes = [PlatformTokenAuthentication, APIKeyAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        if is_platform(request):
            body, content_type = render_metrics(project=None)
        elif (api_key := _admin_key(request)) is not None:
            body, content_type = render_metrics(project=api_key.project)
        else:
            raise exceptions.NotAuthenticated("metrics need METRICS_TOKEN or an API key with the admin scope")
        return HttpResponse(body, content_type=content_type)
