"""Prompt registry API: thin views over prompts.services and prompts.selectors."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, mixins, status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Project
from accounts.viewsets import ProjectScopedMixin
from llmops.core.errors import ValidationFailed
from prompts import cache as prompt_cache
from prompts import diff, selectors, services
from prompts.models import Prompt, PromptLabel, PromptVersion
from prompts.rendering import render_version
from prompts.serializers import (
    LabelMoveSerializer,
    PromptCreateSerializer,
    PromptDetailSerializer,
    PromptLabelEventSerializer,
    PromptLabelSerializer,
    PromptSerializer,
    PromptUpdateSerializer,
    PromptVersionDetailSerializer,
    PromptVersionSerializer,
    RenderRequestSerializer,
    RenderResponseSerializer,
    ResolvedVersionSerializer,
    RollbackSerializer,
    VersionContentSerializer,
    VersionDiffSerializer,
)

TAGS = ["prompts"]
PROMPT_ID = OpenApiParameter("prompt_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="prompt id")
LABEL_PARAM = OpenApiParameter("label", OpenApiTypes.STR, OpenApiParameter.PATH, description="label name")
NUMBER_PARAM = OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH, description="version number")


def _query_int(request: Request, name: str, *, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise ValidationFailed(f"'{name}' is required", code="required", param=name)
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValidationFailed(f"'{name}' must be a positive integer", param=name)
    return value


class RegistryViewMixin(ProjectScopedMixin):
    """Shared by every prompt view: the calling key (and the person who created it) as the actor."""

    def actor(self) -> dict:
        return {"actor": self.api_key.created_by, "actor_key": self.api_key}

    def author(self) -> dict:
        return {"created_by": self.api_key.created_by, "created_by_key": self.api_key}


class PromptChildMixin(RegistryViewMixin):
    """Views under /prompts/{prompt_id}/: the prompt comes from the key's project or is a 404."""

    _prompt: Prompt | None = None

    @property
    def prompt(self) -> Prompt:
        if self._prompt is None:
            self._prompt = selectors.prompt_get(project=self.project, prompt_id=self.kwargs["prompt_id"])
        return self._prompt


@extend_schema_view(
    list=extend_schema(
        summary="List prompts",
        tags=TAGS,
        parameters=[OpenApiParameter("tag", OpenApiTypes.STR, description="only prompts carrying this tag")],
    ),
    retrieve=extend_schema(summary="Retrieve a prompt", tags=TAGS, parameters=[PROMPT_ID]),
    destroy=extend_schema(summary="Delete a prompt and all its versions", tags=TAGS, parameters=[PROMPT_ID]),
)
class PromptViewSet(
    RegistryViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Prompt.objects.all()
    serializer_class = PromptSerializer
    lookup_url_kwarg = "prompt_id"
    filter_backends = [filters.SearchFilter]
    search_fields = ["name", "description"]
    action_scopes = {"render": "read", "by_name": "read", "diff": "read"}

    def scoped_queryset(self, project: Project) -> QuerySet[Prompt]:
        prompts = selectors.prompts_for(project=project)
        tag = self.request.query_params.get("tag") if self.action == "list" else None
        return selectors.prompts_with_tag(prompts, tag=tag) if tag else prompts

    def get_serializer_class(self):
        return PromptSerializer if self.action == "list" else PromptDetailSerializer

    @extend_schema(
        summary="Create a prompt with its version 1",
        tags=TAGS,
        request=PromptCreateSerializer,
        responses={201: PromptDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        data = self._valid(PromptCreateSerializer, request.data)
        prompt = services.prompt_create(project=self.project, **data, **self.author())
        prompt = selectors.prompt_get(project=self.project, prompt_id=prompt.pk)
        return Response(PromptDetailSerializer(prompt).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a prompt's description or tags (content changes are new versions)",
        tags=TAGS,
        parameters=[PROMPT_ID],
        request=PromptUpdateSerializer,
        responses=PromptDetailSerializer,
    )
    def partial_update(self, request: Request, prompt_id: str) -> Response:
        prompt = self.get_object()
        data = self._valid(PromptUpdateSerializer, request.data)
        services.prompt_update(prompt=prompt, **data)
        return Response(PromptDetailSerializer(prompt).data)

    def perform_destroy(self, instance: Prompt) -> None:
        services.prompt_delete(prompt=instance)

    @extend_schema(
        summary="Render a version with variables (no model call)",
        tags=TAGS,
        parameters=[PROMPT_ID],
        request=RenderRequestSerializer,
        responses=RenderResponseSerializer,
    )
    def render(self, request: Request, prompt_id: str) -> Response:
        data = self._valid(RenderRequestSerializer, request.data)
        version = selectors.version_resolve(
            project=self.project, prompt_id=prompt_id, label=data.get("label"), version=data.get("version")
        )
        rendered = render_version(version=version, variables=data["variables"])
        body = {"version": version.version, "kind": version.kind}
        if rendered.messages is None:
            body["text"] = rendered.text
        else:
            body["messages"] = rendered.messages
        return Response(body)

    @extend_schema(
        summary="Diff two versions",
        tags=TAGS,
        parameters=[
            PROMPT_ID,
            OpenApiParameter("from", OpenApiTypes.INT, required=True, description="older version number"),
            OpenApiParameter("to", OpenApiTypes.INT, required=True, description="newer version number"),
        ],
        responses=VersionDiffSerializer,
    )
    def diff(self, request: Request, prompt_id: str) -> Response:
        prompt = self.get_object()
        old = selectors.version_in(prompt=prompt, version=_query_int(request, "from", required=True))
        new = selectors.version_in(prompt=prompt, version=_query_int(request, "to", required=True))
        return Response(diff.version_diff(old, new))

    @extend_schema(
        summary="Move a label back to the version it pointed at before its last move",
        tags=TAGS,
        parameters=[PROMPT_ID],
        request=RollbackSerializer,
        responses=PromptLabelSerializer,
    )
    def rollback(self, request: Request, prompt_id: str) -> Response:
        prompt = self.get_object()
        data = self._valid(RollbackSerializer, request.data)
        label = services.label_rollback(prompt=prompt, label=data["label"], reason=data["reason"], **self.actor())
        return Response(PromptLabelSerializer(label).data)

    @extend_schema(
        summary="Fetch the resolved version of a prompt by name",
        description=(
            "Resolves `?label=` or `?version=` (default: the `production` label, else the latest version). "
            'The `ETag` is `"<content_hash>-v<version>"`: unique per resolved version; send it back in '
            "`If-None-Match` to get a 304 while the label still points at the same version."
        ),
        tags=TAGS,
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="prompt name"),
            OpenApiParameter("label", OpenApiTypes.STR, description="label to resolve (`latest` included)"),
            OpenApiParameter("version", OpenApiTypes.INT, description="version number"),
        ],
        responses={200: ResolvedVersionSerializer, 304: OpenApiResponse(description="not modified")},
    )
    def cache_prefetch(self, request: Request) -> list[str]:
        """The cache keys by_name reads, for the rate limiter to read in its round trip."""
        if self.action != "by_name":
            return []
        raw_version = request.query_params.get("version")
        version = int(raw_version) if raw_version and raw_version.isdigit() and int(raw_version) > 0 else None
        if raw_version and version is None:
            return []  # the view answers 400
        label = request.query_params.get("label") or None
        selector = selectors.fetch_selector(label, version)
        return prompt_cache.lookup_keys(project_id=self.project.pk, name=self.kwargs["name"], selector=selector)

    def by_name(self, request: Request, name: str) -> HttpResponse:
        label = request.query_params.get("label") or None
        fetched = selectors.fetched_by_name(
            project=self.project,
            name=name,
            label=label,
            version=_query_int(request, "version"),
            render=_render_resolution,
            prefetched=getattr(request._request, "cache_prefetched", None),
        )
        headers = {"ETag": fetched.etag, "Cache-Control": "private, no-cache"}
        if _etag_matches(request.headers.get("If-None-Match"), fetched.etag):
            return HttpResponseNotModified(headers=headers)
        # Rendered once per resolution (cached with it), not per request.
        return HttpResponse(fetched.body, content_type="application/json", headers=headers)

    def _valid(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def _render_resolution(resolution: selectors.Resolution) -> bytes:
    return JSONRenderer().render(ResolvedVersionSerializer.from_resolution(resolution))


def _etag_matches(header: str | None, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 13.1.2): a W/ prefix does not matter.
    if not header:
        return False
    candidates = [candidate.strip().removeprefix("W/") for candidate in header.split(",")]
    return "*" in candidates or etag in candidates


@extend_schema_view(
    list=extend_schema(summary="List the versions of a prompt", tags=TAGS, parameters=[PROMPT_ID]),
    retrieve=extend_schema(
        summary="Retrieve one version",
        tags=TAGS,
        parameters=[PROMPT_ID, NUMBER_PARAM],
        responses=PromptVersionDetailSerializer,
    ),
)
class PromptVersionViewSet(PromptChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = PromptVersion.objects.all()
    serializer_class = PromptVersionSerializer
    lookup_field = "version"
    lookup_url_kwarg = "number"

    def scoped_queryset(self, project: Project) -> QuerySet[PromptVersion]:
        return selectors.versions_for(prompt=self.prompt)

    def get_serializer_class(self):
        return PromptVersionSerializer if self.action == "list" else PromptVersionDetailSerializer

    @extend_schema(
        summary="Create the next version (200 with the latest one when the content is identical)",
        tags=TAGS,
        parameters=[PROMPT_ID],
        request=VersionContentSerializer,
        responses={201: PromptVersionDetailSerializer, 200: PromptVersionDetailSerializer},
    )
    def create(self, request: Request, prompt_id: str) -> Response:
        serializer = VersionContentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version, created = services.prompt_version_create(
            prompt=self.prompt, **serializer.validated_data, **self.author()
        )
        version = selectors.versions_for(prompt=self.prompt).get(pk=version.pk)
        return Response(
            PromptVersionDetailSerializer(version).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema_view(
    list=extend_schema(summary="List the labels of a prompt", tags=TAGS, parameters=[PROMPT_ID]),
    retrieve=extend_schema(summary="Retrieve one label", tags=TAGS, parameters=[PROMPT_ID, LABEL_PARAM]),
)
class PromptLabelViewSet(PromptChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = PromptLabel.objects.all()
    serializer_class = PromptLabelSerializer
    lookup_field = "name"
    lookup_url_kwarg = "label"

    def scoped_queryset(self, project: Project) -> QuerySet:
        if self.action == "history":
            label = self.request.query_params.get("label")
            return selectors.label_events_for(prompt=self.prompt, label=label)
        return selectors.labels_for(prompt=self.prompt)

    def get_serializer_class(self):
        return PromptLabelEventSerializer if self.action == "history" else PromptLabelSerializer

    @extend_schema(
        summary="Point a label at a version (creates or moves it; promote and rollback are this call)",
        tags=TAGS,
        parameters=[PROMPT_ID, LABEL_PARAM],
        request=LabelMoveSerializer,
        responses=PromptLabelSerializer,
    )
    def move(self, request: Request, prompt_id: str, label: str) -> Response:
        serializer = LabelMoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pointer = services.label_move(prompt=self.prompt, label=label, **serializer.validated_data, **self.actor())
        return Response(PromptLabelSerializer(pointer).data)

    @extend_schema(
        summary="Remove a label",
        tags=TAGS,
        parameters=[
            PROMPT_ID,
            LABEL_PARAM,
            OpenApiParameter("reason", OpenApiTypes.STR, description="recorded in the label history"),
        ],
        responses={204: None},
    )
    def remove(self, request: Request, prompt_id: str, label: str) -> Response:
        reason = request.query_params.get("reason", "")
        services.label_delete(prompt=self.prompt, label=label, reason=reason, **self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Label history: who moved which label, when, from which version to which",
        tags=TAGS,
        parameters=[PROMPT_ID, OpenApiParameter("label", OpenApiTypes.STR, description="only this label's moves")],
        responses=PromptLabelEventSerializer(many=True),
    )
    def history(self, request: Request, prompt_id: str) -> Response:
        return self.list(request)
