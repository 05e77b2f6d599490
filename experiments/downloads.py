"""Experiment reports as files (JSON, CSV, self-contained HTML), for the API and the admin alike."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponse
from django.utils.http import content_disposition_header

from experiments.exports import report_to_csv, report_to_html, report_to_json
from experiments.models import Experiment
from experiments.selectors import experiment_report

FORMATS: dict[str, tuple[Callable[[dict], str], str]] = {
    "json": (report_to_json, "application/json"),
    "csv": (report_to_csv, "text/csv"),
    "html": (report_to_html, "text/html"),
}
# The HTML report has no scripts and no external references; opened from the server, it may not get any.
HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def export_response(*, experiment: Experiment, file_format: str) -> HttpResponse:
    render, content_type = FORMATS[file_format]
    response = HttpResponse(
        render(experiment_report(experiment=experiment)), content_type=f"{content_type}; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"experiment-{experiment.pk}.{file_format}"
    )
    if file_format == "html":
        response["Content-Security-Policy"] = HTML_POLICY
    return response
