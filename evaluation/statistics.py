"""Summaries of score lists and paired comparisons of two prompt versions.

Comparisons are paired: index i of the baseline and of the candidate are the
same dataset example, so per-example differences carry the signal and
example difficulty cancels out.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Bootstrap resamples are drawn in blocks of at most this many indices, so
# memory stays bounded (about 16 MB per block) however large the dataset.
_BOOTSTRAP_BLOCK_ELEMENTS = 2_000_000


def _clean(values: Sequence[float | None]) -> np.ndarray:
    """Floats without None/NaN (errored examples carry no score)."""
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return array[~np.isnan(array)]


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """q-th percentile (0-100, linear interpolation); None for no values."""
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    array = _clean(values)
    if array.size == 0:
        return None
    return float(np.percentile(array, q))


def summarize(values: Sequence[float | None]) -> dict:
    """n, mean, min, max, sample std (ddof=1), p50 and p95.

    None and NaN entries are ignored and not counted in n. With no values every
    statistic is None; std is None for a single value (undefined for ddof=1).
    """
    array = _clean(values)
    n = int(array.size)
    if n == 0:
        return {"n": 0, "mean": None, "min": None, "max": None, "std": None, "p50": None, "p95": None}
    return {
        "n": n,
        "mean": float(array.mean()),
        "min": float(array.min()),
        "max": float(array.max()),
        "std": float(array.std(ddof=1)) if n > 1 else None,
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
    }


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1 (exclusive)")


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length ({len(a)} vs {len(b)})")
    return np.asarray(a, dtype=float), np.asarray(b, dtype=float)


def paired_bootstrap_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(mean(b - a), lower, upper): percentile bootstrap over paired examples.

    Examples are resampled with replacement as pairs. Deterministic for a given
    seed and input.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError("n_resamples must be positive")
    first, second = _paired(a, b)
    differences = second - first
    n = differences.size
    if n == 0:
        raise ValueError("need at least one pair")
    mean = float(differences.mean())
    if n == 1:
        return mean, mean, mean

    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK_ELEMENTS // n)
    resampled_means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        rows = min(block, n_resamples - start)
        indices = rng.integers(0, n, size=(rows, n))
        resampled_means[start : start + rows] = differences[indices].mean(axis=1)
    alpha = 1.0 - confidence
    lower, upper = np.quantile(resampled_means, [alpha / 2, 1 - alpha / 2])
    return mean, float(lower), float(upper)


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test on the paired differences b - a.

    Uses ``zero_method="zsplit"``: evaluation scores tie a lot (binary scorers,
    unchanged answers), and "wilcox" would drop those ties and judge a change on
    a handful of examples as if they were the whole dataset. zsplit keeps the
    zero differences in the ranking and splits their ranks between both signs,
    which is conservative and matches the bootstrap CI, computed over all pairs.

    Returns statistic, p_value, n and n_nonzero; p_value is None for n < 2, and
    1.0 when every difference is zero.
    """
    first, second = _paired(a, b)
    # Rounding removes float noise that would otherwise make equal differences rank apart.
    differences = np.round(second - first, 12)
    n = int(differences.size)
    nonzero = int(np.count_nonzero(differences))
    result = {"statistic": None, "p_value": None, "n": n, "n_nonzero": nonzero, "zero_method": "zsplit"}
    if n < 2:
        return result
    if nonzero == 0:
        result.update(statistic=0.0, p_value=1.0)
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        outcome = stats.wilcoxon(differences, zero_method="zsplit", alternative="two-sided")
    p_value = float(outcome.pvalue)
    result.update(
        statistic=float(outcome.statistic),
        p_value=1.0 if math.isnan(p_value) else min(1.0, p_value),
    )
    return result


def mcnemar(passed_a: Sequence[bool], passed_b: Sequence[bool]) -> dict:
    """Exact McNemar test on paired pass/fail outcomes.

    ``b`` counts pairs where A passed and B failed, ``c`` where A failed and B
    passed; under the null each discordant pair is a fair coin, so the p-value
    is the two-sided exact binomial test of b successes in b + c trials.
    """
    if len(passed_a) != len(passed_b):
        raise ValueError(f"paired samples differ in length ({len(passed_a)} vs {len(passed_b)})")
    b = sum(1 for x, y in zip(passed_a, passed_b, strict=True) if bool(x) and not bool(y))
    c = sum(1 for x, y in zip(passed_a, passed_b, strict=True) if not bool(x) and bool(y))
    p_value = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "n": len(passed_a), "n_discordant": b + c, "p_value": min(1.0, p_value)}


@dataclass(frozen=True)
class VersionComparison:
    baseline: str
    candidate: str
    n: int
    mean_baseline: float | None
    mean_candidate: float | None
    mean_difference: float | None  # candidate - baseline
    ci_low: float | None
    ci_high: float | None
    wilcoxon_p: float | None
    mcnemar_p: float | None
    significant: bool
    verdict: str


def _signed(value: float) -> str:
    # Avoid "-0.00" for tiny negative numbers.
    rounded = round(value, 2)
    return f"{rounded + 0.0:+.2f}"


def compare_paired(
    *,
    baseline_label: str,
    candidate_label: str,
    baseline_scores: Sequence[float | None],
    candidate_scores: Sequence[float | None],
    baseline_passed: Sequence[bool] | None = None,
    candidate_passed: Sequence[bool] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> VersionComparison:
    """Compare a candidate prompt version with a baseline on the same examples.

    Significance rule: the difference is significant when the paired bootstrap
    CI of mean(candidate - baseline) excludes 0 AND the Wilcoxon signed-rank
    p-value is below 1 - confidence. Requiring both guards against either
    test's blind spot (outliers for the mean, ties for the ranks). McNemar on
    pass/fail is reported alongside but does not decide.

    Pairs where either score is None or NaN are dropped (with their pass/fail
    entries), and n counts the remaining pairs.
    """
    _check_confidence(confidence)
    if len(baseline_scores) != len(candidate_scores):
        raise ValueError(f"paired samples differ in length ({len(baseline_scores)} vs {len(candidate_scores)})")
    have_passed = baseline_passed is not None and candidate_passed is not None
    if have_passed and not len(baseline_passed) == len(candidate_passed) == len(baseline_scores):
        raise ValueError("pass/fail lists must have the same length as the score lists")

    keep = [
        i
        for i, (x, y) in enumerate(zip(baseline_scores, candidate_scores, strict=True))
        if x is not None and y is not None and not math.isnan(x) and not math.isnan(y)
    ]
    base = np.array([float(baseline_scores[i]) for i in keep])
    cand = np.array([float(candidate_scores[i]) for i in keep])
    n = len(keep)
    if n == 0:
        return VersionComparison(
            baseline=baseline_label, candidate=candidate_label, n=0,
            mean_baseline=None, mean_candidate=None, mean_difference=None,
            ci_low=None, ci_high=None, wilcoxon_p=None, mcnemar_p=None,
            significant=False, verdict="no paired examples to compare",
        )  # fmt: skip

    mean_difference, ci_low, ci_high = paired_bootstrap_ci(base, cand, confidence=confidence, seed=seed)
    wilcoxon_p = wilcoxon_signed_rank(base, cand)["p_value"]
    mcnemar_p = None
    if have_passed:
        mcnemar_p = mcnemar([baseline_passed[i] for i in keep], [candidate_passed[i] for i in keep])["p_value"]

    ci_excludes_zero = ci_low > 0 or ci_high < 0
    significant = bool(ci_excludes_zero and wilcoxon_p is not None and wilcoxon_p < 1 - confidence)
    level = f"{confidence * 100:g}%"
    interval = f"mean {_signed(mean_difference)}, {level} CI [{_signed(ci_low)}, {_signed(ci_high)}]"
    if significant:
        direction = "better" if mean_difference > 0 else "worse"
        verdict = f"{candidate_label} {direction} than {baseline_label}, significant at {level} ({interval}, n={n})"
    else:
        verdict = f"no detectable difference at n={n} ({interval})"
    return VersionComparison(
        baseline=baseline_label,
        candidate=candidate_label,
        n=n,
        mean_baseline=float(base.mean()),
        mean_candidate=float(cand.mean()),
        mean_difference=mean_difference,
        ci_low=ci_low,
        ci_high=ci_high,
        wilcoxon_p=wilcoxon_p,
        mcnemar_p=mcnemar_p,
        significant=significant,
        verdict=verdict,
    )


def flaky_examples(scores_by_example: Mapping[str, Sequence[float]], *, pass_threshold: float) -> dict:
    """Per-example spread over repeated runs, and which examples are flaky.

    An example is flaky when its repeats disagree on pass/fail: some scores
    are >= pass_threshold and some below. Variance is the population variance
    of the repeats (0.0 for a single run), i.e. how much the observed runs differ.
    Flaky ids are ordered by variance, highest first.
    """
    examples: dict[str, dict] = {}
    for example_id, values in scores_by_example.items():
        array = _clean(values)
        if array.size == 0:
            examples[example_id] = {
                "n": 0, "mean": None, "variance": None, "pass_count": 0, "fail_count": 0, "flaky": False,
            }  # fmt: skip
            continue
        pass_count = int(np.count_nonzero(array >= pass_threshold))
        fail_count = int(array.size - pass_count)
        examples[example_id] = {
            "n": int(array.size),
            "mean": float(array.mean()),
            "variance": float(array.var()),
            "pass_count": pass_count,
            "fail_count": fail_count,
            "flaky": pass_count > 0 and fail_count > 0,
        }
    flaky = sorted(
        (example_id for example_id, info in examples.items() if info["flaky"]),
        key=lambda example_id: (-examples[example_id]["variance"], str(example_id)),
    )
    return {
        "pass_threshold": pass_threshold,
        "total": len(examples),
        "flaky_count": len(flaky),
        "flaky": flaky,
        "examples": examples,
    }
