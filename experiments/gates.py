"""CI gates and the plain-text comparison table, as pure functions of an experiment report.

The client package ships this module (``client/src/llmops_client/gates.py`` links here), so ``llmops
experiment run`` gates and prints exactly as ``manage.py run_experiment``: keep it free of Django."""

from __future__ import annotations

from dataclasses import dataclass

DASH = "-"


@dataclass(frozen=True)
class Gate:
    passed: bool
    message: str


def newest_version(report: dict) -> int | None:
    numbers = [summary["version"] for summary in report["versions"]]
    return max(numbers) if numbers else None


def primary_scorer(report: dict) -> str:
    return report["config"]["scorers"][0]["name"]


def fail_under(report: dict, *, score: float) -> Gate:
    """The primary scorer's mean of the newest version must reach ``score``."""
    scorer, newest = primary_scorer(report), newest_version(report)
    summary = next((s for s in report["versions"] if s["version"] == newest), None)
    mean = summary["scores"].get(scorer, {}).get("mean") if summary else None
    if mean is None:
        return Gate(False, f"v{newest} has no {scorer} score to compare with {score:g}")
    verb = "reaches" if mean >= score else "is below"
    return Gate(mean >= score, f"v{newest} {scorer} mean {mean:.3f} {verb} {score:g}")


def fail_if_worse_than(report: dict, *, baseline: int) -> Gate:
    """The newest version must not be significantly worse than ``baseline`` on the primary scorer."""
    scorer, newest = primary_scorer(report), newest_version(report)
    comparison = next(
        (
            c
            for c in report["comparisons"]
            if c["baseline"] == f"v{baseline}" and c["candidate"] == f"v{newest}" and c["scorer"] == scorer
        ),
        None,
    )
    if comparison is None:
        return Gate(False, f"no comparison of v{newest} with v{baseline} on {scorer}")
    worse = comparison["significant"] and (comparison["mean_difference"] or 0) < 0
    return Gate(not worse, f"{scorer}: {comparison['verdict']}")


def _number(value: float | None, digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def _rows(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def comparison_table(report: dict) -> str:
    """Versions x scorers (means), pass rates, latency and cost; then every comparison's verdict."""
    progress = report["progress"]
    scorers = [scorer["name"] for scorer in report["config"]["scorers"]]
    lines = [
        f"Experiment '{report['name']}' ({report['experiment_id']}): {report['status']}, "
        f"{progress['total']} cells: {progress['completed']} completed, {progress['failed']} failed, "
        f"{progress['cancelled']} cancelled, {progress['cached']} cached",
        "",
    ]
    header = ["version", "n", *(f"{name} mean" for name in scorers), "pass rate", "p50 ms", "cost"]
    rows = [
        [
            f"v{summary['version']}",
            f"{summary['completed']}/{summary['n']}",
            *(_number(summary["scores"].get(name, {}).get("mean")) for name in scorers),
            _percent(summary["pass_rate"]),
            _number(summary["latency_ms"]["p50"], 0),
            summary["cost"] if summary["cost_known"] else "unknown",
        ]
        for summary in report["versions"]
    ]
    lines += _rows(header, rows)
    if report["comparisons"]:
        lines += ["", "Comparisons (paired, per golden):"]
        lines += _rows(
            ["candidate", "baseline", "scorer", "verdict"],
            [[c["candidate"], c["baseline"], c["scorer"], c["verdict"]] for c in report["comparisons"]],
        )
    if report["flaky_examples"]:
        lines += ["", f"Flaky examples ({primary_scorer(report)}): {len(report['flaky_examples'])}"]
    return "\n".join(lines)
