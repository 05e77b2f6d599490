from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import keys
from accounts.models import APIKey, BudgetPeriod, Membership, Project, User
from llmops import resilience
from llmops.errors import PermissionDenied, ValidationFailed


class AuthenticationError(Exception):
    """The presented key is missing, malformed, unknown, revoked or expired."""


class _Omitted(enum.Enum):
    OMITTED = "omitted"


# A field the caller did not give, as opposed to an explicit None ("no limit").
OMITTED = _Omitted.OMITTED
Omitted = Literal[_Omitted.OMITTED]

# The most days a budget period can hold: a daily budget spends at most this many times itself in a month.
_MAX_DAYS_PER_MONTH = 31


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
    expires_at: datetime | Omitted | None = OMITTED,
    created_by: User | None = None,
    requests_per_minute: int | Omitted | None = OMITTED,
    runs_per_minute: int | Omitted | None = OMITTED,
    budget_usd: Decimal | Omitted | None = OMITTED,
    budget_period: str | Omitted = OMITTED,
    creator_key: APIKey | None = None,
) -> IssuedKey:
    """A new key; the secret is in the result only.

    ``creator_key`` is the key that asks for the new one (the API passes the calling key; people in
    the console and commands pass none). A key never mints a key wider than itself: see
    ``_bounded_by_creator``. Without a creator key an omitted limit means none (the platform defaults)."""
    if not name.strip():
        raise ValidationFailed("a key needs a name", param="name")
    chosen_scopes = _clean_scopes(scopes)
    if creator_key is not None:
        bounded = _bounded_by_creator(
            creator_key=creator_key,
            project=project,
            scopes=None if scopes is None else chosen_scopes,
            expires_at=expires_at,
            requests_per_minute=requests_per_minute,
            runs_per_minute=runs_per_minute,
            budget_usd=budget_usd,
            budget_period=budget_period,
        )
        chosen_scopes = bounded.scopes
        expires_at, budget_usd, budget_period = bounded.expires_at, bounded.budget_usd, bounded.budget_period
        requests_per_minute, runs_per_minute = bounded.requests_per_minute, bounded.runs_per_minute
    if expires_at is not OMITTED and expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future", param="expires_at")
    secret = keys.generate_key()
    api_key = APIKey.objects.create(
        project=project,
        name=name.strip(),
        prefix=keys.display_prefix(secret),
        key_hash=keys.hash_key(secret),
        scopes=chosen_scopes,
        expires_at=None if expires_at is OMITTED else expires_at,
        created_by=created_by,
        requests_per_minute=None if requests_per_minute is OMITTED else requests_per_minute,
        runs_per_minute=None if runs_per_minute is OMITTED else runs_per_minute,
        budget_usd=None if budget_usd is OMITTED else budget_usd,
        budget_period=BudgetPeriod.MONTHLY if budget_period is OMITTED else budget_period,
    )
    return IssuedKey(api_key=api_key, secret=secret)


@dataclass(frozen=True)
class _KeyLimits:
    scopes: list[str]
    expires_at: datetime | None
    requests_per_minute: int | None
    runs_per_minute: int | None
    budget_usd: Decimal | None
    budget_period: str


def _wider(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {message}", code="wider_than_creator", param=field)


def _bounded_by_creator(
    *,
    creator_key: APIKey,
    project: Project,
    scopes: list[str] | None,
    expires_at: datetime | Omitted | None,
    requests_per_minute: int | Omitted | None,
    runs_per_minute: int | Omitted | None,
    budget_usd: Decimal | Omitted | None,
    budget_period: str | Omitted,
) -> _KeyLimits:
    """The new key's limits, none wider than the creating key's, else a 400 naming the field.

    A key with the admin scope could otherwise mint a key without its rate limits, budget or
    expiry and so escape every limit put on it. An omitted field inherits the creator's value;
    omitted scopes are the default scopes the creator holds (never admin by default).
    ``None`` for a rate limit means the platform default, which counts as the creator's limit
    when it has none of its own."""
    # Read again: the caller's copy may come from the authentication cache.
    creator = APIKey.objects.filter(pk=creator_key.pk).first()
    if creator is None or creator.project_id != project.pk:
        raise PermissionDenied("a key can only create keys in its own project")

    if scopes is None:
        scopes = [scope for scope in APIKey.DEFAULT_SCOPES if creator.has_scope(scope)] or list(creator.scopes)
    lacking = [scope for scope in scopes if not creator.has_scope(scope)]
    if lacking:
        raise _wider("scopes", f"cannot include '{lacking[0]}': the key creating this one does not have it")

    if expires_at is OMITTED:
        expires_at = creator.expires_at
    elif creator.expires_at is not None and (expires_at is None or expires_at > creator.expires_at):
        raise _wider(
            "expires_at", f"must be no later than {creator.expires_at.isoformat()}, when the creating key expires"
        )

    limits: dict[str, int | None] = {}
    for field, value, default in (
        ("requests_per_minute", requests_per_minute, settings.API_DEFAULT_REQUESTS_PER_MINUTE),
        ("runs_per_minute", runs_per_minute, settings.API_DEFAULT_RUNS_PER_MINUTE),
    ):
        ceiling = getattr(creator, field)
        if value is OMITTED:
            value = ceiling
        elif ceiling:
            if not value:
                raise _wider(field, f"is required: the creating key is limited to {ceiling} per minute")
            if value > ceiling:
                raise _wider(field, f"must be at most {ceiling}, the creating key's limit")
        elif value and value > default:
            raise _wider(field, f"must be at most {default}, the platform default that limits the creating key")
        limits[field] = value

    if budget_usd is OMITTED:
        budget_usd = creator.budget_usd
    if budget_period is OMITTED:
        budget_period = creator.budget_period
    if creator.budget_usd is not None:
        cap = Decimal(creator.budget_usd)
        if budget_usd is None:
            raise _wider("budget_usd", f"is required: the creating key has a {creator.budget_period} budget of {cap}")
        if budget_usd > cap:
            raise _wider("budget_usd", f"must be at most {cap}, the creating key's {creator.budget_period} budget")
        # A daily budget spends up to 31 times itself in a month: it must fit the creator's month.
        if (
            budget_period == BudgetPeriod.DAILY
            and creator.budget_period == BudgetPeriod.MONTHLY
            and budget_usd * _MAX_DAYS_PER_MONTH > cap
        ):
            raise _wider(
                "budget_period",
                f"'daily' with {budget_usd} a day allows more than the creating key's monthly budget of {cap}",
            )

    return _KeyLimits(
        scopes=scopes,
        expires_at=expires_at,
        requests_per_minute=limits["requests_per_minute"],
        runs_per_minute=limits["runs_per_minute"],
        budget_usd=budget_usd,
        budget_period=budget_period,
    )


def _cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    # Conditional update: revoking twice keeps the first revocation time.
    APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    # The cache is shared by every process, so the revocation takes effect on the next request.
    # Cleared now and again after commit: a reader may re-cache the old row before the commit. With
    # Redis unreachable the deletes are done once it answers again (llmops.resilience.cache_write).
    key = _cache_key(api_key.key_hash)
    resilience.cache_write("apikey_cache", lambda: cache.delete(key))
    transaction.on_commit(lambda: resilience.cache_write("apikey_cache", lambda: cache.delete(key)))
    return api_key


def _lookup(key_hash: str) -> APIKey | None:
    if settings.API_KEY_CACHE_SECONDS <= 0:
        return APIKey.objects.select_related("project").filter(key_hash=key_hash).first()
    # Without Redis the key is read from PostgreSQL, the source of truth, revocations included.
    key = _cache_key(key_hash)
    cached = resilience.cache_call("apikey_cache", lambda: cache.get(key), fallback=None)
    if cached is not None:
        return cached
    api_key = APIKey.objects.select_related("project").filter(key_hash=key_hash).first()
    if api_key is not None:
        resilience.cache_call(
            "apikey_cache", lambda: cache.set(key, api_key, settings.API_KEY_CACHE_SECONDS), fallback=None
        )
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
