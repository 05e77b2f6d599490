"""One model call to a configured endpoint, with every way it can go wrong turned into a Failure.

The endpoint's settings (enabled, URL policy, credential) are read at call time: an endpoint edited
or a secret rotated after a run was queued applies to that run's next attempt.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection

from llmops.core.errors import ValidationFailed
from llmops.core.net import validate_outbound_url
from runs import credentials
from runs.credentials import CredentialError
from runs.models import ModelEndpoint, validate_model_id
from runs.providers import Completion, CompletionRequest, ProviderError, UnknownProvider, get_provider

logger = logging.getLogger(__name__)

CONFIGURATION_ERROR = "configuration_error"


@dataclass(frozen=True)
class Failure:
    error_type: str
    message: str
    retryable: bool
    retry_after: float | None = None


class ConfigurationError(Exception):
    """The endpoint cannot be called as configured; retrying cannot help."""


def credential_for(endpoint: ModelEndpoint) -> str | None:
    """The endpoint's own encrypted key, else an operator-allowed variable, else Hugging Face's token for
    HF-routed endpoints (whose URLs huggingface_hub fixes, not the tenant)."""
    if endpoint.api_key_encrypted:
        return credentials.decrypt_secret(endpoint.api_key_encrypted)
    if endpoint.api_key_env:
        # Checked again at call time: the operator may have narrowed MODEL_CREDENTIAL_ENVS since.
        refusal = credentials.env_credential_refusal(endpoint.api_key_env, base_url=endpoint.base_url)
        if refusal:
            raise ConfigurationError(f"model endpoint '{endpoint.name}': {refusal}")
        value = os.environ.get(endpoint.api_key_env, "").strip()
        if not value:
            raise ConfigurationError(
                f"environment variable {endpoint.api_key_env} (the credential of model endpoint "
                f"'{endpoint.name}') is not set on the worker"
            )
        return value
    if endpoint.provider == ModelEndpoint.Provider.HUGGINGFACE and not endpoint.base_url:
        return settings.HUGGINGFACE_API_KEY or None
    return None


def _request(
    endpoint: ModelEndpoint, *, model_id: str, prompt: str | None, messages: list | None, parameters: dict
) -> CompletionRequest:
    if not endpoint.enabled:
        raise ConfigurationError(f"model endpoint '{endpoint.name}' is disabled")
    model = model_id or endpoint.model_id
    try:
        validate_model_id(model)
    except DjangoValidationError as error:
        raise ConfigurationError(f"model endpoint '{endpoint.name}': model_id {error.messages[0]}") from None
    if endpoint.base_url:
        # The form only: the connection itself is vetted where it opens (llmops.core.outbound.VettedBackend).
        validate_outbound_url(endpoint.base_url, resolve=False)
    return CompletionRequest(
        model=model,
        prompt=None if messages is not None else (prompt or ""),
        messages=messages,
        parameters=parameters,
        base_url=endpoint.base_url or None,
        api_key=credential_for(endpoint),
        provider=endpoint.hf_provider or None,
        timeout=endpoint.timeout_seconds,
    )


def call_endpoint(
    endpoint: ModelEndpoint | None,
    *,
    model_id: str,
    prompt: str | None,
    messages: list | None = None,
    parameters: dict | None = None,
) -> Completion | Failure:
    if endpoint is None:
        return Failure(CONFIGURATION_ERROR, "the run's model endpoint no longer exists", retryable=False)
    try:
        provider = get_provider(endpoint.provider)
        request = _request(endpoint, model_id=model_id, prompt=prompt, messages=messages, parameters=parameters or {})
        _release_pooled_connection()
        return provider.complete(request)
    except ProviderError as error:
        return Failure(error.error_type, error.message, error.retryable, error.retry_after)
    except (ConfigurationError, CredentialError, UnknownProvider) as error:
        return Failure(CONFIGURATION_ERROR, str(error), retryable=False)
    except ValidationFailed as error:
        # A name that does not resolve may be a DNS hiccup; a forbidden address stays forbidden.
        if error.code == "unresolvable_host":
            return Failure("connection_error", error.message, retryable=True)
        return Failure(CONFIGURATION_ERROR, error.message, retryable=False)
    except SoftTimeLimitExceeded:
        return Failure("timeout", "the worker's time limit interrupted the model call", retryable=True)
    except Exception as error:
        # A bug, not the model's fault: fail the run visibly instead of leaving it running.
        logger.exception("model call to endpoint %s failed unexpectedly", endpoint.pk)
        return Failure("internal_error", f"unexpected {type(error).__name__}: {error}"[:500], retryable=False)


def _release_pooled_connection() -> None:
    """A model call takes seconds: give the thread's pooled database connection back for that time
    instead of holding it idle, so a pool far smaller than the number of threads serves them all."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
