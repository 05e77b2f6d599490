"""OpenAPI description of the API-key authentication (two equivalent schemes)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

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
