"""Test helpers other apps' tests may use (lower layers' helpers only: see test_dependency_direction)."""

from __future__ import annotations

from dataclasses import dataclass

from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Project
from accounts.tests.factories import MembershipFactory, ProjectFactory, UserFactory, issue_key


@dataclass
class Tenant:
    """A project with an API key and a client sending it."""

    project: Project
    key: str
    client: APIClient


def make_tenant(*, scopes: tuple[str, ...] = ("read", "run", "write", "admin")) -> Tenant:
    project = ProjectFactory()
    key = issue_key(project=project, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return Tenant(project=project, key=key, client=client)


def staff_client(role: str) -> tuple[Client, Project, Project]:
    """A logged-in staff user with ``role`` in one project (mine) and none in another (theirs)."""
    user = UserFactory(is_staff=True)
    mine, theirs = ProjectFactory(), ProjectFactory()
    MembershipFactory(user=user, project=mine, role=role)
    client = Client()
    client.force_login(user)
    return client, mine, theirs
