"""Exports of an experiment report: JSON, CSV and a single self-contained HTML page.

Every function here works on the report dict that ``experiments.selectors.experiment_report``
builds (the shape the ``/api/v1/experiment-results/{id}`` endpoint returns) and touches no
database, so a report saved as JSON can be exported again later, anywhere.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from llmops.csv_cells import neutralise

__all__ = [
    "CSV_FIXED_COLUMNS",
    "cell_rows",
    "csv_columns",
    "report_to_csv",
    "report_to_html",
    "report_to_json",
    "scorer_names",
    "version_numbers",
]

SCORE_COLUMN_PREFIX = "score_"
CSV_LEADING_COLUMNS = ("golden_id", "version", "repeat", "status", "cached", "passed", "latency_ms")
CSV_TRAILING_COLUMNS = ("error", "input_data", "expected_output", "output")
CSV_FIXED_COLUMNS = CSV_LEADING_COLUMNS + CSV_TRAILING_COLUMNS

# Tableau 10: distinct in print and for the common colour-vision deficiencies.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


# --------------------------------------------------------------------------- shared helpers


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def version_numbers(report: dict) -> list[Any]:
    """The report's versions in report order: summaries first, then config, then any found only in cells."""
    found: list[Any] = []

    def add(value: Any) -> None:
        if value is not None and str(value) not in {str(v) for v in found}:
            found.append(value)

    for summary in report.get("versions") or []:
        add(summary.get("version"))
    for value in (report.get("config") or {}).get("versions") or []:
        add(value)
    for example in report.get("examples") or []:
        for key in example.get("cells") or {}:
            add(int(key) if str(key).isdigit() else key)
    return found


def scorer_names(report: dict) -> list[str]:
    """Scorer names in config order, then any that only appear in version summaries or cells."""
    names: list[str] = []

    def add(name: Any) -> None:
        if name is not None and str(name) not in names:
            names.append(str(name))

    for scorer in (report.get("config") or {}).get("scorers") or []:
        add(scorer.get("name") if isinstance(scorer, dict) else scorer)
    for summary in report.get("versions") or []:
        for name in summary.get("scores") or {}:
            add(name)
    for example in report.get("examples") or []:
        for cells in (example.get("cells") or {}).values():
            for cell in cells or []:
                for name in cell.get("scores") or {}:
                    add(name)
    return names


def _cells_for(example: dict, version: Any) -> list[dict]:
    cells = example.get("cells") or {}
    found = cells.get(str(version))
    if found is None:
        found = cells.get(version)
    return sorted(found or [], key=lambda cell: (cell.get("repeat") is None, cell.get("repeat") or 0))


def csv_columns(report: dict) -> list[str]:
    return [
        *CSV_LEADING_COLUMNS,
        *(f"{SCORE_COLUMN_PREFIX}{name}" for name in scorer_names(report)),
        *CSV_TRAILING_COLUMNS,
    ]


def cell_rows(report: dict) -> list[dict[str, Any]]:
    """One dict per cell (example x version x repeat), values as in the report, keyed by ``csv_columns``.

    ``input_data`` is the compact JSON text of the example's input; a score a cell lacks is None."""
    scorers = scorer_names(report)
    versions = version_numbers(report)
    rows: list[dict[str, Any]] = []
    for example in report.get("examples") or []:
        input_json = _compact_json(example.get("input_data"))
        for version in versions:
            for cell in _cells_for(example, version):
                scores = cell.get("scores") or {}
                row: dict[str, Any] = {
                    "golden_id": example.get("golden_id"),
                    "version": version,
                    "repeat": cell.get("repeat"),
                    "status": cell.get("status"),
                    "cached": cell.get("cached"),
                    "passed": cell.get("passed"),
                    "latency_ms": cell.get("latency_ms"),
                }
                for name in scorers:
                    row[f"{SCORE_COLUMN_PREFIX}{name}"] = scores.get(name)
                row.update(
                    error=cell.get("error"),
                    input_data=input_json,
                    expected_output=example.get("expected_output"),
                    output=cell.get("output"),
                )
                rows.append(row)
    return rows


# --------------------------------------------------------------------------- JSON


def report_to_json(report: dict) -> str:
    """The report as pretty-printed UTF-8 JSON (non-ASCII kept as is) with keys sorted, so two
    exports of the same report are byte-identical and diff cleanly."""
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default) + "\n"


# --------------------------------------------------------------------------- CSV


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if not isinstance(value, str):
        value = _compact_json(value)
    return neutralise(value)


def report_to_csv(report: dict) -> str:
    """One row per cell: golden_id, version, repeat, status, cached, passed, latency_ms, one
    ``score_<scorer>`` column per scorer, error, input_data (compact JSON), expected_output, output.

    Outputs are model text and inputs are user text, so any of them may be written to attack
    whoever opens the file in a spreadsheet (``=HYPERLINK(...)``, ``=cmd|...``, DDE payloads).
    Every text value that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    written with a leading ``'`` so spreadsheets show it as text instead of evaluating it (the
    OWASP "CSV injection" rule, kept in ``llmops.csv_cells``: text that already starts with ``'``
    and a trigger gets one more ``'``, so the escape can be undone exactly). Numbers the report
    holds as numbers (scores, latency) are written as numbers and never prefixed: a negative
    score stays ``-0.5``. Booleans are ``true``/``false``, missing values are empty. Quoting
    follows RFC 4180 (``csv`` module, CRLF line ends), so multi-line outputs round-trip through
    any CSV reader.
    """
    columns = csv_columns(report)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for row in cell_rows(report):
        writer.writerow({column: _csv_value(row.get(column)) for column in columns})
    return buffer.getvalue()


# --------------------------------------------------------------------------- HTML


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _fmt_num(value: Any, digits: int = 3) -> str:
    number = _as_float(value)
    return "\u2013" if number is None else f"{number:.{digits}f}"


def _fmt_signed(value: Any, digits: int = 3) -> str:
    number = _as_float(value)
    return "\u2013" if number is None else f"{number:+.{digits}f}"


def _fmt_pct(value: Any) -> str:
    number = _as_float(value)
    return "\u2013" if number is None else f"{number * 100:.1f}%"


def _fmt_ms(value: Any) -> str:
    number = _as_float(value)
    return "\u2013" if number is None else f"{number:,.0f} ms"


def _fmt_int(value: Any) -> str:
    number = _as_float(value)
    return "\u2013" if number is None else f"{int(number):,}"


def _fmt_p(value: Any) -> str:
    number = _as_float(value)
    if number is None:
        return "\u2013"
    return "< 0.001" if number < 0.001 else f"{number:.3g}"


def _fmt_cost(value: Any) -> str:
    if value is None:
        return "unknown"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format(amount.normalize(), "f") if amount else "0"


def _fmt_duration(start: Any, end: Any) -> str | None:
    try:
        seconds = (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except (TypeError, ValueError):
        return None
    if seconds < 0:
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{seconds:.1f} s"


def _version_label(version: Any) -> str:
    return f"v{version}"


def _scores_of(summary: dict, scorer: str) -> dict:
    return (summary.get("scores") or {}).get(scorer) or {}


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2933;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px;word-break:break-word}
h2{font-size:17px;margin:0 0 12px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:18px 20px;margin:0 0 18px}
.sub{color:#52606d;margin:0 0 14px;word-break:break-word}
.muted{color:#7b8794}
.small{font-size:12px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
pre{margin:0;white-space:pre-wrap;word-break:break-word}
.meta{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0 0 14px;color:#3e4c59}
.meta b{font-weight:600;color:#1f2933}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;
background:#e4e7eb;color:#3e4c59;white-space:nowrap}
.badge.completed,.badge.pass,.badge.better{background:#d9f2e1;color:#1d6b3a}
.badge.failed,.badge.fail,.badge.worse{background:#fbe0e0;color:#9b1c1c}
.badge.running{background:#dbe8fb;color:#1c4f9b}
.badge.cached{background:#efe4fb;color:#5b2a86}
.badge.pending,.badge.cancelled,.badge.neutral{background:#e4e7eb;color:#52606d}
.progress{display:flex;height:12px;border-radius:6px;overflow:hidden;background:#e4e7eb;margin:4px 0 6px}
.progress span{display:block;height:100%}
.seg-completed{background:#59a14f}.seg-failed{background:#e15759}.seg-cancelled{background:#9aa5b1}
.seg-running{background:#4e79a7}
dl.config{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.config dt{color:#52606d}dl.config dd{margin:0;word-break:break-word}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{font-size:12px;font-weight:600;color:#52606d;background:#f8f9fa}
th .range{font-weight:400}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.range{display:block;font-size:11.5px;color:#7b8794}
tr.better td:first-child{box-shadow:inset 3px 0 #59a14f}
tr.worse td:first-child{box-shadow:inset 3px 0 #e15759}
.chart-wrap,.table-wrap{overflow-x:auto}
svg.chart{display:block;width:100%;max-width:820px;height:auto}
svg.chart .grid{stroke:#e4e7eb;stroke-width:1}
svg.chart .axis{stroke:#9aa5b1;stroke-width:1}
svg.chart text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#3e4c59}
svg.chart .bar-value{font-size:11px;fill:#1f2933}
svg.chart .group-label{font-size:13px;font-weight:600}
svg.chart .empty{font-size:14px;fill:#7b8794}
table.matrix{table-layout:fixed}
table.matrix td{padding:10px}
table.matrix td.example{background:#fafbfc}
.kv{margin:0 0 6px}.kv .k{display:block;font-size:11.5px;color:#7b8794}
.cell{border:1px solid #e4e7eb;border-left-width:4px;border-radius:6px;padding:7px 9px;margin:0 0 8px;background:#fff}
.cell:last-child{margin-bottom:0}
.cell.pass{border-left-color:#59a14f}.cell.fail{border-left-color:#f28e2b}
.cell.error{border-left-color:#e15759;background:#fff8f8}.cell.waiting{border-left-color:#bab0ac}
.cell-head{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:0 0 5px;font-size:12px}
.scores{display:flex;flex-wrap:wrap;gap:4px 10px;margin:0 0 6px;font-size:12px;color:#52606d}
.scores b{color:#1f2933;font-variant-numeric:tabular-nums}
.output{max-height:14em;overflow:auto;background:#f8f9fa;border-radius:4px;padding:6px 8px}
.err{color:#9b1c1c;font-size:12.5px;margin-top:4px;word-break:break-word}
a{color:#1c4f9b}
"""


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {_e(kind)}">{_e(text)}</span>'


def _header(report: dict) -> str:
    status = str(report.get("status") or "unknown")
    meta = [
        f"<span>Prompt <b>{_e(report.get('prompt_name'))}</b></span>",
        f"<span>Experiment <code>{_e(report.get('experiment_id'))}</code></span>",
        f"<span>Created <b>{_e(report.get('created_at'))}</b></span>",
    ]
    if report.get("started_at"):
        meta.append(f"<span>Started <b>{_e(report.get('started_at'))}</b></span>")
    if report.get("finished_at"):
        meta.append(f"<span>Finished <b>{_e(report.get('finished_at'))}</b></span>")
    duration = _fmt_duration(report.get("started_at"), report.get("finished_at"))
    if duration:
        meta.append(f"<span>Took <b>{_e(duration)}</b></span>")

    progress = report.get("progress") or {}
    total = _as_float(progress.get("total")) or 0
    segments = []
    for key in ("completed", "failed", "cancelled", "running"):
        count = _as_float(progress.get(key)) or 0
        if total and count:
            share = 100 * count / total
            segments.append(
                f'<span class="seg-{key}" style="width:{share:.2f}%" title="{_e(key)}: {_fmt_int(count)}"></span>'
            )
    counts = ", ".join(
        f"{_fmt_int(progress.get(key))} {key}"
        for key in ("completed", "failed", "running", "pending", "cancelled", "cached")
        if _as_float(progress.get(key))
    )
    percent = _fmt_pct((_as_float(progress.get("percent")) or 0) / 100)
    return (
        '<section class="summary">'
        f"<h1>{_e(report.get('name'))} {_badge(status, status)}</h1>"
        f'<div class="meta">{"".join(meta)}</div>'
        f'<div class="progress" role="img" aria-label="progress {_e(percent)}">{"".join(segments)}</div>'
        f'<div class="small"><b>{_e(percent)}</b> of '
        f"{_fmt_int(total)} cells done"
        f"{' · ' + _e(counts) if counts else ''}</div>"
        "</section>"
    )


def _config_section(report: dict) -> str:
    config = report.get("config") or {}
    scorers = []
    for scorer in config.get("scorers") or []:
        if not isinstance(scorer, dict):
            scorers.append(_e(scorer))
            continue
        text = f"<b>{_e(scorer.get('name'))}</b> (threshold {_e(_fmt_num(scorer.get('threshold'), 2))})"
        if scorer.get("params"):
            text += f' <code class="muted">{_e(_compact_json(scorer.get("params")))}</code>'
        scorers.append(text)
    golden_filter = config.get("golden_filter") or {}
    filter_parts = []
    if golden_filter.get("split"):
        filter_parts.append(f"split {golden_filter['split']}")
    if golden_filter.get("tags"):
        filter_parts.append("tags " + ", ".join(str(tag) for tag in golden_filter["tags"]))
    rows = [
        ("Versions", ", ".join(_e(_version_label(v)) for v in config.get("versions") or []) or "\u2013"),
        ("Scorers", "<br>".join(scorers) or "\u2013"),
        ("Repeats", _e(config.get("repeats"))),
        ("Concurrency", _e(config.get("concurrency"))),
        ("Model endpoint", _e(config.get("model_endpoint") or "prompt default")),
        ("Cache", "on" if config.get("cache") else "off"),
        ("Goldens", _e("; ".join(filter_parts) or "all")),
    ]
    if config.get("parameters"):
        rows.append(("Parameters", f"<code>{_e(_compact_json(config.get('parameters')))}</code>"))
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return f'<section><h2>Configuration</h2><dl class="config">{items}</dl></section>'


def _score_chart(report: dict) -> str:
    summaries = [s for s in report.get("versions") or [] if isinstance(s, dict)]
    scorers = scorer_names(report)
    width, left, right, bottom = 820, 64, 24, 46
    plot_w = width - left - right
    legend_item_w = 96
    per_row = max(1, int(plot_w // legend_item_w))
    legend_rows = max(1, math.ceil(len(summaries) / per_row))
    top = 24 + 22 * legend_rows
    plot_h = 240
    height = top + plot_h + bottom
    parts = [
        f'<svg id="score-chart" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-labelledby="score-chart-title">',
        '<title id="score-chart-title">Mean score per scorer and prompt version</title>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    parts.append(
        f'<text class="axis-label" transform="translate(18 {top + plot_h / 2:.1f}) rotate(-90)" '
        'text-anchor="middle">mean score</text>'
    )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>'
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>'
    )
    for index, summary in enumerate(summaries):
        row, column = divmod(index, per_row)
        x = left + column * legend_item_w
        y = 14 + row * 22
        parts.append(
            f'<rect class="legend-swatch" x="{x}" y="{y}" width="12" height="12" rx="2" '
            f'fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{x + 18}" y="{y + 11}">{_e(_version_label(summary.get("version")))}</text>'
        )
    if not summaries or not scorers:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle">'
            "No scores yet</text>"
        )
    else:
        group_w = plot_w / len(scorers)
        slot_w = min(72.0, group_w * 0.8 / len(summaries))
        bar_w = slot_w * 0.84
        for group, scorer in enumerate(scorers):
            group_x = left + group * group_w + (group_w - slot_w * len(summaries)) / 2
            for index, summary in enumerate(summaries):
                stats = _scores_of(summary, scorer)
                mean = _as_float(stats.get("mean"))
                bar_h = plot_h * min(max(mean, 0.0), 1.0) if mean is not None else 0.0
                x = group_x + index * slot_w + (slot_w - bar_w) / 2
                y = top + plot_h - bar_h
                version = _version_label(summary.get("version"))
                tooltip = (
                    f"{version} · {scorer}: mean {_fmt_num(mean)}, min {_fmt_num(stats.get('min'))}, "
                    f"max {_fmt_num(stats.get('max'))}, n={_fmt_int(stats.get('n'))}"
                )
                parts.append(
                    f'<rect class="bar" data-version="{_e(summary.get("version"))}" data-scorer="{_e(scorer)}" '
                    f'data-mean="{"" if mean is None else repr(mean)}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{bar_w:.1f}" height="{bar_h:.1f}" rx="2" fill="{PALETTE[index % len(PALETTE)]}">'
                    f"<title>{_e(tooltip)}</title></rect>"
                )
                parts.append(
                    f'<text class="bar-value" x="{x + bar_w / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle">'
                    f"{'n/a' if mean is None else f'{mean:.2f}'}</text>"
                )
            label = scorer if len(scorer) <= 28 else scorer[:27] + "…"
            parts.append(
                f'<text class="group-label" x="{left + group * group_w + group_w / 2:.1f}" '
                f'y="{top + plot_h + 24}" text-anchor="middle">{_e(label)}<title>{_e(scorer)}</title></text>'
            )
    parts.append("</svg>")
    return (
        '<section><h2>Mean score per scorer</h2><div class="chart-wrap">'
        + "".join(parts)
        + '</div><p class="small muted">Bars show the mean over completed cells; axis 0\u20131. '
        "Hover a bar for min, max and n.</p></section>"
    )


DISTRIBUTION_BINS = 10


def score_histogram(report: dict, scorer: str, version: Any) -> list[int]:
    """Completed cells of ``version`` per tenth of the score range for ``scorer`` (1.0 counts in the last)."""
    counts = [0] * DISTRIBUTION_BINS
    for example in report.get("examples") or []:
        for cell in _cells_for(example, version):
            score = _as_float((cell.get("scores") or {}).get(scorer)) if cell.get("status") == "completed" else None
            if score is not None:
                counts[min(int(min(max(score, 0.0), 1.0) * DISTRIBUTION_BINS), DISTRIBUTION_BINS - 1)] += 1
    return counts


def _distribution_chart(report: dict) -> str:
    summaries = [s for s in report.get("versions") or [] if isinstance(s, dict)]
    scorers = scorer_names(report)
    if not summaries or not scorers:
        return ""
    width, left, right, top, bottom, plot_h = 820, 64, 24, 16, 40, 150
    plot_w = width - left - right
    bin_w = plot_w / DISTRIBUTION_BINS
    bar_w = bin_w * 0.8 / len(summaries)
    figures = []
    for number, scorer in enumerate(scorers):
        histograms = [score_histogram(report, scorer, summary.get("version")) for summary in summaries]
        peak = max([1, *(count for histogram in histograms for count in histogram)])
        height = top + plot_h + bottom
        parts = [
            f'<svg id="score-distribution-{number}" class="chart distribution" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img"><title>Distribution of {_e(scorer)} scores per '
            "prompt version</title>",
            f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>',
            f'<text class="tick" x="{left - 8}" y="{top + 8}" text-anchor="end">{peak}</text>',
            f'<text class="tick" x="{left - 8}" y="{top + plot_h}" text-anchor="end">0</text>',
        ]
        for edge in range(DISTRIBUTION_BINS + 1):
            x = left + edge * bin_w
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{edge / DISTRIBUTION_BINS:.1f}</text>"
            )
        for index, (summary, histogram) in enumerate(zip(summaries, histograms, strict=True)):
            version = _version_label(summary.get("version"))
            for bucket, count in enumerate(histogram):
                bar_h = plot_h * count / peak
                x = left + bucket * bin_w + bin_w * 0.1 + index * bar_w
                low, high = bucket / DISTRIBUTION_BINS, (bucket + 1) / DISTRIBUTION_BINS
                parts.append(
                    f'<rect class="dist-bar" x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar_w:.1f}" '
                    f'height="{bar_h:.1f}" fill="{PALETTE[index % len(PALETTE)]}"><title>{_e(version)}: {count} '
                    f"cell(s) scored {low:.1f}\u2013{high:.1f}</title></rect>"
                )
        parts.append(
            f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
            f"{_e(scorer)} score</text></svg>"
        )
        figures.append("".join(parts))
    return (
        "<section><h2>Score distributions</h2>"
        + "".join(f'<div class="chart-wrap">{figure}</div>' for figure in figures)
        + '<p class="small muted">Completed cells per tenth of the score range, one colour per version '
        "(as in the chart above).</p></section>"
    )


def _versions_section(report: dict) -> str:
    summaries = [s for s in report.get("versions") or [] if isinstance(s, dict)]
    scorers = scorer_names(report)
    if not summaries:
        return '<section><h2>Versions</h2><p class="muted">No results yet.</p></section>'
    head = (
        "<tr><th>Version</th><th class='num'>n</th><th class='num'>Completed</th><th class='num'>Failures</th>"
        + "".join(f"<th class='num'>{_e(name)}<span class='range'>avg (min\u2013max)</span></th>" for name in scorers)
        + "<th class='num'>Pass rate</th><th class='num'>Hallucination rate</th>"
        "<th class='num'>Latency<span class='range'>p50, p95</span></th>"
        "<th class='num'>Tokens<span class='range'>in / out</span></th><th class='num'>Cost</th></tr>"
    )
    rows = []
    for summary in summaries:
        tokens = summary.get("tokens") or {}
        latency = summary.get("latency_ms") or {}
        score_cells = []
        for name in scorers:
            stats = _scores_of(summary, name)
            score_cells.append(
                f"<td class='num'>{_e(_fmt_num(stats.get('mean')))}"
                f"<span class='range'>{_e(_fmt_num(stats.get('min'), 2))}\u2013{_e(_fmt_num(stats.get('max'), 2))}"
                f"</span></td>"
            )
        cost = _fmt_cost(summary.get("cost")) if summary.get("cost_known", True) else "unknown"
        rows.append(
            f"<tr><td><b>{_e(_version_label(summary.get('version')))}</b></td>"
            f"<td class='num'>{_e(_fmt_int(summary.get('n')))}</td>"
            f"<td class='num'>{_e(_fmt_int(summary.get('completed')))}</td>"
            f"<td class='num'>{_e(_fmt_int(summary.get('failures')))}</td>"
            + "".join(score_cells)
            + f"<td class='num'>{_e(_fmt_pct(summary.get('pass_rate')))}</td>"
            f"<td class='num'>{_e(_fmt_pct(summary.get('hallucination_rate')))}</td>"
            f"<td class='num'>{_e(_fmt_ms(latency.get('p50')))}"
            f"<span class='range'>p95 {_e(_fmt_ms(latency.get('p95')))}</span></td>"
            f"<td class='num'>{_e(_fmt_int(tokens.get('input')))} / {_e(_fmt_int(tokens.get('output')))}</td>"
            f"<td class='num'>{_e(cost)}</td></tr>"
        )
    return (
        "<section><h2>Versions</h2><div class='table-wrap'><table class='versions'>"
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
        "<p class='small muted'>Pass rate: completed cells passing every scorer. Hallucination: completed cells "
        "failing the hallucination scorer. Cost is unknown when any call's price is unknown.</p></section>"
    )


def _comparison_kind(comparison: dict) -> str:
    difference = _as_float(comparison.get("mean_difference"))
    if not comparison.get("significant") or difference is None or difference == 0:
        return "neutral"
    return "better" if difference > 0 else "worse"


def _comparisons_section(report: dict) -> str:
    comparisons = [c for c in report.get("comparisons") or [] if isinstance(c, dict)]
    if not comparisons:
        return (
            '<section id="comparisons"><h2>Comparisons</h2>'
            '<p class="muted">No comparisons: they need at least two versions with results.</p></section>'
        )
    rows = []
    for comparison in comparisons:
        kind = _comparison_kind(comparison)
        label = {"better": "significant", "worse": "significant", "neutral": "not significant"}[kind]
        rows.append(
            f"<tr class='{kind}'>"
            f"<td><b>{_e(comparison.get('candidate'))}</b> vs {_e(comparison.get('baseline'))}</td>"
            f"<td>{_e(comparison.get('scorer'))}</td>"
            f"<td class='num'>{_e(_fmt_int(comparison.get('n')))}</td>"
            f"<td class='num'>{_e(_fmt_num(comparison.get('mean_baseline')))} → "
            f"{_e(_fmt_num(comparison.get('mean_candidate')))}</td>"
            f"<td class='num'>{_e(_fmt_signed(comparison.get('mean_difference')))}</td>"
            f"<td class='num'>[{_e(_fmt_signed(comparison.get('ci_low')))}, "
            f"{_e(_fmt_signed(comparison.get('ci_high')))}]</td>"
            f"<td class='num'>{_e(_fmt_p(comparison.get('wilcoxon_p')))}</td>"
            f"<td class='num'>{_e(_fmt_p(comparison.get('mcnemar_p')))}</td>"
            f"<td>{_badge(label, kind)}<div class='verdict'>{_e(comparison.get('verdict'))}</div></td></tr>"
        )
    return (
        '<section id="comparisons"><h2>Comparisons</h2><div class="table-wrap"><table class="comparisons"><thead><tr>'
        "<th>Candidate</th><th>Scorer</th><th class='num'>n</th><th class='num'>Mean</th>"
        "<th class='num'>Diff</th><th class='num'>95% CI</th><th class='num'>Wilcoxon p</th>"
        "<th class='num'>McNemar p</th><th>Verdict</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _example_anchors(report: dict) -> dict[str, str]:
    return {
        str(example.get("golden_id")): f"example-{index + 1}"
        for index, example in enumerate(report.get("examples") or [])
    }


def _flaky_section(report: dict) -> str:
    flaky = [f for f in report.get("flaky_examples") or [] if isinstance(f, dict)]
    if not flaky:
        return (
            '<section id="flaky"><h2>Flaky examples</h2>'
            '<p class="muted">None: every repeated cell scored the same.</p></section>'
        )
    anchors = _example_anchors(report)
    rows = []
    for item in flaky:
        golden_id = str(item.get("golden_id"))
        anchor = anchors.get(golden_id)
        label = f"#{anchor.split('-')[1]}" if anchor else "\u2013"
        link = f"<a href='#{_e(anchor)}'>{_e(label)}</a>" if anchor else label
        scores = ", ".join(_fmt_num(score, 2) for score in item.get("scores") or [])
        rows.append(
            f"<tr><td>{link}</td><td><code>{_e(golden_id)}</code></td>"
            f"<td>{_e(_version_label(item.get('version')))}</td><td class='num'>{_e(scores)}</td>"
            f"<td class='num'>{_e(_fmt_num(item.get('variance')))}</td></tr>"
        )
    return (
        '<section id="flaky"><h2>Flaky examples</h2>'
        '<p class="small muted">Repeats of the same version on the same example that disagree.</p>'
        "<table><thead><tr><th>Example</th><th>Golden</th><th>Version</th><th class='num'>Scores</th>"
        f"<th class='num'>Variance</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _input_block(input_data: Any) -> str:
    if isinstance(input_data, dict) and input_data:
        items = []
        for key, value in input_data.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
            items.append(f"<div class='kv'><span class='k'>{_e(key)}</span><pre>{_e(text)}</pre></div>")
        return "".join(items)
    return f"<pre>{_e(_compact_json(input_data))}</pre>"


def _cell_block(cell: dict, scorers: Iterable[str]) -> str:
    status = str(cell.get("status") or "unknown")
    if status == "failed" or cell.get("error"):
        kind = "error"
    elif status != "completed":
        kind = "waiting"
    else:
        kind = "pass" if cell.get("passed") else "fail"
    head = [f"<span class='muted'>repeat {_e(cell.get('repeat'))}</span>"]
    if status != "completed":
        head.append(_badge(status, status))
    elif cell.get("passed") is not None:
        head.append(_badge("pass", "pass") if cell.get("passed") else _badge("fail", "fail"))
    if cell.get("cached"):
        head.append(_badge("cached", "cached"))
    if cell.get("latency_ms") is not None:
        head.append(f"<span class='muted'>{_e(_fmt_ms(cell.get('latency_ms')))}</span>")
    scores = cell.get("scores") or {}
    score_items = [
        f"<span>{_e(name)} <b>{_e(_fmt_num(scores.get(name), 2))}</b></span>" for name in scorers if name in scores
    ]
    body = "".join(
        [
            f"<div class='cell-head'>{''.join(head)}</div>",
            f"<div class='scores'>{''.join(score_items)}</div>" if score_items else "",
            f"<pre class='output'>{_e(cell.get('output'))}</pre>"
            if cell.get("output") is not None
            else "<div class='muted small'>no output</div>",
            f"<div class='err'>{_e(cell.get('error'))}</div>" if cell.get("error") else "",
        ]
    )
    return f"<div class='cell {kind}'>{body}</div>"


NO_CELLS = '<span class="muted">no cells</span>'


def _matrix_section(report: dict) -> str:
    examples = [e for e in report.get("examples") or [] if isinstance(e, dict)]
    if not examples:
        return '<section id="examples"><h2>Examples</h2><p class="muted">No examples yet.</p></section>'
    versions = version_numbers(report)
    scorers = scorer_names(report)
    anchors = _example_anchors(report)
    example_width = 30 if versions else 100
    version_width = (100 - example_width) / max(len(versions), 1)
    cols = f"<col style='width:{example_width}%'>" + "".join(
        f"<col style='width:{version_width:.2f}%'>" for _ in versions
    )
    head = "<tr><th>Example</th>" + "".join(f"<th>{_e(_version_label(v))}</th>" for v in versions) + "</tr>"
    rows = []
    for example in examples:
        golden_id = str(example.get("golden_id"))
        anchor = anchors[golden_id]
        cells = []
        for version in versions:
            blocks = "".join(_cell_block(cell, scorers) for cell in _cells_for(example, version))
            cells.append(f"<td>{blocks or NO_CELLS}</td>")
        rows.append(
            f"<tr id='{_e(anchor)}'><td class='example'>"
            f"<div class='small muted'>#{_e(anchor.split('-')[1])} · <code>{_e(golden_id)}</code></div>"
            f"{_input_block(example.get('input_data'))}"
            f"<div class='kv'><span class='k'>expected output</span><pre>{_e(example.get('expected_output'))}</pre>"
            f"</div></td>{''.join(cells)}</tr>"
        )
    return (
        '<section id="examples"><h2>Examples</h2>'
        f"<table class='matrix'><colgroup>{cols}</colgroup><thead>{head}</thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def report_to_html(report: dict) -> str:
    """The report as ONE self-contained HTML page: inline CSS and an inline SVG chart, no scripts,
    no external references of any kind, so it opens offline and can be attached or archived as is.

    Every piece of text from the report (names, inputs, model outputs, errors, verdicts) goes
    through ``html.escape``; the page contains no JavaScript at all."""
    title = f"Experiment report: {report.get('name') or report.get('experiment_id') or ''}"
    body = "".join(
        [
            _header(report),
            _score_chart(report),
            _distribution_chart(report),
            _versions_section(report),
            _comparisons_section(report),
            _flaky_section(report),
            _config_section(report),
            _matrix_section(report),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
