from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import APIKey, Project
from accounts.serializers import APIKeySerializer, CurrentProjectSerializer, IssuedAPIKeySerializer
from accounts.viewsets import ProjectScopedMixin


class CurrentProjectView(APIView):
    """The project the calling key belongs to: lets a client check which project a key opens."""

    @extend_schema(
        summary="The calling key's project",
        description="Which project a key opens, with the key's own scopes and limits.",
        responses=CurrentProjectSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response(CurrentProjectSerializer({"project": request.auth.project, "key": request.auth}).data)


@extend_schema_view(
    list=extend_schema(summary="List the project's API keys (prefixes only, never secrets)"),
    retrieve=extend_schema(summary="An API key (prefix only)"),
)
class APIKeyViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Keys of the calling key's project. Managing keys needs the `admin` scope.

    A key created here is never wider than the calling key: its scopes, `expires_at`,
    `requests_per_minute`, `runs_per_minute` and `budget_usd`/`budget_period` must fit within the
    caller's (a 400 names the field otherwise), and an omitted one is inherited from the caller."""

    serializer_class = APIKeySerializer
    queryset = APIKey.objects.none()
    required_scope = "admin"

    def scoped_queryset(self, project: Project) -> QuerySet[APIKey]:
        return APIKey.objects.filter(project=project).order_by("-created_at")

    @extend_schema(
        summary="Create an API key (the secret is in this response only)",
        description=(
            "Needs the `admin` scope. A key created here is never wider than the calling key: its scopes, "
            "`expires_at`, `requests_per_minute`, `runs_per_minute` and `budget_usd`/`budget_period` must fit "
            "within the caller's (a 400 names the field otherwise), and an omitted one is inherited from the "
            "caller."
        ),
        responses={201: IssuedAPIKeySerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = APIKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The calling key bounds the new one: it cannot mint a key with wider scopes or limits.
        issued = services.api_key_create(
            project=self.project, created_by=request.user.user, creator_key=request.auth, **serializer.validated_data
        )
        body = IssuedAPIKeySerializer(issued.api_key).data
        body["key"] = issued.secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke an API key (same as DELETE)", request=None, responses=APIKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        api_key = services.api_key_revoke(api_key=self.get_object())
        return Response(APIKeySerializer(api_key).data)

    @extend_schema(summary="Revoke an API key; it stays listed with revoked_at set")
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.api_key_revoke(api_key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
