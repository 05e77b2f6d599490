"""The OpenAPI document: the API-key authentication (two equivalent schemes), the error envelope,
reader-facing descriptions, strict request bodies and the sections (tags) operations are grouped in."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance

from llmops.core.api.serializers import KnownFieldsMixin
from llmops.core.errors import ERROR_TYPES


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.APIKeyAuthentication"
    name = ["ApiKeyBearer", "ApiKeyHeader"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]


ERROR_ENVELOPE = {
    "type": "object",
    "description": "The error envelope every API error uses.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {
                    "type": "string",
                    "enum": list(ERROR_TYPES),
                },
                "message": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
            "required": ["type", "message", "param", "code"],
        },
        "request_id": {"type": "string", "nullable": True},
    },
    "required": ["error", "request_id"],
}

_DESCRIPTIONS = {str(error_type.status): error_type.description for error_type in ERROR_TYPES.values()}
# Documented on every authenticated operation; 402 (POSTs only) and 503 are added below, 500 never:
# it is a bug, not part of the contract.
_ERRORS = [code for code in _DESCRIPTIONS if code not in ("402", "500", "503")]
_PUBLIC_ERRORS = ("400", "405", "406", "413", "415", "503")


def add_error_responses(result: dict, generator, request, public) -> dict:
    """Document the error envelope on every operation, so clients (and schema-driven tests) know
    every status an operation can answer with."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_ENVELOPE
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            public_operation = operation.get("security") == [{}] or path.endswith("/health")
            codes = _PUBLIC_ERRORS if public_operation else [*_ERRORS, "503"]
            if path.endswith("/health"):
                codes = [*codes, "401", "429"]  # optional credentials; a limit per client address
            if method == "post" and not public_operation:
                codes = [*codes, "402"]
            for code in codes:
                responses.setdefault(code, {"description": _DESCRIPTIONS[code], "content": reference})
    return result


class DocumentedAutoSchema(AutoSchema):
    """What the OpenAPI document says of an operation is written for its readers.

    - Descriptions come from ``extend_schema`` and field help texts only, never from docstrings, which
      are written for the code's maintainers (DISABLE_DOCSTRING_DESCRIPTIONS).
    - A request body that refuses unknown fields (``llmops.core.api.serializers``) says so with
      ``additionalProperties: false``, so clients and schema-driven tests know what is refused.
    """

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        instance = force_instance(serializer)
        if direction == "request" and isinstance(instance, KnownFieldsMixin) and not instance.allow_unknown_fields:
            schema["additionalProperties"] = False
        return schema


# The document's sections, in order: every operation is in exactly one (by its path, see tag_operations).
TAGS = (
    ("Prompts", "Prompts and their immutable versions, labels (production, staging, ...), diffs, rollback."),
    ("Runs", "Run a prompt version on a model: POST /run answers 202 at once; poll the run or wait for it."),
    ("Models", "Model endpoints: Hugging Face providers, OpenAI-compatible servers, the local model."),
    ("Goldens", "Golden examples: inputs and expected outputs of a prompt, with import and export."),
    ("Experiments", "Experiments across prompt versions on golden examples, scorers, reports and exports."),
    ("Access", "The key's project and its API keys."),
    ("Operations", "Health, cost logs and usage."),
)
_TAG_BY_PREFIX = (
    ("/api/v1/prompts", "Prompts"),
    ("/api/v1/runs", "Runs"),
    ("/api/v1/run-experiment", "Experiments"),
    ("/api/v1/run", "Runs"),
    ("/api/v1/task-status", "Runs"),
    ("/api/v1/models", "Models"),
    ("/api/v1/golden-examples", "Goldens"),
    ("/api/v1/experiment", "Experiments"),
    ("/api/v1/scorers", "Experiments"),
    ("/api/v1/api-keys", "Access"),
    ("/api/v1/project", "Access"),
    ("/api/v1/health", "Operations"),
    ("/api/v1/cost-logs", "Operations"),
    ("/api/v1/usage", "Operations"),
)


def tag_of(path: str) -> str | None:
    return next((tag for prefix, tag in _TAG_BY_PREFIX if path.startswith(prefix)), None)


def tag_operations(result: dict, generator, request, public) -> dict:
    """One tag per operation, from its path: the seed's routes (/run, /task-status, /run-experiment,
    /experiment-results) sit with the resources they act on."""
    result["tags"] = [{"name": name, "description": description} for name, description in TAGS]
    for path, operations in result.get("paths", {}).items():
        tag = tag_of(path)
        for operation in operations.values():
            if tag is not None and isinstance(operation, dict) and "responses" in operation:
                operation["tags"] = [tag]
    return result
