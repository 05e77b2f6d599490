"""Membership roles decide what a staff user sees and does in the admin, per project."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import APIKey, Membership
from accounts.tests.factories import APIKeyFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def _staff_client(role: str):
    user = UserFactory(is_staff=True)
    mine, theirs = ProjectFactory(), ProjectFactory()
    MembershipFactory(user=user, project=mine, role=role)
    client = Client()
    client.force_login(user)
    return client, mine, theirs


def test_viewer_reads_own_project_only_and_cannot_change():
    client, mine, theirs = _staff_client(Membership.Role.VIEWER)
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
    member, mine, _ = _staff_client(Membership.Role.MEMBER)
    assert member.get(reverse("admin:accounts_apikey_add")).status_code == 403

    admin_client, mine, theirs = _staff_client(Membership.Role.ADMIN)
    page = admin_client.get(reverse("admin:accounts_apikey_add"))
    assert page.status_code == 200
    choices = page.context["adminform"].form.fields["project"].queryset
    assert list(choices) == [mine]
    response = admin_client.post(
        reverse("admin:accounts_apikey_add"),
        {"project": theirs.pk, "name": "sneaky", "scopes": '["read"]', "budget_period": "monthly"},
    )
    assert response.status_code == 200  # the form refuses the foreign project
    assert not APIKey.objects.filter(name="sneaky").exists()
    created = admin_client.post(
        reverse("admin:accounts_apikey_add"),
        {"project": mine.pk, "name": "ok", "scopes": '["read"]', "budget_period": "monthly"},
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


def test_prompt_and_run_pages_follow_the_role():
    from prompts.tests.factories import PromptVersionFactory
    from runs.models import Run
    from runs.tests.factories import RunFactory

    viewer, mine, theirs = _staff_client(Membership.Role.VIEWER)
    own_version = PromptVersionFactory(prompt__project=mine)
    foreign_version = PromptVersionFactory(prompt__project=theirs)
    listing = viewer.get(reverse("admin:prompts_prompt_changelist")).content.decode()
    assert own_version.prompt.name in listing and foreign_version.prompt.name not in listing
    assert viewer.get(reverse("admin:prompts_prompt_add")).status_code == 403
    run = RunFactory(prompt_version=own_version, status=Run.Status.QUEUED)
    viewer.post(reverse("admin:runs_run_changelist"), {"action": "cancel_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED  # a viewer cannot cancel

    member_user = UserFactory(is_staff=True)
    MembershipFactory(user=member_user, project=mine, role=Membership.Role.MEMBER)
    member = Client()
    member.force_login(member_user)
    assert member.get(reverse("admin:prompts_prompt_add")).status_code == 200
    assert member.get(reverse("admin:runs_modelendpoint_add")).status_code == 403  # endpoints need admin
    member.post(reverse("admin:runs_run_changelist"), {"action": "cancel_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
