from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from llmops.health import health_report


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
        ping_workers = request.query_params.get("workers", "true").lower() not in ("0", "false", "no")
        healthy, report = health_report(ping_workers=ping_workers)
        return Response(report, status=200 if healthy else 503)
