"""Exports of an experiment report: JSON, CSV (spreadsheet-safe) and the self-contained HTML page."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from html.parser import HTMLParser

import pytest

from experiments.exports import report_to_csv, report_to_html, report_to_json
from experiments.tests.sample_report import (
    DASH_OUTPUT,
    DDE_OUTPUT,
    EXPERIMENT_NAME,
    FAILED_ERROR,
    GOLDEN_BILLING,
    GOLDEN_CRASH,
    GOLDEN_EXPORT,
    PHONE_OUTPUT,
    PROMPT_NAME,
    SCRIPT_OUTPUT,
    VERDICT_EXACT,
    VERDICT_HALLUCINATION,
    sample_report,
)

EXPECTED_COLUMNS = [
    "golden_id",
    "version",
    "repeat",
    "status",
    "cached",
    "passed",
    "latency_ms",
    "score_exact",
    "score_hallucination",
    "error",
    "input_data",
    "expected_output",
    "output",
]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def row_for(rows, golden_id, version, repeat):
    [row] = [r for r in rows if (r["golden_id"], r["version"], r["repeat"]) == (golden_id, str(version), str(repeat))]
    return row


def bars(page: str) -> list[str]:
    return re.findall(r'<rect class="bar"[^>]*>', page)


def attribute(tag: str, name: str) -> str:
    match = re.search(rf'\b{name}="([^"]*)"', tag)
    assert match, (name, tag)
    return match.group(1)


def bar_for(page: str, version: int, scorer: str) -> str:
    [tag] = [t for t in bars(page) if f'data-version="{version}"' in t and f'data-scorer="{scorer}"' in t]
    return tag


class NestingChecker(HTMLParser):
    """Fails on any element closed out of order or left open: a half-escaped string breaks nesting."""

    VOID = {"meta", "br", "col", "line", "rect", "img", "hr", "input", "link", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            if self.stack and self.stack[-1] == tag:  # <rect ...><title/></rect>
                self.stack.pop()
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def checked(page: str) -> NestingChecker:
    checker = NestingChecker()
    checker.feed(page)
    checker.close()
    return checker


# --------------------------------------------------------------------------- JSON


def test_json_round_trips_pretty_and_utf8():
    report = sample_report()

    text = report_to_json(report)

    assert json.loads(text) == report
    assert "\n  " in text  # indented
    assert "für März" in text  # UTF-8, not \u escapes
    assert text.index('"comparisons"') < text.index('"config"') < text.index('"versions"')


def test_json_is_stable_whatever_the_key_order():
    report = sample_report()
    shuffled = dict(reversed(list(report.items())))
    shuffled["progress"] = dict(reversed(list(report["progress"].items())))

    assert report_to_json(shuffled) == report_to_json(report)


# --------------------------------------------------------------------------- CSV


def test_csv_has_one_row_per_cell_and_the_columns():
    text = report_to_csv(sample_report())

    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    assert reader.fieldnames == EXPECTED_COLUMNS
    assert len(rows) == 3 * 2 * 2
    assert {(r["golden_id"], r["version"], r["repeat"]) for r in rows} == {
        (g, v, r) for g in (GOLDEN_BILLING, GOLDEN_CRASH, GOLDEN_EXPORT) for v in "12" for r in "01"
    }


def test_csv_values_round_trip():
    rows = csv_rows(report_to_csv(sample_report()))

    first = row_for(rows, GOLDEN_BILLING, 1, 0)
    assert first["status"] == "completed"
    assert (first["cached"], first["passed"], first["latency_ms"]) == ("false", "true", "120")
    assert (first["score_exact"], first["score_hallucination"]) == ("1.0", "1.0")
    assert json.loads(first["input_data"]) == sample_report()["examples"][0]["input_data"]
    assert first["expected_output"] == "billing"

    cached = row_for(rows, GOLDEN_BILLING, 1, 1)
    assert cached["cached"] == "true"

    failed = row_for(rows, GOLDEN_BILLING, 2, 1)
    assert failed["status"] == "failed"
    assert failed["error"] == FAILED_ERROR
    assert failed["output"] == failed["passed"] == failed["latency_ms"] == failed["score_exact"] == ""

    script = row_for(rows, GOLDEN_CRASH, 1, 0)
    assert script["output"] == SCRIPT_OUTPUT
    assert json.loads(script["input_data"])["ticket"].startswith('App crashes on login: "</td>')


def test_csv_neutralises_formula_looking_text():
    rows = csv_rows(report_to_csv(sample_report()))

    assert row_for(rows, GOLDEN_EXPORT, 1, 0)["output"] == "'" + DDE_OUTPUT
    assert row_for(rows, GOLDEN_EXPORT, 1, 1)["output"] == "'" + PHONE_OUTPUT
    assert row_for(rows, GOLDEN_EXPORT, 2, 1)["output"] == "'" + DASH_OUTPUT  # multi-line, intact after the quote
    assert row_for(rows, GOLDEN_EXPORT, 2, 0)["output"] == "how-to"  # a dash inside is harmless
    assert row_for(rows, GOLDEN_CRASH, 1, 0)["output"] == SCRIPT_OUTPUT
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    for row in rows:
        for column, value in row.items():
            if column not in ("version", "repeat", "latency_ms", "score_exact", "score_hallucination"):
                assert not value.startswith(dangerous), (column, value)


@pytest.mark.parametrize("text", ["@SUM(A1:A9)", "\t=1+1", "\r=1+1", "-2+3", "+cmd", '=HYPERLINK("x","y")'])
def test_csv_neutralises_every_trigger_in_any_text_field(text):
    report = sample_report()
    cell = report["examples"][0]["cells"]["1"][0]
    cell["output"] = text
    cell["error"] = text
    report["examples"][0]["expected_output"] = text
    report["examples"][0]["golden_id"] = text

    row = csv_rows(report_to_csv(report))[0]

    assert row["output"] == row["error"] == row["expected_output"] == row["golden_id"] == "'" + text


def test_csv_leaves_numbers_alone():
    report = sample_report()
    report["examples"][0]["cells"]["1"][0]["scores"]["exact"] = -0.5

    row = csv_rows(report_to_csv(report))[0]

    assert row["score_exact"] == "-0.5"


def test_csv_of_a_report_without_examples_is_just_the_header():
    report = sample_report()
    report["examples"] = []

    text = report_to_csv(report)

    assert text.strip() == ",".join(EXPECTED_COLUMNS)


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained_and_script_free():
    page = report_to_html(sample_report())

    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "@import", "url(", "src=", "<iframe"):
        assert forbidden not in lowered, forbidden
    head = page[page.index("<head>") : page.index("</head>")]
    assert '<meta charset="utf-8">' in head
    assert re.findall(r"<(\w+)", head) == ["head", "meta", "title", "style"]


def test_html_is_well_nested():
    checker = checked(report_to_html(sample_report()))

    assert checker.errors == []
    assert checker.stack == []
    assert "svg" in checker.seen and "table" in checker.seen


def test_html_escapes_hostile_text():
    page = report_to_html(sample_report())

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT_OUTPUT not in page
    assert html.escape(PROMPT_NAME) in page
    assert PROMPT_NAME not in page
    assert html.escape(EXPERIMENT_NAME) in page
    assert "<b>rerun</b>" not in page
    assert f"<title>Experiment report: {html.escape(EXPERIMENT_NAME)}</title>" in page
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;script&gt;x()&lt;/script&gt;" in page
    assert html.escape(DDE_OUTPUT) in page


def test_html_chart_has_one_bar_per_version_and_scorer():
    page = report_to_html(sample_report())

    svg = re.search(r'<svg id="score-chart"[^>]*>(.*?)</svg>', page, re.S)
    assert svg, "chart missing"
    assert re.search(r"<title[^>]*>[^<]+</title>", svg.group(1))
    assert len(bars(page)) == 2 * 2
    assert len(re.findall(r"<rect class=\"bar\"", svg.group(1))) == 4
    assert {(attribute(t, "data-version"), attribute(t, "data-scorer")) for t in bars(page)} == {
        ("1", "exact"),
        ("1", "hallucination"),
        ("2", "exact"),
        ("2", "hallucination"),
    }
    assert ">v1</text>" in svg.group(1) and ">v2</text>" in svg.group(1)  # legend
    assert ">0.00</text>" in svg.group(1) and ">1.00</text>" in svg.group(1)  # axis 0-1


def test_html_bar_heights_follow_the_means():
    page = report_to_html(sample_report())

    full = float(attribute(bar_for(page, 2, "hallucination"), "height"))  # mean 1.0
    exact_v2 = float(attribute(bar_for(page, 2, "exact"), "height"))  # mean 0.8
    exact_v1 = float(attribute(bar_for(page, 1, "exact"), "height"))  # mean 1/3
    assert full > 0
    assert exact_v2 / full == pytest.approx(0.8, abs=0.01)
    assert exact_v1 / full == pytest.approx(1 / 3, abs=0.01)
    base = {
        round(float(attribute(t, "y")) + float(attribute(t, "height")), 1) for t in bars(page)
    }  # all bars stand on the same axis
    assert len(base) == 1


def test_html_shows_verdicts_versions_flaky_and_the_matrix():
    page = report_to_html(sample_report())

    assert html.escape(VERDICT_EXACT) in page
    assert html.escape(VERDICT_HALLUCINATION) in page
    comparisons = page[page.index('id="comparisons"') : page.index('id="flaky"')]
    assert "not significant" in comparisons and "class='better'" in comparisons
    flaky = page[page.index('id="flaky"') : page.index("<h2>Configuration</h2>")]
    assert GOLDEN_EXPORT in flaky and "href='#example-3'" in flaky
    versions = page[page.index("<h2>Versions</h2>") : page.index('id="comparisons"')]
    for text in ("33.3%", "80.0%", "66.7%", "205 ms", "158 ms", "312 / 48", "0.00054", "unknown"):
        assert text in versions, text
    matrix = page[page.index('id="examples"') :]
    assert matrix.count("class='cell ") == 12
    assert FAILED_ERROR in matrix
    assert ">cached</span>" in matrix
    assert "id='example-3'" in matrix
    assert matrix.count("<th>v1</th>") == matrix.count("<th>v2</th>") == 1
    assert "100.0%" in page and "11 completed, 1 failed" in page


def test_html_of_an_empty_pending_report():
    report = sample_report()
    report.update(
        status="pending",
        started_at=None,
        finished_at=None,
        versions=[],
        comparisons=[],
        examples=[],
        flaky_examples=[],
        progress={k: 0 for k in report["progress"]} | {"total": 12, "pending": 12, "percent": 0.0},
    )

    page = report_to_html(report)

    assert checked(page).errors == []
    assert 'id="score-chart"' in page and "No scores yet" in page
    assert bars(page) == []
    assert "No comparisons" in page and "No examples yet" in page
    assert "0.0%" in page


def test_html_chart_with_a_missing_mean_still_draws_every_bar():
    report = sample_report()
    report["versions"][1]["scores"]["exact"]["mean"] = None

    page = report_to_html(report)

    assert len(bars(page)) == 4
    assert attribute(bar_for(page, 2, "exact"), "height") == "0.0"
    assert ">n/a</text>" in page


def test_html_has_a_score_distribution_per_scorer_with_the_cells_binned():
    from experiments.exports import DISTRIBUTION_BINS, score_histogram, scorer_names, version_numbers

    report = sample_report()
    html = report_to_html(report)
    for number, scorer in enumerate(scorer_names(report)):
        assert f'id="score-distribution-{number}"' in html
        for version in version_numbers(report):
            histogram = score_histogram(report, scorer, version)
            assert len(histogram) == DISTRIBUTION_BINS
            completed = sum(
                1
                for example in report["examples"]
                for cell in example["cells"].get(str(version), [])
                if cell["status"] == "completed" and cell["scores"].get(scorer) is not None
            )
            assert sum(histogram) == completed
    bars = html.count('class="dist-bar"')
    assert bars == DISTRIBUTION_BINS * len(scorer_names(report)) * len(version_numbers(report))


def test_html_comes_from_an_autoescaped_template():
    from django.conf import settings
    from django.test.signals import template_rendered

    rendered = []

    def record(sender, template, context, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(record)
    try:
        page = report_to_html(sample_report())
    finally:
        template_rendered.disconnect(record)
    assert rendered == ["experiments/report.html"]
    source = (settings.BASE_DIR / "templates" / "experiments" / "report.html").read_text()
    assert "|safe" not in source and "autoescape off" not in source and "safeseq" not in source
    assert html.escape(PROMPT_NAME) in page and PROMPT_NAME not in page
