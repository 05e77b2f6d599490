"""The scorer catalogue: what each registered scorer measures, its score range, default threshold,
parameters and cost, read from the registry (``ScorerSpec`` metadata), never from a separate list.

``catalogue()`` feeds GET /api/v1/scorers; ``catalogue_markdown()`` the README's table. A scorer
registered without its metadata shows up in ``missing_metadata`` (and fails the catalogue tests).
"""

from __future__ import annotations

import json
from typing import Any

from .base import NO_DEFAULT, ScorerParam, ScorerSpec
from .registry import get_scorer, scorer_names

# The experiment layer (experiments.scoring.JUDGE_PARAM) reads it and passes the scorer a judge; the
# scorers themselves never see it, so it is declared here once for every judge scorer.
JUDGE_ENDPOINT_PARAM = ScorerParam(
    "judge_endpoint",
    "string",
    "id or name of a model endpoint of this project: the judge, called at temperature 0",
    required=True,
    example="local-gemma",
)


def scorer_params(spec: ScorerSpec) -> tuple[ScorerParam, ...]:
    """The params a request may give ``spec``: its own, plus ``judge_endpoint`` for judge scorers."""
    own = spec.params or ()
    return (*own, JUDGE_ENDPOINT_PARAM) if spec.needs_judge else own


def example_params(spec: ScorerSpec, *, judge: bool = True) -> dict[str, Any]:
    """Every param with its default, required ones with their example: a configuration that validates."""
    params: dict[str, Any] = {}
    for param in scorer_params(spec) if judge else spec.params or ():
        if param.has_default:
            params[param.name] = param.default
        elif param.required:
            params[param.name] = param.example
    return params


def missing_metadata(spec: ScorerSpec) -> list[str]:
    """Which catalogue fields ``spec`` lacks or gets wrong (empty when it is complete)."""
    problems = []
    if not spec.description.strip():
        problems.append("description")
    if not spec.measures.strip():
        problems.append("measures")
    if spec.params is None:
        problems.append("params (declare () for none)")
    low, high = spec.score_range
    if not 0.0 <= low < high <= 1.0:
        problems.append("score_range (scores are clamped to [0, 1])")
    if not low <= spec.default_threshold <= high:
        problems.append("default_threshold (outside score_range)")
    if spec.local_model is not None and spec.requires_extra is None:
        problems.append("requires_extra (a local model comes with an optional dependency)")
    for param in spec.params or ():
        if not param.description.strip():
            problems.append(f"params.{param.name}.description")
    return problems


def _param_entry(param: ScorerParam) -> dict[str, Any]:
    return {
        "name": param.name,
        "type": param.type,
        "required": param.required,
        "default": None if param.default is NO_DEFAULT else param.default,
        "choices": list(param.choices) if param.choices is not None else None,
        "description": param.description,
    }


def catalogue_entry(spec: ScorerSpec) -> dict[str, Any]:
    low, high = spec.score_range
    example: dict[str, Any] = {"name": spec.name}
    params = example_params(spec)
    if params:
        example["params"] = params
    return {
        "name": spec.name,
        "measures": spec.measures,
        "description": spec.description,
        "range": {"min": low, "max": high},
        "binary": spec.binary,
        "default_threshold": spec.default_threshold,
        "needs_expected": spec.needs_expected,
        "needs_judge": spec.needs_judge,
        "local_model": spec.local_model,
        "requires_extra": spec.requires_extra,
        "slow": spec.slow,
        "params": [_param_entry(param) for param in scorer_params(spec)],
        "example": example,
    }


def catalogue() -> list[dict[str, Any]]:
    """Every registered scorer, by name."""
    return [catalogue_entry(get_scorer(name)) for name in scorer_names()]


def _number(value: float) -> str:
    return f"{value:g}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _param_text(param: dict[str, Any]) -> str:
    if param["required"]:
        detail = "required"
    elif param["default"] is not None:
        detail = f"default `{_json(param['default'])}`"
    else:
        detail = "optional"
    choices = f", one of {' / '.join(f'`{choice}`' for choice in param['choices'])}" if param["choices"] else ""
    return f"`{param['name']}` ({param['type']}, {detail}{choices}): {param['description']}"


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table: scorer | measures | range | parameters | default threshold."""
    lines = [
        "| Scorer | Measures | Range | Parameters | Default threshold |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in catalogue():
        low, high = _number(entry["range"]["min"]), _number(entry["range"]["max"])
        score_range = f"{low} or {high}" if entry["binary"] else f"{low} to {high}"
        needs = []
        if entry["needs_expected"]:
            needs.append("needs an expected output")
        if entry["needs_judge"]:
            needs.append("slow: calls a judge model")
        if entry["local_model"]:
            needs.append(f"slow: runs {entry['local_model']} locally, extra `{entry['requires_extra']}`")
        measures = entry["measures"] + (f" ({'; '.join(needs)})" if needs else "")
        params = "<br>".join(_param_text(param) for param in entry["params"]) or "none"
        lines.append(
            f"| `{entry['name']}` | {_cell(measures)} | {score_range} | {_cell(params)} | "
            f"{_number(entry['default_threshold'])} |"
        )
    return "\n".join(lines) + "\n"
