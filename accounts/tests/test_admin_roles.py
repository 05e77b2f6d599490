"""Membership roles decide what a staff user sees and does in the admin, per project."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import APIKey, Membership
from accounts.tests.factories import APIKeyFactory, UserFactory
from accounts.tests.helpers import staff_client

pytestmark = pytest.mark.django_db


def test_viewer_reads_own_project_only_and_cannot_change():
    client, mine, theirs = staff_client(Membership.Role.VIEWER)
    own_key, foreign_key = APIKeyFactory(project=mine), APIKeyFactory(project=theirs)
    listing = client.get(reverse("admin:accounts_apikey_changelist"))
    assert listing.status_code == 200
    assert own_key.prefix in listing.content.decode() and foreign_key.prefix not in listing.content.decode()
    assert client.get(reverse("admin:accounts_apikey_change", args=[foreign_key.pk])).status_code == 302
    assert client.get(reverse("admin:accounts_apikey_add")).status_code == 403
    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke", "_selected_action": [own_key.pk]},
    )
    own_key.refresh_from_db()
    assert own_key.revoked_at is None


def test_member_cannot_manage_keys_but_admin_can_in_own_project_only():
    member, mine, _ = staff_client(Membership.Role.MEMBER)
    assert member.get(reverse("admin:accounts_apikey_add")).status_code == 403

    admin_client, mine, theirs = staff_client(Membership.Role.ADMIN)
    page = admin_client.get(reverse("admin:accounts_apikey_add"))
    assert page.status_code == 200
    choices = page.context["adminform"].form.fields["project"].queryset
    assert list(choices) == [mine]
    response = admin_client.post(
        reverse("admin:accounts_apikey_add"),
        {"project": theirs.pk, "name": "sneaky", "scopes": ["read"], "budget_period": "monthly"},
    )
    assert response.status_code == 200  # the form refuses the foreign project
    assert not APIKey.objects.filter(name="sneaky").exists()
    created = admin_client.post(
        reverse("admin:accounts_apikey_add"),
        {"project": mine.pk, "name": "ok", "scopes": ["read"], "budget_period": "monthly"},
        follow=True,
    )
    assert APIKey.objects.filter(name="ok", project=mine).exists()
    assert "will not be shown again" in created.content.decode()


def test_staff_without_membership_sees_no_project_data():
    user = UserFactory(is_staff=True)
    client = Client()
    client.force_login(user)
    APIKeyFactory()
    assert client.get(reverse("admin:accounts_apikey_changelist")).status_code == 403
    index = client.get(reverse("admin:index"))
    assert "API keys" not in index.content.decode()
