"""Checks of the parts of a prompt that the template engine does not cover: names, labels, tags
and model settings. Each failure is a ValidationFailed naming the offending input."""

from __future__ import annotations

import re
from collections.abc import Iterable

from llmops.core.errors import ValidationFailed
from prompts.models import LABEL_PATTERN, PROMPT_NAME_PATTERN

LATEST = "latest"
# `latest` follows the newest version by itself; `history` is taken by the route
# /prompts/{id}/labels/history, so a label of that name could never be addressed.
RESERVED_LABELS = frozenset({LATEST, "history"})
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_COMMIT_MESSAGE_CHARS = 500
MAX_REASON_CHARS = 500
MAX_DESCRIPTION_CHARS = 10_000
MODEL_SETTINGS_KEYS = ("model_endpoint", "parameters")
MAX_ENDPOINT_NAME_CHARS = 100  # runs.ModelEndpoint.name

_LABEL = re.compile(LABEL_PATTERN)
_NAME = re.compile(PROMPT_NAME_PATTERN)
_NUMBER_PARAMETERS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_INTEGER_PARAMETERS = ("max_tokens", "seed", "top_k")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationFailed(
            "prompt name must be 1-200 characters of letters, digits, '_', '-', '.', '/', "
            "starting with a letter or digit",
            code="invalid_name",
            param="name",
        )
    return name


def check_label(label: object, *, param: str = "label") -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise ValidationFailed(
            f"label {label!r} must match {LABEL_PATTERN} (lowercase letters, digits, '_', '.', '-')",
            code="invalid_label",
            param=param,
        )
    if label in RESERVED_LABELS:
        raise ValidationFailed(
            f"'{label}' is a reserved label and cannot be set",
            code="reserved_label",
            param=param,
        )
    return label


def check_labels(labels: Iterable[object] | None) -> list[str]:
    if labels is None:
        return []
    if isinstance(labels, str) or not isinstance(labels, Iterable):
        raise ValidationFailed("labels must be a list of label names", code="invalid_label", param="labels")
    return list(dict.fromkeys(check_label(label, param=f"labels[{i}]") for i, label in enumerate(labels)))


def check_tags(tags: Iterable[object] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise ValidationFailed("tags must be a list of strings", code="invalid_tags", param="tags")
    cleaned: list[str] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise ValidationFailed(
                f"each tag must be a non-empty string of at most {MAX_TAG_CHARS} characters",
                code="invalid_tags",
                param=f"tags[{index}]",
            )
        cleaned.append(tag.strip())
    cleaned = list(dict.fromkeys(cleaned))
    if len(cleaned) > MAX_TAGS:
        raise ValidationFailed(f"a prompt may have at most {MAX_TAGS} tags", code="invalid_tags", param="tags")
    return cleaned


def check_text(value: object, *, param: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{param} must be a string", code="invalid", param=param)
    if len(value) > limit:
        raise ValidationFailed(f"{param} may have at most {limit} characters", code="too_long", param=param)
    return value


def check_model_settings(settings: object) -> dict:
    """``{"model_endpoint": "<endpoint name>", "parameters": {...}}``, both keys optional."""
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ValidationFailed(
            "model_settings must be a JSON object", code="invalid_model_settings", param="model_settings"
        )
    unknown = sorted(str(key) for key in settings if key not in MODEL_SETTINGS_KEYS)
    if unknown:
        raise ValidationFailed(
            f"unknown model_settings key(s): {', '.join(unknown)} (allowed: {', '.join(MODEL_SETTINGS_KEYS)})",
            code="invalid_model_settings",
            param=f"model_settings.{unknown[0]}",
        )
    if "model_endpoint" in settings:
        endpoint = settings["model_endpoint"]
        if not isinstance(endpoint, str) or not endpoint.strip() or len(endpoint) > MAX_ENDPOINT_NAME_CHARS:
            raise ValidationFailed(
                f"model_endpoint must be the name of a model endpoint (1-{MAX_ENDPOINT_NAME_CHARS} characters)",
                code="invalid_model_settings",
                param="model_settings.model_endpoint",
            )
    if "parameters" in settings:
        _check_parameters(settings["parameters"])
    return settings


def _check_parameters(parameters: object) -> None:
    param = "model_settings.parameters"
    if not isinstance(parameters, dict):
        raise ValidationFailed("parameters must be a JSON object", code="invalid_model_settings", param=param)
    for key, value in parameters.items():
        where = f"{param}.{key}"
        if isinstance(value, list):
            if not all(_is_scalar(item) for item in value):
                raise ValidationFailed(
                    f"parameter '{key}' may only list JSON scalars", code="invalid_model_settings", param=where
                )
        elif not _is_scalar(value):
            raise ValidationFailed(
                f"parameter '{key}' must be a JSON scalar or a list of scalars",
                code="invalid_model_settings",
                param=where,
            )
        _check_known_parameter(key, value, where)


def _check_known_parameter(key: str, value: object, where: str) -> None:
    # The execution engine passes these to providers as they are: catch type mistakes at save time.
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if key in _NUMBER_PARAMETERS and not (value is None or is_number):
        raise ValidationFailed(f"parameter '{key}' must be a number", code="invalid_model_settings", param=where)
    if key in _INTEGER_PARAMETERS and not (value is None or (isinstance(value, int) and not isinstance(value, bool))):
        raise ValidationFailed(f"parameter '{key}' must be an integer", code="invalid_model_settings", param=where)
    if key == "max_tokens" and isinstance(value, int) and value < 1:
        raise ValidationFailed("parameter 'max_tokens' must be at least 1", code="invalid_model_settings", param=where)
    if key == "stop" and not (
        value is None or isinstance(value, str) or (isinstance(value, list) and all(isinstance(s, str) for s in value))
    ):
        raise ValidationFailed(
            "parameter 'stop' must be a string or a list of strings", code="invalid_model_settings", param=where
        )


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | bool | int | float)
