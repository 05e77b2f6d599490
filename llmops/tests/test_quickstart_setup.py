"""What the quickstart relies on, without starting it: the settings file it writes, the key it keeps,
and the local endpoint's "installing" state while llama-cpp-python builds in the background."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import APIKey
from runs.providers import ProviderError, get_provider
from runs.providers import local as local_module
from runs.providers.base import CompletionRequest

ROOT = Path(__file__).resolve().parents[2]
ENV_SET_BY_TESTS = ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "REDIS_CACHE_URL")


def manage(var_dir: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ENV_SET_BY_TESTS and not k.startswith("LLMOPS_")}
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={**clean, "LLMOPS_VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRINT_SETTINGS = "diffsettings", "--all"


def test_manage_py_reads_the_quickstart_settings_file_and_the_environment_wins(tmp_path):
    without = manage(tmp_path, "check")
    assert without.returncode != 0 and "SECRET_KEY is required" in without.stderr

    (tmp_path / "quickstart.env").write_text(
        "# written by bin/quickstart\nDEBUG=true\nSECRET_KEY=from-the-file-0123456789\n"
        f"DATABASE_URL=sqlite:///{tmp_path}/llmops.sqlite3\n"
    )
    settings = manage(tmp_path, *PRINT_SETTINGS)
    assert settings.returncode == 0, settings.stderr
    assert "DEBUG = True" in settings.stdout
    assert "SECRET_KEY = 'from-the-file-0123456789'" in settings.stdout
    assert f"'NAME': '{tmp_path}/llmops.sqlite3'" in settings.stdout

    overridden = manage(tmp_path, *PRINT_SETTINGS, SECRET_KEY="from-the-environment-0123456789", DEBUG="false")
    assert overridden.returncode == 0, overridden.stderr
    assert "SECRET_KEY = 'from-the-environment-0123456789'" in overridden.stdout
    assert "DEBUG = False" in overridden.stdout


@pytest.mark.django_db
def test_bootstrap_keeps_the_stored_quickstart_key_and_says_when_it_replaces_one(tmp_path):
    key_file = tmp_path / "quickstart.key"
    first = StringIO()
    call_command("bootstrap", key_file=key_file, stdout=first)
    secret = key_file.read_text().strip()
    assert secret in first.getvalue() and f"new, saved in {key_file}" in first.getvalue()
    assert key_file.stat().st_mode & 0o777 == 0o600

    again = StringIO()
    call_command("bootstrap", key_file=key_file, stdout=again)
    assert f"{secret}   (kept from {key_file})" in again.getvalue()
    assert key_file.read_text().strip() == secret
    key = APIKey.objects.get(name="quickstart", revoked_at__isnull=True)
    # The key does everything the README's first session and API sections show, keys and endpoints included.
    assert set(key.scopes) == {"read", "run", "write", "admin"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    created = client.post("/api/v1/api-keys", {"name": "ci", "scopes": ["read"]}, format="json")
    assert created.status_code == 201, created.json()

    # A lost or revoked key is replaced, and the output names the one that was revoked.
    key_file.write_text("llmops_not-a-key\n")
    replaced = StringIO()
    call_command("bootstrap", key_file=key_file, stdout=replaced)
    assert f"the previous quickstart key {key.prefix} is revoked" in replaced.getvalue()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key_file.read_text().strip() != secret


@pytest.fixture
def runtime_missing(monkeypatch, settings, tmp_path):
    """llama_cpp not importable (yet), the quickstart's var directory in tmp_path."""
    settings.VAR_DIR = tmp_path
    real_find_spec = importlib.util.find_spec
    installed = {"llama_cpp": False}

    def find_spec(name, *args, **kwargs):
        if name == "llama_cpp" and not installed["llama_cpp"]:
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(local_module, "_runtime", local_module._Runtime())
    return installed


def test_a_local_run_fails_at_once_saying_the_runtime_is_being_installed(runtime_missing, tmp_path):
    (tmp_path / local_module.INSTALLING_MARKER).write_text(str(tmp_path / local_module.INSTALL_LOG))
    assert local_module.runtime_status()[0] == "installing"
    with pytest.raises(ProviderError) as caught:
        get_provider("local").complete(CompletionRequest(model="gemma-3-270m", prompt="hi"))
    assert caught.value.retryable is False
    assert "being built in the background" in caught.value.message
    assert str(tmp_path / local_module.INSTALL_LOG) in caught.value.message

    (tmp_path / local_module.INSTALLING_MARKER).unlink()
    assert local_module.runtime_status()[0] == "missing"
    runtime_missing["llama_cpp"] = True  # the background build finished: no restart needed
    assert local_module.runtime_status()[0] == "ready"


@pytest.mark.django_db
def test_health_and_the_admin_show_the_local_runtime_installing(runtime_missing, tmp_path, tenant, admin_client):
    from runs.models import ModelEndpoint

    (tmp_path / local_module.INSTALLING_MARKER).write_text("")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.key}")
    body = client.get("/api/v1/health?workers=false").json()
    assert body["components"]["local_model"]["ok"] is False
    assert body["components"]["local_model"]["detail"].startswith("installing: ")
    assert body["status"] == "ok", "an installing runtime does not make the platform degraded"

    ModelEndpoint.objects.create(
        project=tenant.project, name="local-gemma", provider=ModelEndpoint.Provider.LOCAL, model_id="gemma-3-270m"
    )
    page = admin_client.get("/admin/runs/modelendpoint/")
    assert page.status_code == 200
    assert '<td class="field-runtime">installing</td>' in page.content.decode()
