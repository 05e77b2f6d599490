from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import APIKeyAuthentication
from llmops.health import health_report
from llmops.metrics import render_metrics


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Health of the database, broker and workers",
        parameters=[OpenApiParameter("workers", bool, description="ping Celery workers (default true)")],
        responses={
            200: inline_serializer(
                "Health", {"status": serializers.CharField(), "components": serializers.DictField()}
            ),
            503: inline_serializer(
                "HealthFailing",
                {
                    "status": serializers.CharField(),
                    "components": serializers.DictField(),
                    "failing": serializers.ListField(),
                },
            ),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("workers", "true").lower()
        if raw not in ("true", "false", "1", "0"):
            raise exceptions.ValidationError({"workers": ["must be true or false"]})
        ping_workers = raw in ("true", "1")
        healthy, report = health_report(ping_workers=ping_workers)
        return Response(report, status=200 if healthy else 503)


def _metrics_allowed(request: Request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header == f"Bearer {token}" and secrets.compare_digest(header, f"Bearer {token}"):
        return True
    try:
        authenticated = APIKeyAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return False
    return authenticated is not None and authenticated[1].has_scope("admin")


class MetricsView(APIView):
    """Prometheus text format; needs METRICS_TOKEN as a bearer token or an API key with the admin scope."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        if not _metrics_allowed(request):
            raise exceptions.NotAuthenticated("metrics need METRICS_TOKEN or an API key with the admin scope")
        body, content_type = render_metrics()
        return HttpResponse(body, content_type=content_type)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="llmops"'
