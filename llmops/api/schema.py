"""OpenAPI description of the API-key authentication (two equivalent schemes)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
                    "enum": [
                        "authentication_error",
                        "permission_error",
                        "not_found",
                        "method_not_allowed",
                        "not_acceptable",
                        "validation_error",
                        "conflict",
                        "payload_too_large",
                        "unsupported_media_type",
                        "rate_limit",
                        "budget_exceeded",
                        "unavailable",
                        "internal_error",
                    ],
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

_ERRORS = {
    "400": "Invalid input; `error.param` names the field",
    "401": "Missing, malformed, unknown, revoked or expired API key",
    "403": "The key lacks the scope this operation needs",
    "404": "No such object in the key's project",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "409": "Conflict with the current state",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "429": "Rate limit exceeded; see Retry-After",
}
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
                description = {"402": "Cost budget exceeded", "503": "A dependency is unavailable"}.get(
                    code
                ) or _ERRORS[code]
                responses.setdefault(code, {"description": description, "content": reference})
    return result
