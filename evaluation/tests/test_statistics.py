import math
import warnings

import numpy as np
import pytest
from scipy import stats

from evaluation.statistics import (
    VersionComparison,
    compare_paired,
    flaky_examples,
    mcnemar,
    paired_bootstrap_ci,
    percentile,
    summarize,
    wilcoxon_signed_rank,
)

# Baseline scores spread over [0.5, 0.59]; the candidate is exactly +0.12 on
# average, alternating +0.10 / +0.14 so the differences have some spread.
BASELINE = [0.5 + 0.01 * (i % 10) for i in range(40)]
IMPROVED = [b + (0.10 if i % 2 else 0.14) for i, b in enumerate(BASELINE)]


# --- summarize / percentile -------------------------------------------------


def test_summarize_values():
    summary = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert summary["n"] == 8
    assert summary["mean"] == 5.0
    assert (summary["min"], summary["max"]) == (2.0, 9.0)
    assert summary["std"] == pytest.approx(math.sqrt(32 / 7))  # sample std, ddof=1
    assert summary["p50"] == 4.5


def test_summarize_percentiles_interpolate_linearly():
    summary = summarize(list(range(1, 101)))
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p95"] == pytest.approx(95.05)
    assert summarize([0, 10, 20, 30, 40])["p95"] == pytest.approx(38.0)


def test_summarize_empty_and_single():
    assert summarize([]) == {
        "n": 0, "mean": None, "min": None, "max": None, "std": None, "p50": None, "p95": None,
    }  # fmt: skip
    single = summarize([0.7])
    assert single["n"] == 1 and single["mean"] == 0.7 and single["std"] is None


def test_summarize_ignores_missing_scores():
    assert summarize([1.0, None, float("nan"), 0.0])["n"] == 2


def test_percentile():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 0) == 1.0
    assert percentile([], 90) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


# --- paired bootstrap -------------------------------------------------------


def test_bootstrap_ci_contains_true_difference():
    mean, low, high = paired_bootstrap_ci(BASELINE, IMPROVED)
    assert mean == pytest.approx(0.12)
    assert low < 0.12 < high
    assert low > 0.10 and high < 0.14


def test_bootstrap_ci_is_deterministic_for_a_seed():
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 1, 200)
    b = a + rng.normal(0.02, 0.2, 200)
    first = paired_bootstrap_ci(a, b, seed=3)
    assert paired_bootstrap_ci(a, b, seed=3) == first
    assert paired_bootstrap_ci(a, b, seed=4) != first
    assert paired_bootstrap_ci(a, b, seed=3)[0] == pytest.approx(float(np.mean(b - a)))


def test_bootstrap_ci_large_sample_in_blocks_is_deterministic():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 5_000)
    b = a + rng.normal(0.05, 0.1, 5_000)
    first = paired_bootstrap_ci(a, b, n_resamples=2_000)
    assert paired_bootstrap_ci(a, b, n_resamples=2_000) == first
    assert first[1] < 0.05 < first[2]


def test_bootstrap_ci_wider_at_higher_confidence():
    _, low_90, high_90 = paired_bootstrap_ci(BASELINE, IMPROVED, confidence=0.90)
    _, low_99, high_99 = paired_bootstrap_ci(BASELINE, IMPROVED, confidence=0.99)
    assert low_99 < low_90 and high_99 > high_90


def test_bootstrap_ci_edge_cases():
    assert paired_bootstrap_ci([0.2], [0.5]) == pytest.approx((0.3, 0.3, 0.3))
    with pytest.raises(ValueError):
        paired_bootstrap_ci([], [])
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1, 2], [1])
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1, 2], [1, 2], confidence=1.0)


# --- Wilcoxon ---------------------------------------------------------------


def test_wilcoxon_matches_scipy_zsplit():
    a = [0.1, 0.5, 0.3, 0.9, 0.4, 0.6, 0.2, 0.7]
    b = [0.3, 0.5, 0.6, 0.8, 0.9, 0.65, 0.25, 0.95]
    result = wilcoxon_signed_rank(a, b)
    reference = stats.wilcoxon(np.round(np.subtract(b, a), 12), zero_method="zsplit")
    assert result["p_value"] == pytest.approx(reference.pvalue)
    assert result["statistic"] == pytest.approx(reference.statistic)
    assert result["n"] == 8 and result["n_nonzero"] == 7 and result["zero_method"] == "zsplit"


def test_wilcoxon_all_zero_differences_is_p_one_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = wilcoxon_signed_rank([0.5, 0.7, 1.0], [0.5, 0.7, 1.0])
    assert result["p_value"] == 1.0 and result["n_nonzero"] == 0


def test_wilcoxon_too_few_pairs():
    assert wilcoxon_signed_rank([0.1], [0.9])["p_value"] is None
    assert wilcoxon_signed_rank([], [])["p_value"] is None


# --- McNemar ----------------------------------------------------------------


def test_mcnemar_known_table_matches_exact_binomial():
    # 2 pairs: A passed, B failed; 8 pairs: A failed, B passed; 5 both passed; 3 both failed.
    passed_a = [True] * 2 + [False] * 8 + [True] * 5 + [False] * 3
    passed_b = [False] * 2 + [True] * 8 + [True] * 5 + [False] * 3
    result = mcnemar(passed_a, passed_b)
    assert (result["b"], result["c"], result["n"], result["n_discordant"]) == (2, 8, 18, 10)
    # two-sided exact: 2 * P(X <= 2), X ~ Binomial(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    assert result["p_value"] == pytest.approx(112 / 1024)
    assert result["p_value"] == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)


def test_mcnemar_no_discordant_pairs():
    result = mcnemar([True, False, True], [True, False, True])
    assert result["p_value"] == 1.0 and result["b"] == result["c"] == 0


def test_mcnemar_length_mismatch():
    with pytest.raises(ValueError):
        mcnemar([True], [True, False])


# --- compare_paired ---------------------------------------------------------


def _interval(comparison: VersionComparison) -> str:
    return f"95% CI [{comparison.ci_low:+.2f}, {comparison.ci_high:+.2f}]"


def test_clear_improvement_is_significant_with_verdict():
    comparison = compare_paired(
        baseline_label="v2",
        candidate_label="v3",
        baseline_scores=BASELINE,
        candidate_scores=IMPROVED,
    )
    assert comparison.significant is True
    assert comparison.n == 40
    assert comparison.mean_difference == pytest.approx(0.12)
    assert comparison.ci_low > 0 and comparison.wilcoxon_p < 0.05
    assert comparison.verdict == (f"v3 better than v2, significant at 95% (mean +0.12, {_interval(comparison)}, n=40)")


def test_clear_regression_is_significant_worse():
    comparison = compare_paired(
        baseline_label="v3",
        candidate_label="v4",
        baseline_scores=IMPROVED,
        candidate_scores=BASELINE,
    )
    assert comparison.significant is True
    assert comparison.verdict.startswith("v4 worse than v3, significant at 95% (mean -0.12, ")


def test_identical_versions_show_no_difference():
    comparison = compare_paired(
        baseline_label="v2",
        candidate_label="v3",
        baseline_scores=BASELINE,
        candidate_scores=BASELINE,
    )
    assert comparison.significant is False
    assert comparison.wilcoxon_p == 1.0
    assert comparison.verdict == "no detectable difference at n=40 (mean +0.00, 95% CI [+0.00, +0.00])"


def test_noise_only_is_not_significant():
    rng = np.random.default_rng(11)
    a = rng.uniform(0, 1, 30)
    b = np.clip(a + rng.normal(0, 0.2, 30), 0, 1)
    comparison = compare_paired(
        baseline_label="v1", candidate_label="v2", baseline_scores=list(a), candidate_scores=list(b)
    )
    assert comparison.significant is False
    assert comparison.verdict.startswith("no detectable difference at n=30 (mean ")


def test_both_tests_must_agree():
    # Every difference is positive, so the bootstrap CI excludes 0, but three
    # pairs cannot reach Wilcoxon significance (smallest exact p is 0.25).
    comparison = compare_paired(
        baseline_label="v1",
        candidate_label="v2",
        baseline_scores=[0.1, 0.2, 0.3],
        candidate_scores=[0.2, 0.4, 0.6],
    )
    assert comparison.ci_low > 0
    assert comparison.wilcoxon_p == pytest.approx(0.25)
    assert comparison.significant is False
    assert comparison.verdict.startswith("no detectable difference at n=3")


def test_confidence_level_appears_in_verdict():
    comparison = compare_paired(
        baseline_label="v2",
        candidate_label="v3",
        baseline_scores=BASELINE,
        candidate_scores=IMPROVED,
        confidence=0.99,
    )
    assert comparison.verdict.startswith("v3 better than v2, significant at 99% (mean +0.12, 99% CI [")


def test_no_pairs():
    comparison = compare_paired(baseline_label="v2", candidate_label="v3", baseline_scores=[], candidate_scores=[])
    assert comparison == VersionComparison(
        baseline="v2", candidate="v3", n=0,
        mean_baseline=None, mean_candidate=None, mean_difference=None,
        ci_low=None, ci_high=None, wilcoxon_p=None, mcnemar_p=None,
        significant=False, verdict="no paired examples to compare",
    )  # fmt: skip


def test_missing_scores_drop_their_pair_and_mcnemar_is_reported():
    comparison = compare_paired(
        baseline_label="v2",
        candidate_label="v3",
        baseline_scores=[1.0, 0.0, None, 0.0],
        candidate_scores=[1.0, 1.0, 1.0, float("nan")],
        baseline_passed=[True, False, False, False],
        candidate_passed=[True, True, True, False],
    )
    assert comparison.n == 2
    assert comparison.mean_baseline == 0.5 and comparison.mean_candidate == 1.0
    # kept pairs: (pass, pass) and (fail, pass) -> one discordant pair
    assert comparison.mcnemar_p == 1.0


def test_compare_paired_length_mismatch():
    with pytest.raises(ValueError):
        compare_paired(baseline_label="a", candidate_label="b", baseline_scores=[1.0], candidate_scores=[])


# --- flaky examples ---------------------------------------------------------


def test_flaky_examples():
    report = flaky_examples(
        {
            "steady-pass": [1.0, 1.0, 1.0],
            "steady-fail": [0.1, 0.2],
            "flaky-small": [0.6, 0.4, 0.6],
            "flaky-big": [1.0, 0.0],
            "on-threshold": [0.5, 0.5],
            "never-run": [],
        },
        pass_threshold=0.5,
    )
    assert report["flaky"] == ["flaky-big", "flaky-small"]  # highest variance first
    assert report["flaky_count"] == 2 and report["total"] == 6
    examples = report["examples"]
    assert examples["flaky-big"]["variance"] == pytest.approx(0.25)
    assert examples["flaky-small"] == {
        "n": 3,
        "mean": pytest.approx(1.6 / 3),
        "variance": pytest.approx(((0.6 - 1.6 / 3) ** 2 * 2 + (0.4 - 1.6 / 3) ** 2) / 3),
        "pass_count": 2,
        "fail_count": 1,
        "flaky": True,
    }
    assert examples["steady-pass"]["variance"] == 0.0 and examples["steady-pass"]["flaky"] is False
    assert examples["on-threshold"]["flaky"] is False  # >= threshold passes
    assert examples["never-run"]["n"] == 0 and examples["never-run"]["flaky"] is False
