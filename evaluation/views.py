from __future__ import annotations

import re
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Project
from accounts.viewsets import ProjectScopedMixin
from evaluation import golden_io, selectors, services
from evaluation.models import GoldenExample
from evaluation.parsers import (
    CSVTextParser,
    FileFormatNegotiation,
    JSONLinesAliasParser,
    JSONLinesParser,
)
from evaluation.serializers import (
    GoldenExampleFilterSerializer,
    GoldenExampleSerializer,
    GoldenExampleWriteSerializer,
    GoldenExportQuerySerializer,
    GoldenImportFormSerializer,
    GoldenImportQuerySerializer,
    GoldenImportResultSerializer,
)
from llmops.core.api.parsers import PayloadTooLarge
from llmops.core.errors import ValidationFailed

UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_EXPORT_CHUNK = 500
_RAW_IMPORT_TYPES = {JSONLinesParser.media_type, JSONLinesAliasParser.media_type, CSVTextParser.media_type}


@extend_schema_view(
    list=extend_schema(summary="List golden examples", parameters=[GoldenExampleFilterSerializer]),
    retrieve=extend_schema(summary="Get a golden example"),
    create=extend_schema(
        summary="Create a golden example",
        description="`input_data` is checked against the prompt's `production` version (else its latest): "
        "every variable the template uses, and the version's `variables_schema`.",
        request=GoldenExampleWriteSerializer,
        responses={201: GoldenExampleSerializer},
    ),
    update=extend_schema(
        summary="Replace a golden example", request=GoldenExampleWriteSerializer, responses=GoldenExampleSerializer
    ),
    partial_update=extend_schema(
        summary="Change fields of a golden example",
        request=GoldenExampleWriteSerializer,
        responses=GoldenExampleSerializer,
    ),
    destroy=extend_schema(summary="Delete a golden example"),
)
class GoldenExampleViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """Golden examples: inputs for a prompt with the output they should produce."""

    queryset = GoldenExample.objects.all()
    serializer_class = GoldenExampleSerializer
    lookup_value_regex = UUID_PATTERN
    content_negotiation_class = FileFormatNegotiation

    def scoped_queryset(self, project: Project) -> QuerySet[GoldenExample]:
        return selectors.goldens_for(project=project)

    def list(self, request: Request, *args, **kwargs) -> Response:
        filters = GoldenExampleFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        goldens = selectors.goldens_for(project=self.project, **filters.selector_kwargs())
        page = self.paginate_queryset(goldens)
        return self.get_paginated_response(GoldenExampleSerializer(page, many=True).data)

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = GoldenExampleWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        golden = services.golden_create(project=self.project, **serializer.validated_data)
        return Response(GoldenExampleSerializer(golden).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, partial: bool = False, **kwargs) -> Response:
        golden = self.get_object()
        serializer = GoldenExampleWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if not partial:  # PUT replaces: optional fields left out go back to their defaults
            changes = {"tags": [], "split": "", "metadata": {}, **changes}
        golden = services.golden_update(golden=golden, **changes)
        return Response(GoldenExampleSerializer(golden).data)

    def perform_destroy(self, instance: GoldenExample) -> None:
        services.golden_delete(golden=instance)

    @extend_schema(
        summary="Import golden examples from JSONL or CSV",
        description=(
            "All or nothing: one bad line or row is a 400 naming it, and nothing is written. Send a multipart "
            "form (`prompt_id`, `file`, optional `format`) or the file as the body (`Content-Type: "
            "application/x-ndjson` or `text/csv`) with `?prompt_id=`. At most "
            f"{golden_io.MAX_IMPORT_ROWS} golden examples per import. In CSV, one leading `'` is dropped from a "
            "cell made of `'` characters followed by `=`, `+`, `-`, `@`, a tab or a carriage return (the "
            "formula escape the export writes); any other cell is read as it is."
        ),
        parameters=[
            OpenApiParameter("prompt_id", OpenApiTypes.UUID, description="the prompt (for a raw body)"),
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=[*golden_io.FORMATS], description="default: from the content type"
            ),
        ],
        request={
            "multipart/form-data": GoldenImportFormSerializer,
            "application/x-ndjson": OpenApiTypes.STR,
            "text/csv": OpenApiTypes.STR,
        },
        responses={201: GoldenImportResultSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser, JSONLinesParser, JSONLinesAliasParser, CSVTextParser],
    )
    def import_goldens(self, request: Request) -> Response:
        prompt_id, file_format, text = _import_source(request)
        rows = golden_io.parse(text, format=file_format)
        created = services.goldens_import(project=self.project, prompt_id=prompt_id, rows=rows)
        return Response(GoldenImportResultSerializer({"created": len(created)}).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Export a prompt's golden examples as JSONL or CSV",
        description=(
            "Streams the file in the format the import reads, oldest golden first. CSV cells a spreadsheet would "
            "evaluate as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return, or with `'` "
            "characters and then one of those) get a leading `'`; the import removes it, so the file imports back "
            "unchanged. JSONL is written as it is."
        ),
        parameters=[GoldenExportQuerySerializer],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    @action(detail=False, methods=["get"], url_path="export", url_name="export", pagination_class=None)
    def export(self, request: Request) -> StreamingHttpResponse:
        query = GoldenExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        prompt = selectors.golden_prompt_get(project=self.project, prompt_id=query.validated_data["prompt"])
        file_format = query.validated_data["format"]
        goldens = selectors.goldens_for(project=self.project, **query.selector_kwargs()).select_related(None)
        response = StreamingHttpResponse(
            golden_io.export_iter(goldens.iterator(chunk_size=_EXPORT_CHUNK), format=file_format),
            content_type=f"{golden_io.CONTENT_TYPES[file_format]}; charset=utf-8",
        )
        filename = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', prompt.name)}-goldens.{file_format}"
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
        return response


def _import_source(request: Request) -> tuple[UUID, str, str]:
    """The prompt id, the file format and the file's text of an import: a raw JSONL/CSV body with
    ``?prompt_id=``, or a multipart form with a file."""
    if isinstance(request.data, str) or request.content_type.split(";")[0].strip() in _RAW_IMPORT_TYPES:
        query = GoldenImportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        prompt_id = query.validated_data["prompt_id"]
        file_format = golden_io.detect_format(
            explicit=query.validated_data.get("format"), content_type=request.content_type
        )
        text = request.data if isinstance(request.data, str) else ""
    else:
        form = GoldenImportFormSerializer(data={**request.query_params.dict(), **dict(request.data.items())})
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        if upload.size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise PayloadTooLarge()
        prompt_id = form.validated_data["prompt_id"]
        file_format = golden_io.detect_format(
            explicit=form.validated_data.get("format"), content_type=upload.content_type, filename=upload.name
        )
        text = golden_io.decode(upload.read())
    if file_format is None:
        raise ValidationFailed(
            "cannot tell the file's format: pass format=jsonl or format=csv", code="required", param="format"
        )
    return prompt_id, file_format, text
