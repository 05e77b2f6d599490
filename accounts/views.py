from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import CurrentProjectSerializer


class CurrentProjectView(APIView):
    """The project the calling key belongs to: lets a client check which project a key opens."""

    @extend_schema(summary="The calling key's project", responses=CurrentProjectSerializer)
    def get(self, request: Request) -> Response:
        return Response(CurrentProjectSerializer({"project": request.auth.project, "key": request.auth}).data)
