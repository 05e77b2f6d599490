"""Request parsing for golden-example imports: raw JSONL and CSV bodies arrive as text, and
``?format=`` names a file format rather than a renderer."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser, get_encoding

from llmops.core.api.parsers import PayloadTooLarge


class RawTextParser(BaseParser):
    """The body as text, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes; parsing is the view's job."""

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        encoding = get_encoding(parser_context or {})
        if stream is None:
            return ""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge()
        try:
            return body.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
        except UnicodeDecodeError as error:
            raise ParseError(f"the body is not valid {encoding} text (byte {error.start})") from None


class JSONLinesParser(RawTextParser):
    media_type = "application/x-ndjson"


class JSONLinesAliasParser(RawTextParser):
    media_type = "application/jsonl"


class CSVTextParser(RawTextParser):
    media_type = "text/csv"


class _NoFormatOverride:
    URL_FORMAT_OVERRIDE = None


class FileFormatNegotiation(DefaultContentNegotiation):
    """``?format=jsonl|csv`` chooses an import/export file format, so it must not select a renderer
    (DRF would answer 404 for a format no renderer has). Errors are JSON even when the client asked
    for CSV or JSONL (``Accept: text/csv``), instead of a 406."""

    settings = _NoFormatOverride

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix=None)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
