"""Variable values and the optional JSON Schema (Draft 2020-12) that describes them."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from .errors import INVALID_SCHEMA, INVALID_VARIABLE, MISSING_VARIABLE, TemplateError, clip

_SCHEMA_PARAM = "variables_schema"


def validate_variables_schema(schema: dict | None) -> None:
    """Accept ``None`` or a self-contained Draft 2020-12 schema of ``"type": "object"``."""
    if schema is None:
        return
    if not isinstance(schema, dict):
        raise TemplateError("variables schema must be a JSON object", code=INVALID_SCHEMA, param=_SCHEMA_PARAM)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise TemplateError(
            f"variables schema is not a valid JSON Schema: {clip(exc.message)}",
            code=INVALID_SCHEMA,
            param=_SCHEMA_PARAM,
        ) from None
    if schema.get("type") != "object":
        raise TemplateError('variables schema must have "type": "object"', code=INVALID_SCHEMA, param=_SCHEMA_PARAM)
    for reference in _references(schema):
        # Anything but a local pointer would make validation fetch or fail at render time.
        if not reference.startswith("#"):
            raise TemplateError(
                f"variables schema may only use local references ('#/...'), not {clip(reference, 80)!r}",
                code=INVALID_SCHEMA,
                param=_SCHEMA_PARAM,
            )


def prepare_variables(
    variables: Mapping[str, object],
    *,
    required: Iterable[str],
    schema: dict | None,
) -> dict[str, object]:
    """Values to render with: schema defaults filled in, presence and types checked."""
    if not isinstance(variables, Mapping):
        raise TemplateError("variables must be a JSON object", code=INVALID_VARIABLE, param="variables")
    values = dict(variables)
    for name, value in values.items():
        _check_json_value(name, value)
    properties = (schema or {}).get("properties", {})
    for name, spec in properties.items():
        if name not in values and isinstance(spec, dict) and "default" in spec:
            values[name] = copy.deepcopy(spec["default"])
    for name in required:
        if name not in values:
            raise _missing(name)
    if schema is not None:
        error = best_match(Draft202012Validator(schema).iter_errors(values))
        if error is not None:
            raise _schema_violation(error, values)
    return values


def _missing(name: str) -> TemplateError:
    return TemplateError(f"variable {name!r} is required", code=MISSING_VARIABLE, param=f"variables.{name}")


def _schema_violation(error: ValidationError, values: Mapping[str, object]) -> TemplateError:
    if not error.path:
        if error.validator == "required":
            missing = next((name for name in error.validator_value if name not in values), None)
            if missing is not None:
                return _missing(missing)
        return TemplateError(f"variables are invalid: {clip(error.message)}", code=INVALID_VARIABLE, param="variables")
    name = str(error.path[0])
    if error.validator == "type" and len(error.path) == 1:
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        message = f"variable {name!r} must be of type {expected_text}"
    else:
        location = "".join(f"[{step!r}]" for step in list(error.path)[1:])
        message = f"variable {name!r}{location} is invalid: {clip(error.message)}"
    return TemplateError(message, code=INVALID_VARIABLE, param=f"variables.{name}")


def _check_json_value(name: str, value: object) -> None:
    """Reject anything JSON cannot carry: only data reaches templates, never live objects."""
    pending = [value]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if item is None or isinstance(item, (str, bool, int, float)):
            continue
        if isinstance(item, (list, tuple, dict)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                if not all(isinstance(key, str) for key in item):
                    raise TemplateError(
                        f"variable {name!r} must be JSON: object keys must be strings",
                        code=INVALID_VARIABLE,
                        param=f"variables.{name}",
                    )
                pending.extend(item.values())
            else:
                pending.extend(item)
            continue
        raise TemplateError(
            f"variable {name!r} must be JSON, not {type(item).__name__}",
            code=INVALID_VARIABLE,
            param=f"variables.{name}",
        )


def _references(schema: object) -> Iterable[str]:
    """Every ``$ref``/``$dynamicRef`` string anywhere in the schema."""
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key in ("$ref", "$dynamicRef") and isinstance(child, str):
                    yield child
                else:
                    pending.append(child)
        elif isinstance(item, list):
            pending.extend(item)
