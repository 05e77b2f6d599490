from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import keys
from accounts.models import APIKey, BudgetPeriod, Membership, Project, User
from llmops.errors import ValidationFailed


class AuthenticationError(Exception):
    """The presented key is missing, malformed, unknown, revoked or expired."""


@dataclass(frozen=True)
class IssuedKey:
    api_key: APIKey
    secret: str  # shown once, never stored


def project_create(*, name: str, slug: str | None = None, description: str = "", owner: User | None = None) -> Project:
    slug = slug or slugify(name)
    if not slug:
        raise ValidationFailed("project name must contain letters or digits", param="name")
    if Project.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"a project with slug '{slug}' already exists", code="duplicate", param="slug")
    with transaction.atomic():
        project = Project.objects.create(name=name, slug=slug, description=description)
        if owner is not None:
            Membership.objects.create(user=owner, project=project, role=Membership.Role.OWNER)
    return project


def membership_set(*, project: Project, user: User, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(f"unknown role '{role}'", param="role")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def _clean_scopes(scopes: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(scopes if scopes is not None else APIKey.DEFAULT_SCOPES))
    unknown = [scope for scope in chosen if scope not in APIKey.Scope.values]
    if unknown:
        raise ValidationFailed(
            f"unknown scope '{unknown[0]}' (known: {', '.join(APIKey.Scope.values)})", param="scopes"
        )
    if not chosen:
        raise ValidationFailed("a key needs at least one scope", param="scopes")
    return chosen


def api_key_create(
    *,
    project: Project,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    created_by: User | None = None,
    requests_per_minute: int | None = None,
    runs_per_minute: int | None = None,
    budget_usd: Decimal | None = None,
    budget_period: str = BudgetPeriod.MONTHLY,
) -> IssuedKey:
    if not name.strip():
        raise ValidationFailed("a key needs a name", param="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future", param="expires_at")
    secret = keys.generate_key()
    api_key = APIKey.objects.create(
        project=project,
        name=name.strip(),
        prefix=keys.display_prefix(secret),
        key_hash=keys.hash_key(secret),
        scopes=_clean_scopes(scopes),
        expires_at=expires_at,
        created_by=created_by,
        requests_per_minute=requests_per_minute,
        runs_per_minute=runs_per_minute,
        budget_usd=budget_usd,
        budget_period=budget_period,
    )
    return IssuedKey(api_key=api_key, secret=secret)


def _cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    # Conditional update: revoking twice keeps the first revocation time.
    APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    # The cache is shared by every process, so the revocation takes effect on the next request.
    # Cleared now and again after commit: a reader may re-cache the old row before the commit.
    cache.delete(_cache_key(api_key.key_hash))
    transaction.on_commit(lambda: cache.delete(_cache_key(api_key.key_hash)))
    return api_key


def _lookup(key_hash: str) -> APIKey | None:
    if settings.API_KEY_CACHE_SECONDS <= 0:
        return APIKey.objects.select_related("project").filter(key_hash=key_hash).first()
    cached = cache.get(_cache_key(key_hash))
    if cached is not None:
        return cached
    api_key = APIKey.objects.select_related("project").filter(key_hash=key_hash).first()
    if api_key is not None:
        cache.set(_cache_key(key_hash), api_key, settings.API_KEY_CACHE_SECONDS)
    return api_key


def api_key_authenticate(*, raw: str) -> APIKey:
    """The active key for a presented secret, or AuthenticationError with a reason a caller can act on."""
    if not keys.is_well_formed(raw):
        raise AuthenticationError("malformed API key")
    api_key = _lookup(keys.hash_key(raw))
    if api_key is None:
        raise AuthenticationError("invalid API key")
    now = timezone.now()
    if api_key.revoked_at is not None:
        raise AuthenticationError("API key has been revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise AuthenticationError("API key has expired")
    _touch_last_used(api_key=api_key, now=now)
    return api_key


def _touch_last_used(*, api_key: APIKey, now: datetime) -> None:
    # At most one write per key per resolution window: a busy key must not write on every request.
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is not None and now - api_key.last_used_at < resolution:
        return
    APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
