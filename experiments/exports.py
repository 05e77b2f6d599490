"""Exports of an experiment report: JSON, CSV and a single self-contained HTML page.

Every function here works on the report dict that ``experiments.selectors.experiment_report``
builds (the shape the ``/api/v1/experiment-results/{id}`` endpoint returns) and touches no
database, so a report saved as JSON can be exported again later, anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from llmops.core.csv_cells import neutralise

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
    OWASP "CSV injection" rule, kept in ``llmops.core.csv_cells``: text that already starts with ``'``
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
#
# The page is the template ``experiments/report.html`` (autoescaped). The functions below turn the
# report into plain values for it: formatted text and chart geometry, never markup.

REPORT_TEMPLATE = "experiments/report.html"
DASH = "\u2013"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _fmt_num(value: Any, digits: int = 3) -> str:
    number = _as_float(value)
    return DASH if number is None else f"{number:.{digits}f}"


def _fmt_signed(value: Any, digits: int = 3) -> str:
    number = _as_float(value)
    return DASH if number is None else f"{number:+.{digits}f}"


def _fmt_pct(value: Any) -> str:
    number = _as_float(value)
    return DASH if number is None else f"{number * 100:.1f}%"


def _fmt_ms(value: Any) -> str:
    number = _as_float(value)
    return DASH if number is None else f"{number:,.0f} ms"


def _fmt_int(value: Any) -> str:
    number = _as_float(value)
    return DASH if number is None else f"{int(number):,}"


def _fmt_p(value: Any) -> str:
    number = _as_float(value)
    if number is None:
        return DASH
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


def _summaries(report: dict) -> list[dict]:
    return [s for s in report.get("versions") or [] if isinstance(s, dict)]


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _header(report: dict) -> dict:
    status = str(report.get("status") or "unknown")
    meta = [
        {"label": "Prompt", "value": _text(report.get("prompt_name"))},
        {"label": "Experiment", "value": _text(report.get("experiment_id")), "code": True},
        {"label": "Created", "value": _text(report.get("created_at"))},
    ]
    if report.get("started_at"):
        meta.append({"label": "Started", "value": _text(report.get("started_at"))})
    if report.get("finished_at"):
        meta.append({"label": "Finished", "value": _text(report.get("finished_at"))})
    duration = _fmt_duration(report.get("started_at"), report.get("finished_at"))
    if duration:
        meta.append({"label": "Took", "value": duration})

    progress = report.get("progress") or {}
    total = _as_float(progress.get("total")) or 0
    segments = []
    for key in ("completed", "failed", "cancelled", "running"):
        count = _as_float(progress.get(key)) or 0
        if total and count:
            segments.append({"key": key, "width": f"{100 * count / total:.2f}", "count": _fmt_int(count)})
    counts = ", ".join(
        f"{_fmt_int(progress.get(key))} {key}"
        for key in ("completed", "failed", "running", "pending", "cancelled", "cached")
        if _as_float(progress.get(key))
    )
    return {
        "name": _text(report.get("name")),
        "status": status,
        "meta": meta,
        "segments": segments,
        "percent": _fmt_pct((_as_float(progress.get("percent")) or 0) / 100),
        "total": _fmt_int(total),
        "counts": counts,
    }


def _config(report: dict) -> dict:
    config = report.get("config") or {}
    scorers = []
    for scorer in config.get("scorers") or []:
        if not isinstance(scorer, dict):
            scorers.append({"plain": _text(scorer)})
            continue
        scorers.append(
            {
                "plain": None,
                "name": _text(scorer.get("name")),
                "threshold": _fmt_num(scorer.get("threshold"), 2),
                "params": _compact_json(scorer.get("params")) if scorer.get("params") else "",
            }
        )
    golden_filter = config.get("golden_filter") or {}
    filter_parts = []
    if golden_filter.get("split"):
        filter_parts.append(f"split {golden_filter['split']}")
    if golden_filter.get("tags"):
        filter_parts.append("tags " + ", ".join(str(tag) for tag in golden_filter["tags"]))
    return {
        "versions": ", ".join(_version_label(v) for v in config.get("versions") or []) or DASH,
        "scorers": scorers,
        "repeats": _text(config.get("repeats")),
        "concurrency": _text(config.get("concurrency")),
        "model_endpoint": _text(config.get("model_endpoint") or "prompt default"),
        "cache": "on" if config.get("cache") else "off",
        "goldens": "; ".join(filter_parts) or "all",
        "parameters": _compact_json(config.get("parameters")) if config.get("parameters") else "",
    }


def _score_chart(report: dict) -> dict:
    summaries = _summaries(report)
    scorers = scorer_names(report)
    width, left, right, bottom = 820, 64, 24, 46
    plot_w = width - left - right
    legend_item_w = 96
    per_row = max(1, int(plot_w // legend_item_w))
    legend_rows = max(1, math.ceil(len(summaries) / per_row))
    top = 24 + 22 * legend_rows
    plot_h = 240
    axis_y = top + plot_h
    chart: dict[str, Any] = {
        "width": width,
        "height": top + plot_h + bottom,
        "left": left,
        "right_x": width - right,
        "top": top,
        "axis_y": axis_y,
        "tick_x": left - 8,
        "label_y": f"{top + plot_h / 2:.1f}",
        "ticks": [
            {"y": f"{y:.1f}", "text_y": f"{y + 4:.1f}", "label": f"{tick:.2f}"}
            for tick in (0.0, 0.25, 0.5, 0.75, 1.0)
            for y in [top + plot_h * (1 - tick)]
        ],
        "legend": [],
        "groups": [],
        "empty_x": f"{left + plot_w / 2:.1f}",
    }
    for index, summary in enumerate(summaries):
        row, column = divmod(index, per_row)
        x, y = left + column * legend_item_w, 14 + row * 22
        chart["legend"].append(
            {
                "x": x,
                "y": y,
                "text_x": x + 18,
                "text_y": y + 11,
                "fill": _colour(index),
                "label": _version_label(summary.get("version")),
            }
        )
    if not summaries or not scorers:
        return chart
    group_w = plot_w / len(scorers)
    slot_w = min(72.0, group_w * 0.8 / len(summaries))
    bar_w = slot_w * 0.84
    for group, scorer in enumerate(scorers):
        group_x = left + group * group_w + (group_w - slot_w * len(summaries)) / 2
        bars = []
        for index, summary in enumerate(summaries):
            stats = _scores_of(summary, scorer)
            mean = _as_float(stats.get("mean"))
            bar_h = plot_h * min(max(mean, 0.0), 1.0) if mean is not None else 0.0
            x = group_x + index * slot_w + (slot_w - bar_w) / 2
            y = top + plot_h - bar_h
            bars.append(
                {
                    "version": _text(summary.get("version")),
                    "scorer": scorer,
                    "mean": "" if mean is None else repr(mean),
                    "x": f"{x:.1f}",
                    "y": f"{y:.1f}",
                    "width": f"{bar_w:.1f}",
                    "height": f"{bar_h:.1f}",
                    "fill": _colour(index),
                    "tooltip": (
                        f"{_version_label(summary.get('version'))} · {scorer}: mean {_fmt_num(mean)}, "
                        f"min {_fmt_num(stats.get('min'))}, max {_fmt_num(stats.get('max'))}, "
                        f"n={_fmt_int(stats.get('n'))}"
                    ),
                    "value_x": f"{x + bar_w / 2:.1f}",
                    "value_y": f"{y - 5:.1f}",
                    "value": "n/a" if mean is None else f"{mean:.2f}",
                }
            )
        chart["groups"].append(
            {
                "bars": bars,
                "scorer": scorer,
                "label": scorer if len(scorer) <= 28 else scorer[:27] + "…",
                "label_x": f"{left + group * group_w + group_w / 2:.1f}",
                "label_y": axis_y + 24,
            }
        )
    return chart


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


def _distribution_charts(report: dict) -> list[dict]:
    summaries = _summaries(report)
    scorers = scorer_names(report)
    if not summaries or not scorers:
        return []
    width, left, right, top, bottom, plot_h = 820, 64, 24, 16, 40, 150
    plot_w = width - left - right
    bin_w = plot_w / DISTRIBUTION_BINS
    bar_w = bin_w * 0.8 / len(summaries)
    height = top + plot_h + bottom
    charts = []
    for number, scorer in enumerate(scorers):
        histograms = [score_histogram(report, scorer, summary.get("version")) for summary in summaries]
        peak = max([1, *(count for histogram in histograms for count in histogram)])
        bars = []
        for index, (summary, histogram) in enumerate(zip(summaries, histograms, strict=True)):
            version = _version_label(summary.get("version"))
            for bucket, count in enumerate(histogram):
                bar_h = plot_h * count / peak
                low, high = bucket / DISTRIBUTION_BINS, (bucket + 1) / DISTRIBUTION_BINS
                bars.append(
                    {
                        "x": f"{left + bucket * bin_w + bin_w * 0.1 + index * bar_w:.1f}",
                        "y": f"{top + plot_h - bar_h:.1f}",
                        "width": f"{bar_w:.1f}",
                        "height": f"{bar_h:.1f}",
                        "fill": _colour(index),
                        "title": f"{version}: {count} cell(s) scored {low:.1f}{DASH}{high:.1f}",
                    }
                )
        charts.append(
            {
                "number": number,
                "scorer": scorer,
                "width": width,
                "height": height,
                "left": left,
                "right_x": width - right,
                "axis_y": top + plot_h,
                "tick_x": left - 8,
                "peak": peak,
                "peak_y": top + 8,
                "edges": [
                    {"x": f"{left + edge * bin_w:.1f}", "label": f"{edge / DISTRIBUTION_BINS:.1f}"}
                    for edge in range(DISTRIBUTION_BINS + 1)
                ],
                "edge_y": top + plot_h + 16,
                "bars": bars,
                "label_x": f"{left + plot_w / 2:.1f}",
                "label_y": height - 6,
            }
        )
    return charts


def _versions(report: dict) -> list[dict]:
    rows = []
    for summary in _summaries(report):
        tokens = summary.get("tokens") or {}
        latency = summary.get("latency_ms") or {}
        rows.append(
            {
                "label": _version_label(summary.get("version")),
                "n": _fmt_int(summary.get("n")),
                "completed": _fmt_int(summary.get("completed")),
                "failures": _fmt_int(summary.get("failures")),
                "scores": [
                    {
                        "mean": _fmt_num(_scores_of(summary, name).get("mean")),
                        "min": _fmt_num(_scores_of(summary, name).get("min"), 2),
                        "max": _fmt_num(_scores_of(summary, name).get("max"), 2),
                    }
                    for name in scorer_names(report)
                ],
                "pass_rate": _fmt_pct(summary.get("pass_rate")),
                "hallucination_rate": _fmt_pct(summary.get("hallucination_rate")),
                "p50": _fmt_ms(latency.get("p50")),
                "p95": _fmt_ms(latency.get("p95")),
                "tokens_in": _fmt_int(tokens.get("input")),
                "tokens_out": _fmt_int(tokens.get("output")),
                "cost": _fmt_cost(summary.get("cost")) if summary.get("cost_known", True) else "unknown",
            }
        )
    return rows


def _comparison_kind(comparison: dict) -> str:
    difference = _as_float(comparison.get("mean_difference"))
    if not comparison.get("significant") or difference is None or difference == 0:
        return "neutral"
    return "better" if difference > 0 else "worse"


def _comparisons(report: dict) -> list[dict]:
    rows = []
    for comparison in [c for c in report.get("comparisons") or [] if isinstance(c, dict)]:
        kind = _comparison_kind(comparison)
        rows.append(
            {
                "kind": kind,
                "label": "not significant" if kind == "neutral" else "significant",
                "candidate": _text(comparison.get("candidate")),
                "baseline": _text(comparison.get("baseline")),
                "scorer": _text(comparison.get("scorer")),
                "n": _fmt_int(comparison.get("n")),
                "mean_baseline": _fmt_num(comparison.get("mean_baseline")),
                "mean_candidate": _fmt_num(comparison.get("mean_candidate")),
                "difference": _fmt_signed(comparison.get("mean_difference")),
                "ci_low": _fmt_signed(comparison.get("ci_low")),
                "ci_high": _fmt_signed(comparison.get("ci_high")),
                "wilcoxon_p": _fmt_p(comparison.get("wilcoxon_p")),
                "mcnemar_p": _fmt_p(comparison.get("mcnemar_p")),
                "verdict": _text(comparison.get("verdict")),
            }
        )
    return rows


def _example_anchors(report: dict) -> dict[str, str]:
    return {
        str(example.get("golden_id")): f"example-{index + 1}"
        for index, example in enumerate(report.get("examples") or [])
    }


def _flaky(report: dict) -> list[dict]:
    anchors = _example_anchors(report)
    rows = []
    for item in [f for f in report.get("flaky_examples") or [] if isinstance(f, dict)]:
        golden_id = str(item.get("golden_id"))
        anchor = anchors.get(golden_id)
        rows.append(
            {
                "anchor": anchor,
                "label": f"#{anchor.split('-')[1]}" if anchor else DASH,
                "golden_id": golden_id,
                "version": _version_label(item.get("version")),
                "scores": ", ".join(_fmt_num(score, 2) for score in item.get("scores") or []),
                "variance": _fmt_num(item.get("variance")),
            }
        )
    return rows


def _input_items(input_data: Any) -> list[dict] | None:
    """One item per variable; None when the input is not a non-empty object (shown as compact JSON)."""
    if not (isinstance(input_data, dict) and input_data):
        return None
    items = []
    for key, value in input_data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
        items.append({"key": _text(key), "text": text})
    return items


def _cell(cell: dict, scorers: Iterable[str]) -> dict:
    status = str(cell.get("status") or "unknown")
    if status == "failed" or cell.get("error"):
        kind = "error"
    elif status != "completed":
        kind = "waiting"
    else:
        kind = "pass" if cell.get("passed") else "fail"
    badges = []
    if status != "completed":
        badges.append({"text": status, "kind": status})
    elif cell.get("passed") is not None:
        badges.append({"text": "pass", "kind": "pass"} if cell.get("passed") else {"text": "fail", "kind": "fail"})
    if cell.get("cached"):
        badges.append({"text": "cached", "kind": "cached"})
    scores = cell.get("scores") or {}
    return {
        "kind": kind,
        "repeat": _text(cell.get("repeat")),
        "badges": badges,
        "latency": _fmt_ms(cell.get("latency_ms")) if cell.get("latency_ms") is not None else "",
        "scores": [{"name": name, "value": _fmt_num(scores.get(name), 2)} for name in scorers if name in scores],
        "output": cell.get("output"),
        "error": _text(cell.get("error")),
    }


def _matrix(report: dict) -> dict:
    versions = version_numbers(report)
    scorers = scorer_names(report)
    anchors = _example_anchors(report)
    example_width = 30 if versions else 100
    rows = []
    for example in [e for e in report.get("examples") or [] if isinstance(e, dict)]:
        golden_id = str(example.get("golden_id"))
        anchor = anchors[golden_id]
        input_data = example.get("input_data")
        rows.append(
            {
                "anchor": anchor,
                "number": anchor.split("-")[1],
                "golden_id": golden_id,
                "inputs": _input_items(input_data),
                "input_json": _compact_json(input_data),
                "expected": _text(example.get("expected_output")),
                "versions": [[_cell(cell, scorers) for cell in _cells_for(example, version)] for version in versions],
            }
        )
    return {
        "example_width": example_width,
        "version_width": f"{(100 - example_width) / max(len(versions), 1):.2f}",
        "versions": [_version_label(v) for v in versions],
        "rows": rows,
    }


def report_to_html(report: dict) -> str:
    """The report as ONE self-contained HTML page: inline CSS and inline SVG charts, no scripts,
    no external references of any kind, so it opens offline and can be attached or archived as is.

    Every piece of text from the report (names, inputs, model outputs, errors, verdicts) is
    escaped by the template engine; the page contains no JavaScript at all."""
    from django.template.loader import render_to_string

    context = {
        "title": f"Experiment report: {report.get('name') or report.get('experiment_id') or ''}",
        "header": _header(report),
        "chart": _score_chart(report),
        "distributions": _distribution_charts(report),
        "scorers": scorer_names(report),
        "versions": _versions(report),
        "comparisons": _comparisons(report),
        "flaky": _flaky(report),
        "config": _config(report),
        "matrix": _matrix(report),
    }
    return render_to_string(REPORT_TEMPLATE, context)
