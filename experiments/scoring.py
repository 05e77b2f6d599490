"""An experiment's scorers: their configuration (checked when the experiment is created) and the
scoring of one cell's output with them (in the scoring task, where a judge may take seconds)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accounts.models import APIKey, Project
from evaluation.scorers import ScorerError, ScorerUnavailable, get_scorer, run_scorer, validate_params
from experiments.judging import JudgeFailed, build_judge, judge_endpoint_find
from llmops.core.errors import ValidationFailed

logger = logging.getLogger(__name__)

# Without "scorers": what the seed promises, a match, a similarity and a hallucination rate, all cheap and
# local (no judge, no embedding model); the first is the primary scorer of the comparison.
DEFAULT_SCORERS = ({"name": "exact"}, {"name": "lexical_similarity"}, {"name": "hallucination"})
MAX_SCORERS = 10
JUDGE_PARAM = "judge_endpoint"
# A cell "hallucinates" when it fails one of these (passed means "grounded" for both).
HALLUCINATION_SCORERS = ("hallucination", "hallucination_judge")
_SCORER_KEYS = {"name", "threshold", "params"}


def _detail(name: str, error: Exception) -> str:
    message = str(error)
    return message[len(name) + 2 :] if message.startswith(f"{name}: ") else message


def scorers_clean(raw: Any, *, project: Project) -> list[dict]:
    """``[{"name", "threshold", "params"}]`` from names or objects; a bad one is a 400 naming it."""
    if raw is None:
        raw = [dict(item) for item in DEFAULT_SCORERS]
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("scorers must be a non-empty list of scorer names or objects", param="scorers")
    if len(raw) > MAX_SCORERS:
        raise ValidationFailed(f"at most {MAX_SCORERS} scorers per experiment", param="scorers")
    cleaned: list[dict] = []
    for index, item in enumerate(raw):
        cleaned.append(_scorer_clean(item, param=f"scorers[{index}]", project=project))
    names = [scorer["name"] for scorer in cleaned]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValidationFailed(
            f"scorer '{duplicates[0]}' is listed twice; each scorer may appear once", param="scorers"
        )
    return cleaned


def _scorer_clean(item: Any, *, param: str, project: Project) -> dict:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict):
        raise ValidationFailed("a scorer is a name or an object with name, threshold and params", param=param)
    unknown = sorted(set(item) - _SCORER_KEYS)
    if unknown:
        raise ValidationFailed(f"unknown scorer field '{unknown[0]}'", param=f"{param}.{unknown[0]}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationFailed("a scorer needs a name", param=f"{param}.name")
    try:
        spec = get_scorer(name)
    except ScorerError as error:
        raise ValidationFailed(str(error), code="unknown_scorer", param=f"{param}.name") from None
    params = item.get("params") or {}
    if not isinstance(params, dict):
        raise ValidationFailed(f"scorer '{name}': params must be an object", param=f"{param}.params")
    params = dict(params)
    threshold = item.get("threshold", params.pop("threshold", spec.default_threshold))
    judge_ref = params.pop(JUDGE_PARAM, None)
    try:
        validate_params(name, {**params, "threshold": threshold})
    except ScorerError as error:
        raise ValidationFailed(
            f"scorer '{name}': {_detail(name, error)}", code="invalid_scorer", param=f"{param}.params"
        ) from None
    if spec.needs_judge:
        if not isinstance(judge_ref, str) or not judge_ref.strip():
            raise ValidationFailed(
                f"scorer '{name}' needs params.{JUDGE_PARAM}: the id or name of a model endpoint of this project",
                code="judge_endpoint_required",
                param=f"{param}.params.{JUDGE_PARAM}",
            )
        if judge_endpoint_find(project=project, ref=judge_ref) is None:
            raise ValidationFailed(
                f"scorer '{name}': judge endpoint '{judge_ref}' does not exist in this project or is disabled",
                code="unknown_judge_endpoint",
                param=f"{param}.params.{JUDGE_PARAM}",
            )
        params[JUDGE_PARAM] = judge_ref.strip()
    return {"name": name, "threshold": float(threshold), "params": params}


def scorer_spec_parse(text: str) -> dict:
    """``name[:key=value[,key=value...]]`` from the command line or the admin, e.g.
    ``contains:threshold=0.5,mode=any``; a value is read as JSON when it is JSON (numbers, booleans)."""
    name, _, rest = text.strip().partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(f"scorer '{name}': '{pair}' is not key=value", param="scorers")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value.strip()
    threshold = params.pop("threshold", None)
    spec: dict[str, Any] = {"name": name.strip()}
    if threshold is not None:
        spec["threshold"] = threshold
    if params:
        spec["params"] = params
    return spec


@dataclass(frozen=True)
class ScorerOutcome:
    name: str
    threshold: float
    score: float | None = None
    passed: bool | None = None
    details: dict = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class CellScores:
    outcomes: list[ScorerOutcome]

    @property
    def error(self) -> ScorerOutcome | None:
        return next((outcome for outcome in self.outcomes if outcome.error), None)

    @property
    def scores(self) -> dict[str, float]:
        return {outcome.name: outcome.score for outcome in self.outcomes if outcome.score is not None}

    @property
    def passed(self) -> bool | None:
        return None if self.error else all(outcome.passed for outcome in self.outcomes)


def score_output(
    *,
    project: Project,
    scorers: list[dict],
    output: str,
    expected: str | None,
    inputs: Mapping[str, Any],
    api_key: APIKey | None = None,
) -> CellScores:
    """Every scorer in order; the first that cannot score ends the list with its error."""
    outcomes: list[ScorerOutcome] = []
    for config in scorers:
        name, threshold = config["name"], float(config["threshold"])
        params = dict(config.get("params") or {})
        judge_ref = params.pop(JUDGE_PARAM, None)
        try:
            judge = (
                build_judge(project=project, ref=judge_ref, api_key=api_key) if get_scorer(name).needs_judge else None
            )
            result = run_scorer(
                name, output=output, expected=expected, inputs=inputs, params=params, threshold=threshold, judge=judge
            )
        except (ScorerError, ScorerUnavailable, JudgeFailed) as error:
            outcomes.append(ScorerOutcome(name=name, threshold=threshold, error=f"{name}: {_detail(name, error)}"))
            break
        except Exception as error:
            # A scorer bug must not leave the cell running forever: it becomes the cell's error.
            logger.exception("scorer %s failed unexpectedly", name)
            outcomes.append(
                ScorerOutcome(name=name, threshold=threshold, error=f"{name}: {type(error).__name__}: {error}"[:2000])
            )
            break
        outcomes.append(
            ScorerOutcome(
                name=name, threshold=result.threshold, score=result.score, passed=result.passed, details=result.details
            )
        )
    return CellScores(outcomes)


# Scorers that call a model (the semantic one loads and runs an embedding model): scored apart, in the
# scoring task, so a lane's threads only wait on the answers they asked for.
SLOW_SCORERS = frozenset({"semantic_similarity"})


def scorers_are_cheap(scorers: list[dict]) -> bool:
    """Whether every scorer is a quick pure function, scored where the answer arrives."""
    return not any(config["name"] in SLOW_SCORERS or get_scorer(config["name"]).needs_judge for config in scorers)
