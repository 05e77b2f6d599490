from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import keys, services
from accounts.models import APIKey, Membership
from accounts.tests.factories import ProjectFactory, UserFactory
from llmops.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_key_is_stored_only_as_hash():
    issued = services.api_key_create(project=ProjectFactory(), name="ci")
    row = APIKey.objects.get(pk=issued.api_key.pk)
    assert row.key_hash == keys.hash_key(issued.secret)
    assert issued.secret not in (row.key_hash, row.prefix, row.name)
    assert issued.secret.startswith(row.prefix)
    assert row.scopes == ["read", "run", "write"]


def test_unknown_scope_is_rejected_by_name():
    with pytest.raises(ValidationFailed, match="unknown scope 'root'"):
        services.api_key_create(project=ProjectFactory(), name="x", scopes=["read", "root"])
    assert APIKey.objects.count() == 0


def test_authenticate_accepts_active_key_and_records_use():
    issued = services.api_key_create(project=ProjectFactory(), name="ci")
    api_key = services.api_key_authenticate(raw=issued.secret)
    assert api_key.pk == issued.api_key.pk
    assert APIKey.objects.get(pk=api_key.pk).last_used_at is not None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda secret, key: "garbage", "malformed"),
        (lambda secret, key: keys.generate_key(), "invalid"),
        (lambda secret, key: services.api_key_revoke(api_key=key) and secret, "revoked"),
        (lambda secret, key: APIKey.objects.filter(pk=key.pk).update(expires_at=timezone.now()) and secret, "expired"),
    ],
)
def test_authenticate_rejects_with_reason(mutate, reason):
    issued = services.api_key_create(project=ProjectFactory(), name="ci")
    raw = mutate(issued.secret, issued.api_key)
    with pytest.raises(services.AuthenticationError, match=reason):
        services.api_key_authenticate(raw=raw)


def test_revoke_keeps_first_revocation_time():
    issued = services.api_key_create(project=ProjectFactory(), name="ci")
    first = services.api_key_revoke(api_key=issued.api_key).revoked_at
    second = services.api_key_revoke(api_key=issued.api_key).revoked_at
    assert first is not None and first == second


def test_expiry_in_the_past_is_rejected():
    with pytest.raises(ValidationFailed, match="future"):
        services.api_key_create(project=ProjectFactory(), name="x", expires_at=timezone.now() - timedelta(seconds=1))


def test_project_create_with_owner_and_duplicate_slug():
    owner = UserFactory()
    project = services.project_create(name="Acme Support", owner=owner)
    assert project.slug == "acme-support"
    assert Membership.objects.get(project=project, user=owner).role == Membership.Role.OWNER
    with pytest.raises(ValidationFailed, match="already exists"):
        services.project_create(name="Acme Support")
