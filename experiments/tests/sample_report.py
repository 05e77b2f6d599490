"""A complete experiment report, shaped exactly as ``experiments.selectors.experiment_report`` returns it.

Two versions, two scorers (exact and hallucination), three goldens, two repeats: twelve cells,
one of them failed, one served from the cache, one example flaky in v2, and text written to
break exports (HTML, spreadsheet formulas, quotes, non-ASCII). The aggregates agree with the cells.
"""

from __future__ import annotations

import copy

EXPERIMENT_ID = "5b1d7c62-0f3e-4a8e-9d6b-2f4c1e7a9b10"
PROMPT_ID = "c3a9e0f1-7d24-4b6a-8e15-9f0b2d4c6a81"
GOLDEN_BILLING = "0e6f3a52-9c1d-4b7e-a2f8-5d3c1b9e7a01"
GOLDEN_CRASH = "0e6f3a52-9c1d-4b7e-a2f8-5d3c1b9e7a02"
GOLDEN_EXPORT = "0e6f3a52-9c1d-4b7e-a2f8-5d3c1b9e7a03"

EXPERIMENT_NAME = 'Triage v1 vs v2 <b>rerun</b> & "final"'
PROMPT_NAME = 'support-triage "beta" <x>'
SCRIPT_OUTPUT = "<script>alert(1)</script>"
DDE_OUTPUT = "=cmd|' /C calc'!A0"
PHONE_OUTPUT = "+1 555 0100, call us"
DASH_OUTPUT = "-how to\nexport: Settings → Export"
FAILED_ERROR = "upstream timeout after 30 s"

VERDICT_EXACT = "no significant difference between v2 and v1 (mean +0.60, 95% CI [+0.20, +1.00], n=5)"
VERDICT_HALLUCINATION = "v2 better than v1, significant at 95% (mean +0.80, 95% CI [+0.40, +1.00], n=5)"


def _cell(repeat, output, exact, grounded, *, latency, passed=None, cached=False):
    return {
        "repeat": repeat,
        "status": "completed",
        "output": output,
        "scores": {"exact": exact, "hallucination": grounded},
        "passed": (exact >= 1.0 and grounded >= 0.5) if passed is None else passed,
        "cached": cached,
        "latency_ms": latency,
        "error": None,
    }


def _failed(repeat, error):
    return {
        "repeat": repeat,
        "status": "failed",
        "output": None,
        "scores": {},
        "passed": None,
        "cached": False,
        "latency_ms": None,
        "error": error,
    }


_REPORT = {
    "experiment_id": EXPERIMENT_ID,
    "name": EXPERIMENT_NAME,
    "prompt_id": PROMPT_ID,
    "prompt_name": PROMPT_NAME,
    "status": "completed",
    "created_at": "2026-03-02T09:14:05.120000+00:00",
    "started_at": "2026-03-02T09:14:06.004000+00:00",
    "finished_at": "2026-03-02T09:15:52.880000+00:00",
    "config": {
        "versions": [1, 2],
        "scorers": [
            {"name": "exact", "threshold": 1.0, "params": {}},
            {"name": "hallucination", "threshold": 0.5, "params": {"judge": "gemma-3-270m"}},
        ],
        "repeats": 2,
        "concurrency": 4,
        "model_endpoint": "local-gemma",
        "cache": True,
        "golden_filter": {"split": "test", "tags": ["support"]},
        "parameters": {"temperature": 0.7, "max_tokens": 32},
    },
    "progress": {
        "total": 12,
        "pending": 0,
        "running": 0,
        "completed": 11,
        "failed": 1,
        "cancelled": 0,
        "cached": 1,
        "percent": 100.0,
    },
    "versions": [
        {
            "version": 1,
            "version_id": "a1f0c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c01",
            "n": 6,
            "completed": 6,
            "failures": 0,
            "scores": {
                "exact": {
                    "n": 6,
                    "mean": 0.3333333333,
                    "min": 0.0,
                    "max": 1.0,
                    "std": 0.4714045208,
                    "p50": 0.0,
                    "p95": 1.0,
                },
                "hallucination": {
                    "n": 6,
                    "mean": 0.3333333333,
                    "min": 0.0,
                    "max": 1.0,
                    "std": 0.4714045208,
                    "p50": 0.0,
                    "p95": 1.0,
                },
            },
            "pass_rate": 0.3333333333,
            "hallucination_rate": 0.6666666667,
            "latency_ms": {"mean": 191.3333333333, "p50": 205.0, "p95": 308.75},
            "tokens": {"input": 312, "output": 48},
            "cost": "0.000540000",
            "cost_known": True,
        },
        {
            "version": 2,
            "version_id": "a1f0c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c02",
            "n": 6,
            "completed": 5,
            "failures": 1,
            "scores": {
                "exact": {"n": 5, "mean": 0.8, "min": 0.0, "max": 1.0, "std": 0.4, "p50": 1.0, "p95": 1.0},
                "hallucination": {"n": 5, "mean": 1.0, "min": 1.0, "max": 1.0, "std": 0.0, "p50": 1.0, "p95": 1.0},
            },
            "pass_rate": 0.8,
            "hallucination_rate": 0.0,
            "latency_ms": {"mean": 133.0, "p50": 130.0, "p95": 158.0},
            "tokens": {"input": 260, "output": 25},
            "cost": None,
            "cost_known": False,
        },
    ],
    "comparisons": [
        {
            "baseline": "v1",
            "candidate": "v2",
            "scorer": "exact",
            "n": 5,
            "mean_baseline": 0.2,
            "mean_candidate": 0.8,
            "mean_difference": 0.6,
            "ci_low": 0.2,
            "ci_high": 1.0,
            "wilcoxon_p": 0.0833,
            "mcnemar_p": 0.25,
            "significant": False,
            "verdict": VERDICT_EXACT,
        },
        {
            "baseline": "v1",
            "candidate": "v2",
            "scorer": "hallucination",
            "n": 5,
            "mean_baseline": 0.2,
            "mean_candidate": 1.0,
            "mean_difference": 0.8,
            "ci_low": 0.4,
            "ci_high": 1.0,
            "wilcoxon_p": 0.0455,
            "mcnemar_p": 0.125,
            "significant": True,
            "verdict": VERDICT_HALLUCINATION,
        },
    ],
    "examples": [
        {
            "golden_id": GOLDEN_BILLING,
            "input_data": {"ticket": "Die Rechnung für März ist doppelt abgebucht.", "customer": "ACME GmbH"},
            "expected_output": "billing",
            "cells": {
                "1": [
                    _cell(0, "billing", 1.0, 1.0, latency=120),
                    _cell(1, "billing", 1.0, 1.0, latency=3, cached=True),
                ],
                "2": [
                    _cell(0, "billing", 1.0, 1.0, latency=100),
                    _failed(1, FAILED_ERROR),
                ],
            },
        },
        {
            "golden_id": GOLDEN_CRASH,
            "input_data": {
                "ticket": 'App crashes on login: "</td></tr><script>x()</script>',
                "customer": 'Bob "B" Ltd',
            },
            "expected_output": "bug",
            "cells": {
                "1": [
                    _cell(0, SCRIPT_OUTPUT, 0.0, 0.0, latency=310),
                    _cell(1, SCRIPT_OUTPUT, 0.0, 0.0, latency=305),
                ],
                "2": [
                    _cell(0, "bug", 1.0, 1.0, latency=130),
                    _cell(1, "bug", 1.0, 1.0, latency=125),
                ],
            },
        },
        {
            "golden_id": GOLDEN_EXPORT,
            "input_data": {"ticket": "=1+1 how do I export my data?", "customer": "@someone"},
            "expected_output": "how-to",
            "cells": {
                "1": [
                    _cell(0, DDE_OUTPUT, 0.0, 0.0, latency=200),
                    _cell(1, PHONE_OUTPUT, 0.0, 0.0, latency=210),
                ],
                "2": [
                    _cell(0, "how-to", 1.0, 1.0, latency=150),
                    _cell(1, DASH_OUTPUT, 0.0, 1.0, latency=160),
                ],
            },
        },
    ],
    "flaky_examples": [{"golden_id": GOLDEN_EXPORT, "version": 2, "scores": [1.0, 0.0], "variance": 0.25}],
}


def sample_report() -> dict:
    """A fresh deep copy: tests may change it freely."""
    return copy.deepcopy(_REPORT)
