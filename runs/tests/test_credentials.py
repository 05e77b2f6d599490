"""Model credentials hold against a hostile project admin: no endpoint can name the platform's own
environment, a stored key is encrypted, write-only and goes only to the endpoint it was entered for."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from llmops.core.testing.fake_openai import reply, status
from runs import credentials, endpoints
from runs.calls import call_endpoint
from runs.models import ModelEndpoint
from runs.providers import CompletionRequest
from runs.tests.helpers import make_endpoint, unique_model

SECRET = "sk-project-secret-0123456789abcdef"


def endpoint_body(fake_openai, **fields) -> dict:
    return {"name": "own", "model_id": unique_model(), "base_url": fake_openai.base_url, **fields}


def stored_column(endpoint_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted FROM runs_modelendpoint WHERE id = %s", [endpoint_id])
        return cursor.fetchone()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "HUGGINGFACE_API_KEY", "PATH"])
def test_an_endpoint_cannot_name_a_platform_variable(api, fake_openai, name):
    response = api.post("/api/v1/models", endpoint_body(fake_openai, api_key_env=name), format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("api_key_env", "credential_env_not_allowed")
    assert "MODEL_CREDENTIAL_ENVS" in error["message"]
    assert not ModelEndpoint.objects.filter(name="own").exists()


@pytest.mark.django_db
def test_a_legacy_endpoint_naming_secret_key_never_sends_it(project, fake_openai, settings):
    # A row written before the rule (or around the service): the call itself refuses the variable.
    endpoint = make_endpoint(project, fake_openai.base_url, api_key_env="SECRET_KEY")

    result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert (result.error_type, result.retryable) == ("configuration_error", False)
    assert "MODEL_CREDENTIAL_ENVS" in result.message
    assert fake_openai.calls(endpoint.model_id) == 0
    assert all(settings.SECRET_KEY not in str(request["headers"]) for request in fake_openai.requests(None))


@pytest.mark.django_db
def test_operator_listed_variables_work_and_can_be_bound_to_a_host(api, fake_openai, monkeypatch):
    monkeypatch.setenv("VENDOR_KEY", "sk-vendor")
    with override_settings(MODEL_CREDENTIAL_ENVS=["VENDOR_KEY@api.vendor.example"]):
        refused = api.post("/api/v1/models", endpoint_body(fake_openai, api_key_env="VENDOR_KEY"), format="json")
    with override_settings(MODEL_CREDENTIAL_ENVS=["VENDOR_KEY@127.0.0.1"]):
        accepted = api.post("/api/v1/models", endpoint_body(fake_openai, api_key_env="VENDOR_KEY"), format="json")
        endpoint = ModelEndpoint.objects.get(pk=accepted.json()["id"])
        result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert refused.status_code == 400 and "may be sent only to api.vendor.example" in refused.json()["error"]["message"]
    assert accepted.status_code == 201, accepted.content
    assert result.text.startswith("echo:")
    [sent] = fake_openai.requests(endpoint.model_id)
    assert sent["headers"]["authorization"] == "Bearer sk-vendor"


@pytest.mark.django_db
def test_a_stored_key_is_encrypted_write_only_and_sent_to_its_endpoint(api, fake_openai):
    created = api.post("/api/v1/models", endpoint_body(fake_openai, api_key=SECRET), format="json")
    assert created.status_code == 201, created.content
    endpoint = ModelEndpoint.objects.get(pk=created.json()["id"])

    column = stored_column(endpoint.pk)
    assert SECRET not in column and credentials.decrypt_secret(column) == SECRET
    for response in (created, api.get(f"/api/v1/models/{endpoint.pk}"), api.get("/api/v1/models")):
        assert SECRET.encode() not in response.content and b"api_key_encrypted" not in response.content
    assert api.get(f"/api/v1/models/{endpoint.pk}").json()["api_key_hint"] == "…cdef"

    result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert result.text.startswith("echo:")
    [sent] = fake_openai.requests(endpoint.model_id)
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"


@pytest.mark.django_db
def test_moving_an_endpoint_needs_its_key_again(api, fake_openai):
    created = api.post("/api/v1/models", endpoint_body(fake_openai, api_key=SECRET), format="json").json()
    url = f"/api/v1/models/{created['id']}"
    elsewhere = fake_openai.base_url.replace("/v1", "/other/v1")

    moved = api.patch(url, {"base_url": elsewhere}, format="json")
    assert moved.status_code == 400, moved.content
    assert (moved.json()["error"]["param"], moved.json()["error"]["code"]) == (
        "api_key",
        "credential_bound_to_destination",
    )
    assert ModelEndpoint.objects.get(pk=created["id"]).base_url == fake_openai.base_url

    assert api.patch(url, {"max_concurrency": 3}, format="json").status_code == 200  # other fields: fine
    resent = api.patch(url, {"base_url": elsewhere, "api_key": "sk-new-key-for-elsewhere-9999"}, format="json")
    assert resent.status_code == 200 and resent.json()["api_key_hint"] == "…9999"
    cleared = api.patch(url, {"api_key": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["api_key_set"] is False
    assert stored_column(created["id"]) == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"api_key": "sk-line\nbreak"}, "api_key"),
        ({"api_key": "x" * 5000}, "api_key"),
        ({"api_key": SECRET, "api_key_env": "ANY"}, "api_key_env"),
    ],
)
def test_bad_keys_are_refused_on_their_field(api, fake_openai, fields, param):
    with override_settings(MODEL_CREDENTIAL_ENVS=["ANY"]):
        response = api.post("/api/v1/models", endpoint_body(fake_openai, **fields), format="json")

    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.content


@pytest.mark.django_db
def test_keys_rotate_to_a_new_encryption_key(project, fake_openai):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[old_key]):
        endpoint = endpoints.model_endpoint_create(
            project=project, name="rotating", model_id="m", base_url=fake_openai.base_url, api_key=SECRET
        )
    before = stored_column(endpoint.pk)

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[new_key, old_key]):
        call_command("rotate_credentials", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = stored_column(endpoint.pk)

    assert after != before
    assert Fernet(new_key.encode()).decrypt(after.encode()).decode() == SECRET
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[new_key]):  # the old key can go now
        endpoint.refresh_from_db()
        result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")
    assert not hasattr(result, "error_type"), result
    [sent] = fake_openai.requests("m")
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"


@pytest.mark.django_db
def test_a_key_the_platform_cannot_decrypt_fails_the_call_not_the_worker(project, fake_openai):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        endpoint = endpoints.model_endpoint_create(
            project=project, name="lost-key", model_id="m", base_url=fake_openai.base_url, api_key=SECRET
        )
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        result = call_endpoint(endpoint, model_id="m", prompt="hi")

    assert (result.error_type, result.retryable) == ("configuration_error", False)
    assert "rotate_credentials" in result.message and fake_openai.calls("m") == 0


@pytest.mark.django_db
def test_the_key_never_reaches_a_log_line(project, fake_openai, caplog):
    endpoint = endpoints.model_endpoint_create(
        project=project, name="logged", model_id="m", base_url=fake_openai.base_url, api_key=SECRET
    )
    fake_openai.script("m", [status(401)])

    with caplog.at_level(logging.DEBUG):
        result = call_endpoint(endpoint, model_id="m", prompt="hi")

    assert result.error_type == "authentication"
    assert SECRET not in caplog.text and SECRET not in result.message
    assert SECRET not in repr(CompletionRequest(model="m", api_key=SECRET))


@pytest.mark.django_db
def test_the_admin_stores_the_key_through_the_service_and_never_shows_it(admin_client, project, fake_openai):
    fake_openai.script("admin-model", [reply("OK")])
    form = {
        "project": project.pk,
        "name": "console",
        "provider": "huggingface",
        "model_id": "admin-model",
        "base_url": fake_openai.base_url,
        "api_key": SECRET,
        "default_parameters": "{}",
        "timeout_seconds": "10",
        "max_concurrency": "1",
        "enabled": "on",
    }
    added = admin_client.post(reverse("admin:runs_modelendpoint_add"), form)
    assert added.status_code == 302, added.content.decode()[:2000]
    endpoint = ModelEndpoint.objects.get(name="console")
    assert credentials.decrypt_secret(stored_column(endpoint.pk)) == SECRET

    change_url = reverse("admin:runs_modelendpoint_change", args=[endpoint.pk])
    for page in (admin_client.get(change_url), admin_client.get(reverse("admin:runs_modelendpoint_changelist"))):
        assert SECRET not in page.content.decode() and "…cdef" in page.content.decode()

    # Moving it without the key is a form error on the key; nothing changes.
    moved = dict(form, base_url=fake_openai.base_url.replace("/v1", "/elsewhere/v1"), api_key="")
    del moved["project"]
    refused = admin_client.post(change_url, moved)
    assert refused.status_code == 200 and "send api_key again" in refused.content.decode()
    endpoint.refresh_from_db()
    assert (
        endpoint.base_url == fake_openai.base_url and credentials.decrypt_secret(endpoint.api_key_encrypted) == SECRET
    )

    # Leaving the key blank keeps it; the checkbox removes it.
    kept = admin_client.post(change_url, dict(form, api_key="", max_concurrency="2"))
    assert kept.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.max_concurrency == 2 and credentials.decrypt_secret(endpoint.api_key_encrypted) == SECRET
    assert admin_client.post(change_url, dict(form, api_key="", clear_api_key="on")).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.api_key_encrypted == "" and endpoint.api_key_hint == ""


@pytest.mark.django_db
def test_the_admin_refuses_a_platform_variable_on_its_field(admin_client, project, fake_openai):
    response = admin_client.post(
        reverse("admin:runs_modelendpoint_add"),
        {
            "project": project.pk,
            "name": "sneaky",
            "provider": "huggingface",
            "model_id": "m",
            "base_url": fake_openai.base_url,
            "api_key_env": "SECRET_KEY",
            "default_parameters": "{}",
            "timeout_seconds": "10",
            "max_concurrency": "1",
            "enabled": "on",
        },
    )

    assert response.status_code == 200 and "MODEL_CREDENTIAL_ENVS" in response.content.decode()
    assert not ModelEndpoint.objects.filter(name="sneaky").exists()


@pytest.mark.django_db
def test_moving_off_the_key_derived_from_secret_key_is_one_rotation(project, fake_openai):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[]):
        endpoint = endpoints.model_endpoint_create(
            project=project, name="derived", model_id="m", base_url=fake_openai.base_url, api_key=SECRET
        )
    new_key = Fernet.generate_key().decode()

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[new_key]):
        assert endpoints.model_credentials_rotate() == 1

    assert Fernet(new_key.encode()).decrypt(stored_column(endpoint.pk).encode()).decode() == SECRET
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[new_key], SECRET_KEY="another-secret-key-" + "x" * 40):
        assert credentials.decrypt_secret(stored_column(endpoint.pk)) == SECRET
