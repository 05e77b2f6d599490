"""Content negotiation for views whose ``?format=`` names a download (CSV, HTML, ...) rather than a
renderer: DRF would otherwise look for a renderer of that name and answer 404. Answers and errors stay
JSON; the view itself returns the file."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class DownloadFormatNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
