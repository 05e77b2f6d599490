"""Membership roles decide what a staff user sees and does on the prompt and run pages of the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory, UserFactory
from accounts.tests.helpers import staff_client
from prompts.tests.factories import PromptVersionFactory
from runs.models import Run
from runs.tests.factories import RunFactory

pytestmark = pytest.mark.django_db


def test_prompt_and_run_pages_follow_the_role():
    viewer, mine, theirs = staff_client(Membership.Role.VIEWER)
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
