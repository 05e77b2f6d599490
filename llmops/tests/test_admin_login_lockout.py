"""Console logins are throttled per username and per client address (django-axes, enabled here as in
production): the lockout is a clear 429 page, operators see it in the admin, and neither API keys
nor the test client's logins are affected."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory, ProjectFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
LIMIT = settings.AXES_FAILURE_LIMIT


def _login(client: Client, username: str, password: str, address: str = "203.0.113.10", **headers):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address, **headers
    )


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def staff():
    user = UserFactory(username="operator", is_staff=True)
    MembershipFactory(user=user, project=ProjectFactory(), role=Membership.Role.OWNER)
    return user


def test_axes_is_on_and_counts_by_username_and_by_address():
    assert settings.AXES_ENABLED is True
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]
    assert LIMIT >= 2


def _lockout_settings(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import llmops.settings as s; print(s.AXES_LOCKOUT_PARAMETERS, s.AXES_COOLOFF_TIME)"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_lockout_settings_come_from_the_environment_and_bad_ones_stop_start_up():
    pair = _lockout_settings(AXES_LOCKOUT_PARAMETERS="username+ip_address, ip_address", AXES_COOLOFF_MINUTES="2.5")
    assert pair.returncode == 0, pair.stderr
    assert pair.stdout.strip() == "[['username', 'ip_address'], 'ip_address'] 0:02:30"
    typo = _lockout_settings(AXES_LOCKOUT_PARAMETERS="username+ip")
    assert typo.returncode != 0 and "AXES_LOCKOUT_PARAMETERS" in typo.stderr


def test_failed_logins_for_one_user_lock_that_user_even_from_other_addresses(staff):
    client = Client()
    for attempt in range(LIMIT - 1):
        response = _login(client, "operator", "wrong", address=f"203.0.113.{attempt + 1}")
        assert response.status_code == 200  # the login form again, with its error
        assert "Please enter the correct username and password" in response.content.decode()
    locking = _login(client, "operator", "wrong", address="203.0.113.50")
    assert locking.status_code == 429

    # The right password, from an address that never failed: still refused during the cool-off.
    refused = _login(client, "operator", "password", address="198.51.100.99")
    assert refused.status_code == 429 and not _logged_in(client)
    page = refused.content.decode()
    assert "Too many failed logins" in page and "LLMOps console" in page
    assert refused["Content-Type"].startswith("text/html")
    cooloff = int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert int(refused["Retry-After"]) == cooloff

    # Another person logs in meanwhile.
    UserFactory(username="colleague", is_staff=True)
    other = Client()
    assert _login(other, "colleague", "password", address="198.51.100.98").status_code == 302
    assert _logged_in(other)

    # Once the cool-off has passed, the right password works again.
    last_failure = AccessAttempt.objects.get(ip_address="203.0.113.50").attempt_time
    AccessAttempt.objects.update(attempt_time=last_failure - timedelta(seconds=cooloff + 1))
    assert _login(client, "operator", "password", address="198.51.100.99").status_code == 302
    assert _logged_in(client)


def test_failed_logins_for_several_users_from_one_address_lock_the_address(staff):
    client = Client()
    for attempt in range(LIMIT):
        _login(client, f"guess{attempt}", "wrong", address="192.0.2.7")
    refused = _login(client, "operator", "password", address="192.0.2.7")
    assert refused.status_code == 429 and not _logged_in(client)
    elsewhere = Client()
    assert _login(elsewhere, "operator", "password", address="192.0.2.8").status_code == 302


def test_behind_a_trusted_proxy_each_forwarded_address_counts_on_its_own(staff):
    client = Client()
    with override_settings(TRUSTED_CLIENT_IP_HEADER="X-Forwarded-For"):
        for attempt in range(LIMIT):
            forwarded = f"spoofed, 203.0.113.{attempt + 1}"
            _login(client, f"guess{attempt}", "wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
        # The proxy's own address is not locked: every failure came from another client.
        response = _login(client, "operator", "password", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")
        assert response.status_code == 302
    counted = set(AccessAttempt.objects.values_list("ip_address", flat=True))
    assert counted == {f"203.0.113.{n + 1}" for n in range(LIMIT)}


def test_lockouts_are_listed_in_the_admin_for_superusers_only(staff, admin_client):
    for _ in range(LIMIT):
        _login(Client(), "operator", "wrong", address="203.0.113.77")
    assert AccessFailureLog.objects.filter(username="operator", locked_out=True).exists()

    attempts = admin_client.get(reverse("admin:axes_accessattempt_changelist"), {"locked_out": "yes"})
    assert attempts.status_code == 200
    page = attempts.content.decode()
    assert "operator" in page and "203.0.113.77" in page and "Locked Out" in page
    failures = admin_client.get(reverse("admin:axes_accessfailurelog_changelist"))
    assert failures.status_code == 200 and "operator" in failures.content.decode()

    # A staff user who is not a superuser does not see who failed to log in, whatever permissions they hold.
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="axes"))
    nosy = Client()
    nosy.force_login(staff)
    assert nosy.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403
    assert nosy.get(reverse("admin:axes_accessfailurelog_changelist")).status_code == 403

    # Deleting the attempt lifts the lock.
    AccessAttempt.objects.filter(username="operator").delete()
    assert _login(Client(), "operator", "password", address="203.0.113.77").status_code == 302


def test_api_keys_are_neither_counted_nor_locked_out():
    project = ProjectFactory()
    key = issue_key(project=project)
    client = APIClient()
    for _ in range(LIMIT + 2):
        response = client.get("/api/v1/project", HTTP_AUTHORIZATION="Bearer llm_wrong", REMOTE_ADDR="192.0.2.9")
        assert response.status_code == 401
    assert not AccessAttempt.objects.exists()
    # Even from an address whose console logins are locked, a valid key works.
    for attempt in range(LIMIT):
        _login(Client(), f"guess{attempt}", "wrong", address="192.0.2.9")
    assert AccessAttempt.objects.filter(ip_address="192.0.2.9").exists()
    assert client.get("/api/v1/project", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR="192.0.2.9").status_code == 200


def test_the_test_clients_logins_still_work(staff):
    client = Client()
    assert client.login(username="operator", password="password")
    assert client.get(reverse("admin:index")).status_code == 200
    forced = Client()
    forced.force_login(staff)
    assert forced.get(reverse("admin:index")).status_code == 200
