"""Model endpoints: the one write path (API, admin, commands) and the connection test.

An endpoint's credential is bound to where it is sent: changing the destination (provider, base_url,
hf_provider) of an endpoint that holds a credential requires the credential again in the same change,
so nobody who may edit an endpoint can redirect a stored secret to a server of their choosing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from accounts.models import Project
from llmops.core.errors import Conflict, Unavailable, ValidationFailed
from llmops.core.net import validate_outbound_url
from runs import credentials
from runs.calls import Failure, call_endpoint
from runs.models import ModelEndpoint
from runs.providers import provider_kinds
from runs.providers.huggingface import hf_provider_names

TEST_PROMPT = "Reply with the single word OK."

# Fields a client may set; ``api_key`` is write-only and stored encrypted.
ENDPOINT_FIELDS = (
    "name",
    "provider",
    "model_id",
    "base_url",
    "hf_provider",
    "api_key",
    "api_key_env",
    "default_parameters",
    "input_price_per_million",
    "output_price_per_million",
    "timeout_seconds",
    "max_concurrency",
    "enabled",
    "is_default",
)
# Where a credential goes: changing any of these moves it to another server.
DESTINATION_FIELDS = ("provider", "base_url", "hf_provider")
_UNSET = object()


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    latency_ms: int
    detail: str


def model_endpoint_create(*, project: Project, **fields: Any) -> ModelEndpoint:
    endpoint = ModelEndpoint(project=project)
    return _endpoint_save(endpoint, fields)


def model_endpoint_update(*, endpoint: ModelEndpoint, **fields: Any) -> ModelEndpoint:
    return _endpoint_save(endpoint, fields)


def model_endpoint_delete(*, endpoint: ModelEndpoint) -> None:
    """Past runs keep their model id and costs; queued runs of the endpoint fail with a configuration error."""
    endpoint.delete()


def model_endpoint_check(*, provider: str, base_url: str, hf_provider: str = "") -> None:
    """What field validators cannot know: the registered provider kinds and the outbound URL policy."""
    if provider not in provider_kinds():
        known = ", ".join(provider_kinds())
        raise ValidationFailed(f"unknown provider '{provider}' (known: {known})", code="invalid", param="provider")
    if hf_provider and hf_provider not in hf_provider_names():
        raise ValidationFailed(
            f"unknown Hugging Face provider '{hf_provider}' (known: {', '.join(sorted(hf_provider_names()))})",
            code="invalid",
            param="hf_provider",
        )
    if base_url:
        validate_outbound_url(base_url)


def model_endpoint_test(*, endpoint: ModelEndpoint) -> ConnectionCheck:
    """Send a tiny prompt through the endpoint as configured; no run, no cost."""
    parameters = {**(endpoint.default_parameters or {}), "max_tokens": 8}
    result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt=TEST_PROMPT, parameters=parameters)
    if isinstance(result, Failure):
        return ConnectionCheck(ok=False, latency_ms=0, detail=f"{result.error_type}: {result.message}")
    return ConnectionCheck(ok=True, latency_ms=result.latency_ms, detail=f"answered {result.text[:80]!r}")


def model_endpoint_validate(*, project: Project, endpoint: ModelEndpoint | None, **fields: Any) -> ModelEndpoint:
    """What create (``endpoint`` None) or update would store, checked but not saved: for forms that must
    report every problem on its field before anything is written."""
    candidate = ModelEndpoint(project=project) if endpoint is None else ModelEndpoint.objects.get(pk=endpoint.pk)
    _endpoint_prepare(candidate, dict(fields))
    _check_unique_name(candidate)
    return candidate


def _endpoint_save(endpoint: ModelEndpoint, fields: dict[str, Any]) -> ModelEndpoint:
    _endpoint_prepare(endpoint, fields)
    _check_unique_name(endpoint)
    try:
        with transaction.atomic():
            if endpoint.is_default:
                _take_default(endpoint)
            endpoint.save()
    except IntegrityError:
        raise _duplicate(endpoint) from None
    return endpoint


def _take_default(endpoint: ModelEndpoint) -> None:
    """Make ``endpoint`` the project's only default: the project row is locked so two concurrent
    changes of the default serialise instead of one failing on the one-default constraint."""
    Project.objects.select_for_update().filter(pk=endpoint.project_id).first()
    ModelEndpoint.objects.filter(project_id=endpoint.project_id, is_default=True).exclude(pk=endpoint.pk).update(
        is_default=False
    )


def _endpoint_prepare(endpoint: ModelEndpoint, fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown model endpoint field '{unknown[0]}'", param=unknown[0])
    secret = fields.pop("api_key", _UNSET)
    # Compared with what is stored, not with the instance, which a form may already have changed.
    before = (
        ModelEndpoint.objects.filter(pk=endpoint.pk).values(*DESTINATION_FIELDS, "api_key_encrypted").first()
        if endpoint.pk
        else None
    )
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.name = (endpoint.name or "").strip()
    endpoint.model_id = (endpoint.model_id or "").strip()
    endpoint.api_key_env = (endpoint.api_key_env or "").strip()
    try:
        endpoint.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ValidationFailed(f"{field}: {messages[0]}", param=field) from None
    model_endpoint_check(provider=endpoint.provider, base_url=endpoint.base_url, hf_provider=endpoint.hf_provider)
    _apply_credential(endpoint, secret=secret, before=before)


def _duplicate(endpoint: ModelEndpoint) -> Conflict:
    return Conflict(
        f"a model endpoint named '{endpoint.name}' already exists in this project", code="duplicate", param="name"
    )


def _check_unique_name(endpoint: ModelEndpoint) -> None:
    namesakes = ModelEndpoint.objects.filter(project_id=endpoint.project_id, name=endpoint.name)
    if namesakes.exclude(pk=endpoint.pk).exists():
        raise _duplicate(endpoint)


def _apply_credential(endpoint: ModelEndpoint, *, secret: object, before: dict[str, Any] | None) -> None:
    moved = before is not None and any(getattr(endpoint, name) != before[name] for name in DESTINATION_FIELDS)
    if before is not None:
        endpoint.api_key_encrypted = before["api_key_encrypted"]  # only this function writes it
    if secret is _UNSET:
        if moved and endpoint.api_key_encrypted:
            changed = next(name for name in DESTINATION_FIELDS if getattr(endpoint, name) != before[name])
            raise ValidationFailed(
                f"changing {changed} would send the stored api_key to another server: send api_key again in the "
                "same request (or null to remove it)",
                code="credential_bound_to_destination",
                param="api_key",
            )
    elif secret is None or secret == "":
        endpoint.api_key_encrypted = endpoint.api_key_hint = ""
    else:
        if not isinstance(secret, str):
            raise ValidationFailed("api_key must be a string", param="api_key")
        secret = secret.strip()
        problem = credentials.check_secret(secret)
        if problem:
            raise ValidationFailed(f"api_key {problem}", param="api_key")
        try:
            endpoint.api_key_encrypted = credentials.encrypt_secret(secret)
        except credentials.CredentialError as error:
            raise Unavailable(
                f"the platform cannot store credentials: {error}", code="credentials_unavailable"
            ) from None
        endpoint.api_key_hint = credentials.secret_hint(secret)
    if endpoint.api_key_env:
        if endpoint.api_key_encrypted:
            raise ValidationFailed(
                "set either api_key or api_key_env, not both", code="conflicting_credentials", param="api_key_env"
            )
        refusal = credentials.env_credential_refusal(endpoint.api_key_env, base_url=endpoint.base_url)
        if refusal:
            raise ValidationFailed(f"api_key_env: {refusal}", code="credential_env_not_allowed", param="api_key_env")


def model_credentials_rotate() -> int:
    """Re-encrypt every stored credential under the first CREDENTIALS_ENCRYPTION_KEYS key; the count."""
    rotated = 0
    stored = ModelEndpoint.objects.exclude(api_key_encrypted="").only("pk", "api_key_encrypted")
    for endpoint in stored.iterator():
        token = credentials.rotate_token(endpoint.api_key_encrypted)
        # Conditional: a key replaced meanwhile through the API is already under the new key.
        rotated += ModelEndpoint.objects.filter(pk=endpoint.pk, api_key_encrypted=endpoint.api_key_encrypted).update(
            api_key_encrypted=token
        )
    return rotated
