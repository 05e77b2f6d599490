"""The experiment report, built in memory from rows already loaded (experiments.selectors loads them).

Statistics come from evaluation.statistics. A comparison pairs two versions on the goldens both have a
score for: per golden, the mean over repeats (and pass/fail of that mean against the scorer's threshold,
for McNemar), so repeats sharpen each example's value without being counted as more examples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from statistics import fmean

from evaluation.statistics import compare_paired, flaky_examples, percentile, summarize
from experiments.config import ExperimentConfig
from experiments.models import Experiment, ExperimentResult
from experiments.scoring import HALLUCINATION_SCORERS
from prompts.models import PromptVersion

COST_PLACES = Decimal("0.000000001")
Status = ExperimentResult.Status
PROGRESS_STATUSES = tuple(Status.values)


def progress_of(counts: Mapping[str, int]) -> dict:
    """Counts by status, cached cells, and the share of cells that reached a final state."""
    progress = {status: int(counts.get(status) or 0) for status in PROGRESS_STATUSES}
    total = sum(progress.values())
    done = progress["completed"] + progress["failed"] + progress["cancelled"]
    return {
        "total": total,
        **progress,
        "cached": int(counts.get("cached") or 0),
        "percent": round(100.0 * done / total, 1) if total else 0.0,
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def _label(number: int) -> str:
    return f"v{number}"


def answered(cell: ExperimentResult) -> bool:
    """The model answered (or the cache did): what latency, tokens and cost count."""
    return cell.status == Status.COMPLETED or (cell.status == Status.FAILED and cell.error_type == "scorer_error")


def build_report(*, experiment: Experiment, versions: list[PromptVersion], cells: list[ExperimentResult]) -> dict:
    config = ExperimentConfig.of(experiment)
    thresholds = {scorer["name"]: float(scorer["threshold"]) for scorer in config.scorers}
    scorer_names = list(thresholds)
    by_number = {version.version: version for version in versions}
    for cell in cells:
        by_number.setdefault(cell.prompt_version.version, cell.prompt_version)
    numbers = sorted(by_number)
    cells_by_version: dict[int, list[ExperimentResult]] = defaultdict(list)
    for cell in cells:
        cells_by_version[cell.prompt_version.version].append(cell)

    counts: dict[str, int] = defaultdict(int)
    for cell in cells:
        counts[cell.status] += 1
        counts["cached"] += int(cell.cached)
    return {
        "experiment_id": str(experiment.pk),
        "name": experiment.name,
        "prompt_id": str(experiment.prompt_id),
        "prompt_name": experiment.prompt.name,
        "status": experiment.status,
        "created_at": _iso(experiment.created_at),
        "started_at": _iso(experiment.started_at),
        "finished_at": _iso(experiment.finished_at),
        "config": config.public(),
        "progress": progress_of(counts),
        "versions": [_version_summary(by_number[number], cells_by_version[number], thresholds) for number in numbers],
        "comparisons": _comparisons(numbers, cells_by_version, thresholds),
        "examples": _examples(cells),
        "flaky_examples": _flaky(numbers, cells_by_version, config) if scorer_names else [],
    }


def _version_summary(version: PromptVersion, cells: list[ExperimentResult], thresholds: dict[str, float]) -> dict:
    completed = [cell for cell in cells if cell.status == Status.COMPLETED]
    spent = [cell for cell in cells if answered(cell)]
    paying = [cell for cell in spent if not cell.cached]
    hallucination = [name for name in thresholds if name in HALLUCINATION_SCORERS]
    latencies = [cell.latency_ms for cell in spent if cell.latency_ms is not None]
    cost_known = all(cell.cost is not None for cell in paying)
    cost = sum((cell.cost for cell in paying if cell.cost is not None), Decimal("0"))
    return {
        "version": version.version,
        "version_id": str(version.pk),
        "n": len(cells),
        "completed": len(completed),
        "failures": sum(1 for cell in cells if cell.status == Status.FAILED),
        "scores": {name: summarize([cell.scores.get(name) for cell in completed]) for name in thresholds},
        "pass_rate": _share(bool(cell.passed) for cell in completed),
        "hallucination_rate": _share(
            any(name in cell.scores and cell.scores[name] < thresholds[name] for name in hallucination)
            for cell in completed
        )
        if hallucination
        else None,
        "latency_ms": {
            "mean": fmean(latencies) if latencies else None,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
        },
        "tokens": {
            "input": sum(cell.input_tokens or 0 for cell in paying),
            "output": sum(cell.output_tokens or 0 for cell in paying),
        },
        "cost": format(cost.quantize(COST_PLACES), "f") if cost_known else None,
        "cost_known": cost_known,
    }


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def _per_golden(cells: list[ExperimentResult], scorer: str) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = defaultdict(list)
    for cell in cells:
        if cell.status == Status.COMPLETED and scorer in cell.scores:
            scores[str(cell.golden_example_id)].append(float(cell.scores[scorer]))
    return scores


def _comparisons(
    numbers: list[int], cells_by_version: dict[int, list[ExperimentResult]], thresholds: dict[str, float]
) -> list[dict]:
    comparisons = []
    for index, baseline in enumerate(numbers):
        for candidate in numbers[index + 1 :]:
            for scorer, threshold in thresholds.items():
                base = _per_golden(cells_by_version[baseline], scorer)
                cand = _per_golden(cells_by_version[candidate], scorer)
                common = [golden for golden in base if golden in cand]
                base_means = [fmean(base[golden]) for golden in common]
                cand_means = [fmean(cand[golden]) for golden in common]
                result = compare_paired(
                    baseline_label=_label(baseline),
                    candidate_label=_label(candidate),
                    baseline_scores=base_means,
                    candidate_scores=cand_means,
                    baseline_passed=[mean >= threshold for mean in base_means],
                    candidate_passed=[mean >= threshold for mean in cand_means],
                )
                comparisons.append(
                    {
                        "baseline": result.baseline,
                        "candidate": result.candidate,
                        "scorer": scorer,
                        "n": result.n,
                        "mean_baseline": result.mean_baseline,
                        "mean_candidate": result.mean_candidate,
                        "mean_difference": result.mean_difference,
                        "ci_low": result.ci_low,
                        "ci_high": result.ci_high,
                        "wilcoxon_p": result.wilcoxon_p,
                        "mcnemar_p": result.mcnemar_p,
                        "significant": result.significant,
                        "verdict": result.verdict,
                    }
                )
    return comparisons


def _cell_entry(cell: ExperimentResult) -> dict:
    error = ": ".join(part for part in (cell.error_type, cell.error_message) if part)
    return {
        "repeat": cell.repeat_index,
        "status": cell.status,
        "output": cell.output if cell.output or answered(cell) else None,
        "scores": dict(cell.scores or {}),
        "passed": cell.passed,
        "cached": cell.cached,
        "latency_ms": cell.latency_ms,
        "error": error or None,
    }


def _examples(cells: list[ExperimentResult]) -> list[dict]:
    """One entry per golden in the cells' order, with its cells per version (by repeat)."""
    examples: dict[str, dict] = {}
    for cell in cells:
        golden = cell.golden_example
        example = examples.setdefault(
            str(golden.pk),
            {
                "golden_id": str(golden.pk),
                "input_data": golden.input_data,
                "expected_output": golden.expected_output,
                "cells": {},
            },
        )
        example["cells"].setdefault(str(cell.prompt_version.version), []).append(_cell_entry(cell))
    for example in examples.values():
        for entries in example["cells"].values():
            entries.sort(key=lambda entry: entry["repeat"])
    return list(examples.values())


def _flaky(numbers: list[int], cells_by_version: dict[int, list[ExperimentResult]], config: ExperimentConfig) -> list:
    """Examples whose repeats disagree on pass/fail under the primary scorer, highest variance first."""
    scorer = config.primary_scorer["name"]
    threshold = float(config.primary_scorer["threshold"])
    found = []
    for number in numbers:
        ordered = sorted(cells_by_version[number], key=lambda cell: cell.repeat_index)
        result = flaky_examples(_per_golden(ordered, scorer), pass_threshold=threshold)
        for golden_id in result["flaky"]:
            info = result["examples"][golden_id]
            scores = _per_golden(ordered, scorer)[golden_id]
            found.append({"golden_id": golden_id, "version": number, "scores": scores, "variance": info["variance"]})
    return sorted(found, key=lambda item: (-item["variance"], item["version"], item["golden_id"]))
