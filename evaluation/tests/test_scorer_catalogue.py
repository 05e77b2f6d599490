"""The scorer catalogue (GET /api/v1/scorers, the README table) comes from the registry, and what it
says about parameters is what validation and scoring actually do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tests.helpers import make_tenant
from evaluation.scorers import (
    ScorerError,
    catalogue,
    catalogue_markdown,
    get_scorer,
    run_scorer,
    scorer_names,
    validate_params,
)
from evaluation.scorers.base import NO_DEFAULT, ScorerParam, ScorerSpec
from evaluation.scorers.catalogue import JUDGE_ENDPOINT_PARAM, example_params, missing_metadata, scorer_params

README = Path(__file__).resolve().parents[2] / "README.md"
URL = "/api/v1/scorers"
# A value of the wrong JSON type for each declared type.
WRONG_TYPE: dict[str, Any] = {
    "boolean": "yes",
    "integer": "4",
    "number": "0.5",
    "string": 5,
    "array": "1,5",
    "object": 5,
}
SAMPLE = {
    "output": "Paris is the capital of France. It has 2,100,000 people.",
    "expected": "The capital of France is Paris.",
    "inputs": {"question": "What is the capital of France, and how many people live there?"},
}


def _own_params(name: str) -> tuple[ScorerParam, ...]:
    return get_scorer(name).params or ()


def _required_only(name: str) -> dict[str, Any]:
    return {param.name: param.example for param in _own_params(name) if param.required}


class RecordingJudge:
    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return '{"score": 4, "reason": "mostly right"}'


# --- the registry is the catalogue ------------------------------------------------------------------


@pytest.mark.parametrize("name", scorer_names())
def test_every_registered_scorer_declares_its_catalogue_metadata(name):
    assert missing_metadata(get_scorer(name)) == [], f"scorer {name!r} lacks catalogue metadata"


def test_a_scorer_without_metadata_is_reported():
    bare = ScorerSpec(name="bare", func=lambda **_: (1.0, {}), default_threshold=1.0, description="")
    assert missing_metadata(bare) == ["description", "measures", "params (declare () for none)"]
    odd = ScorerSpec(
        name="odd",
        func=lambda **_: (1.0, {}),
        default_threshold=0.9,
        description="d",
        measures="m",
        params=(ScorerParam("p", "string", ""),),
        score_range=(0.0, 0.5),
        local_model="some-model",
    )
    assert missing_metadata(odd) == [
        "default_threshold (outside score_range)",
        "requires_extra (a local model comes with an optional dependency)",
        "params.p.description",
    ]


def test_a_param_declaration_is_checked():
    with pytest.raises(ValueError, match="type must be one of"):
        ScorerParam("p", "float", "a number")
    with pytest.raises(ValueError, match="needs an example"):
        ScorerParam("p", "string", "required text", required=True)


def test_the_catalogue_lists_every_registered_scorer_with_its_registry_values():
    entries = catalogue()
    assert [entry["name"] for entry in entries] == scorer_names()
    for entry in entries:
        spec = get_scorer(entry["name"])
        assert entry["description"] == spec.description
        assert entry["measures"] == spec.measures
        assert entry["default_threshold"] == spec.default_threshold
        assert entry["range"] == {"min": spec.score_range[0], "max": spec.score_range[1]}
        assert entry["needs_judge"] == spec.needs_judge
        assert entry["needs_expected"] == spec.needs_expected
        assert entry["slow"] == (spec.needs_judge or spec.local_model is not None)
        assert [param["name"] for param in entry["params"]] == [param.name for param in scorer_params(spec)]


def test_judge_scorers_and_the_local_model_are_marked_slow():
    by_name = {entry["name"]: entry for entry in catalogue()}
    slow = {name for name, entry in by_name.items() if entry["slow"]}
    assert slow == {"llm_judge", "hallucination_judge", "semantic_similarity"}
    assert by_name["semantic_similarity"]["local_model"] == "all-MiniLM-L6-v2"
    assert by_name["semantic_similarity"]["requires_extra"] == "semantic"
    for name in ("llm_judge", "hallucination_judge"):
        judge_param = by_name[name]["params"][-1]
        assert judge_param["name"] == JUDGE_ENDPOINT_PARAM.name == "judge_endpoint"
        assert judge_param["required"] is True
    assert all(param["name"] != "judge_endpoint" for param in by_name["hallucination"]["params"])


def test_binary_scorers_only_give_the_ends_of_their_range():
    for entry in catalogue():
        if not entry["binary"]:
            continue
        spec = get_scorer(entry["name"])
        for output in (SAMPLE["output"], SAMPLE["expected"], '{"a": 1}', ""):
            params = _required_only(spec.name)
            result = run_scorer(spec.name, output=output, expected=SAMPLE["expected"], inputs={}, params=params)
            assert result.score in spec.score_range, (spec.name, output, result.score)


# --- parameters: what the catalogue says is what validation and scoring do ---------------------------


@pytest.mark.parametrize("name", scorer_names())
def test_the_catalogue_defaults_validate(name):
    spec = get_scorer(name)
    # What an experiment's scorer config gives validation: its params (judge_endpoint taken out) and threshold.
    params = example_params(spec, judge=False)
    validate_params(name, {**params, "threshold": spec.default_threshold})
    validate_params(name, _required_only(name))
    entry = next(entry for entry in catalogue() if entry["name"] == name)
    assert entry["example"]["name"] == name
    assert entry["example"].get("params", {}) == example_params(spec)
    for param in entry["params"]:
        declared = next(p for p in scorer_params(spec) if p.name == param["name"])
        assert param["default"] == (None if declared.default is NO_DEFAULT else declared.default)


@pytest.mark.parametrize("name", [name for name in scorer_names() if any(p.has_default for p in _own_params(name))])
def test_the_declared_defaults_are_the_defaults_the_scorer_uses(name):
    # Scoring with every default spelt out must be scoring with nothing given.
    spec = get_scorer(name)
    explicit = example_params(spec, judge=False)
    results = []
    for params in (_required_only(name), explicit):
        judge = RecordingJudge() if spec.needs_judge else None
        result = run_scorer(name, **SAMPLE, params=params, judge=judge)
        results.append((result, judge.prompts if judge else None))
    assert results[0] == results[1]


def _params_with_types() -> list[tuple[str, ScorerParam]]:
    return [(name, param) for name in scorer_names() for param in _own_params(name)]


@pytest.mark.parametrize(("name", "param"), _params_with_types(), ids=lambda value: getattr(value, "name", value))
def test_a_value_of_another_type_than_declared_is_refused(name, param):
    params = {**_required_only(name), param.name: WRONG_TYPE[param.type]}
    with pytest.raises(ScorerError, match=param.name):
        validate_params(name, params)


@pytest.mark.parametrize(
    ("name", "param"),
    [(name, param) for name, param in _params_with_types() if param.choices],
    ids=lambda value: getattr(value, "name", value),
)
def test_every_declared_choice_is_accepted_and_nothing_else(name, param):
    for choice in param.choices:
        validate_params(name, {**_required_only(name), param.name: choice})
    with pytest.raises(ScorerError, match=param.name):
        validate_params(name, {**_required_only(name), param.name: "not-a-choice"})


@pytest.mark.parametrize(
    ("name", "param"),
    [(name, param) for name, param in _params_with_types() if param.required],
    ids=lambda value: getattr(value, "name", value),
)
def test_a_required_param_is_required(name, param):
    params = _required_only(name)
    del params[param.name]
    with pytest.raises(ScorerError, match=param.name):
        validate_params(name, params)


# --- GET /api/v1/scorers ----------------------------------------------------------------------------


def test_the_api_lists_the_catalogue(api, project):
    response = api.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(scorer_names())
    assert body["results"] == catalogue()
    exact = next(entry for entry in body["results"] if entry["name"] == "exact")
    assert exact == {
        "name": "exact",
        "measures": "exact match with the expected output",
        "description": get_scorer("exact").description,
        "range": {"min": 0.0, "max": 1.0},
        "binary": True,
        "default_threshold": 1.0,
        "needs_expected": True,
        "needs_judge": False,
        "local_model": None,
        "requires_extra": None,
        "slow": False,
        "params": [
            {
                "name": "case_sensitive",
                "type": "boolean",
                "required": False,
                "default": False,
                "choices": None,
                "description": "compare letter case too",
            },
            {
                "name": "strip",
                "type": "boolean",
                "required": False,
                "default": True,
                "choices": None,
                "description": "ignore leading and trailing whitespace",
            },
            {
                "name": "normalize_whitespace",
                "type": "boolean",
                "required": False,
                "default": True,
                "choices": None,
                "description": "treat runs of whitespace as one space",
            },
        ],
        "example": {"name": "exact", "params": {"case_sensitive": False, "strip": True, "normalize_whitespace": True}},
    }
    llm_judge = next(entry for entry in body["results"] if entry["name"] == "llm_judge")
    assert llm_judge["example"]["params"] == {
        "rubric": "The answer is correct, concise and polite.",
        "scale": [1, 5],
        "judge_endpoint": "local-gemma",
    }


def test_a_read_key_is_enough(db):
    reader = make_tenant(scopes=("read",))
    assert reader.client.get(URL).status_code == 200


def test_a_key_without_read_scope_is_refused(db):
    writer = make_tenant(scopes=("write",))
    response = writer.client.get(URL)
    assert response.status_code == 403
    assert "read" in response.json()["error"]["message"]


def test_no_key_is_refused(db):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["type"]


def test_only_get_is_allowed(api):
    assert api.post(URL, {}, format="json").status_code == 405


def test_the_schema_documents_the_response(db):
    document = APIClient().get("/openapi.json").json()
    operation = document["paths"][URL]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ScorerCatalogue"}
    components = document["components"]["schemas"]
    assert set(components["Scorer"]["properties"]) == set(catalogue()[0])
    [type_ref] = components["ScorerParam"]["properties"]["type"]["allOf"]
    assert components[type_ref["$ref"].rpartition("/")[2]]["enum"] == list(WRONG_TYPE)
    assert {"401", "403"} <= set(operation["responses"])


# --- the README table ---------------------------------------------------------------------------------


def test_the_markdown_table_has_a_row_per_scorer():
    lines = catalogue_markdown().splitlines()
    assert lines[0] == "| Scorer | Measures | Range | Parameters | Default threshold |"
    assert len(lines) == 2 + len(scorer_names())
    for line, name in zip(lines[2:], scorer_names(), strict=True):
        assert line.startswith(f"| `{name}` |")
        assert line.count(" | ") == 4  # pipes inside cells are escaped
    assert "| `regex` | whether a regular expression matches the output | 0 or 1 |" in catalogue_markdown()


def test_the_readme_shows_the_catalogue_table():
    # Regenerate with: python -c "import django; django.setup(); from evaluation.scorers import
    # catalogue_markdown; print(catalogue_markdown())" (DJANGO_SETTINGS_MODULE set), then paste into README.md.
    table = catalogue_markdown()
    assert table in README.read_text(encoding="utf-8"), "README.md lacks the current table: paste catalogue_markdown()"
