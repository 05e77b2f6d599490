from __future__ import annotations

import factory

from accounts import services
from accounts.models import APIKey, Membership, Project, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("password")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Membership.Role.MEMBER


def issue_key(*, project: Project, scopes: tuple[str, ...] = ("read", "run", "write"), name: str = "test") -> str:
    return services.api_key_create(project=project, name=name, scopes=scopes).secret


class APIKeyFactory(factory.django.DjangoModelFactory):
    """A key row whose secret is discarded; use ``issue_key`` when a test needs to authenticate."""

    class Meta:
        model = APIKey

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"key {n}")

    @classmethod
    def _create(cls, model_class, *args, project, name, **kwargs):
        return services.api_key_create(project=project, name=name, **kwargs).api_key
