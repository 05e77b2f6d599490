from __future__ import annotations

import enum
import pickle
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from accounts import keys
from accounts.models import APIKey, BudgetPeriod, Membership, Project, User
from llmops.core import resilience
from llmops.core.errors import Conflict, PermissionDenied, ValidationFailed
from llmops.core.local_cache import LocalTTLCache


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


def project_check(
    *,
    project: Project | None = None,
    name: str | Omitted = OMITTED,
    slug: str | Omitted = OMITTED,
    budget_usd: Decimal | Omitted | None = OMITTED,
    budget_period: str | Omitted = OMITTED,
) -> None:
    """What a new project (``project`` None) or a change of ``project`` must satisfy."""
    if name is not OMITTED and not name.strip():
        raise ValidationFailed("a project needs a name", param="name")
    if slug is not OMITTED:
        if not slug or slug != slugify(slug):
            raise ValidationFailed("a slug is lowercase letters, digits, hyphens and underscores", param="slug")
        taken = Project.objects.filter(slug=slug)
        if project is not None:
            taken = taken.exclude(pk=project.pk)
        if taken.exists():
            raise ValidationFailed(f"a project with slug '{slug}' already exists", code="duplicate", param="slug")
    if budget_usd is not OMITTED and budget_usd is not None and budget_usd < 0:
        raise ValidationFailed("budget_usd must not be negative", param="budget_usd")
    if budget_period is not OMITTED and budget_period not in BudgetPeriod.values:
        raise ValidationFailed(f"unknown budget period '{budget_period}'", param="budget_period")


def project_update(
    *,
    project: Project,
    name: str | Omitted = OMITTED,
    slug: str | Omitted = OMITTED,
    description: str | Omitted = OMITTED,
    budget_usd: Decimal | Omitted | None = OMITTED,
    budget_period: str | Omitted = OMITTED,
) -> Project:
    """Change a project's name, slug, description or budget; omitted fields stay as they are."""
    project_check(project=project, name=name, slug=slug, budget_usd=budget_usd, budget_period=budget_period)
    changes = {
        field: value
        for field, value in {
            "name": name.strip() if isinstance(name, str) else name,
            "slug": slug,
            "description": description,
            "budget_usd": budget_usd,
            "budget_period": budget_period,
        }.items()
        if value is not OMITTED
    }
    for field, value in changes.items():
        setattr(project, field, value)
    if changes:
        project.save(update_fields=[*changes, "updated_at"])
    return project


def project_delete(*, project: Project) -> None:
    """Delete a project with everything it owns, unless it has billing records (cost logs, billed runs):
    spend is never erased, so such a project is refused with a Conflict."""
    try:
        with transaction.atomic():
            project.delete()
    except ProtectedError:
        raise Conflict(
            f"project '{project.name}' has runs or cost logs; billing records are kept, so it cannot be deleted",
            code="project_has_billing_records",
        ) from None


def membership_set(*, project: Project, user: User, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(f"unknown role '{role}'", param="role")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def membership_remove(*, membership: Membership) -> None:
    membership.delete()


def api_key_check(*, name: str, scopes: Iterable[str] | None, expires_at: datetime | None = None) -> list[str]:
    """What a key request must satisfy before anything is issued; the cleaned scopes."""
    if not name.strip():
        raise ValidationFailed("a key needs a name", param="name")
    chosen = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future", param="expires_at")
    return chosen


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
    chosen_scopes = api_key_check(name=name, scopes=scopes)
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
    # v2: the value is (deadline, key), so a process-local copy expires when the shared one does.
    return f"apikey:v2:{key_hash}"


def revoked_marker_key(api_key_id: UUID | str) -> str:
    """Set on revocation for API_KEY_CACHE_SECONDS: the rate limiter reads it in the round trip it makes
    anyway (accounts.throttling), so a key still in another process's local cache stops at once."""
    return f"apikey:revoked:{api_key_id}"


# Pickled keys, per process: each request unpickles its own copy, as it would from Redis, so no
# request sees another's changes to the instance. See _lookup for the bound on staleness.
_local_keys: LocalTTLCache[str, bytes] = LocalTTLCache(max_entries=10_000)


def api_key_forget_locally(*, key_hash: str) -> None:
    """Drop this process's copy of a key (its revocation was seen elsewhere)."""
    _local_keys.delete(key_hash)


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    # Conditional update: revoking twice keeps the first revocation time.
    APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    # The cache is shared by every process, so the revocation takes effect on the next request; copies
    # in other processes' local caches are stopped by the marker the rate limiter reads, and expire
    # within API_KEY_CACHE_SECONDS anyway. Cleared now and again after commit: a reader may re-cache
    # the old row before the commit. With Redis unreachable the writes are done once it answers again
    # (llmops.core.resilience.cache_write).
    key_hash, key, marker = api_key.key_hash, _cache_key(api_key.key_hash), revoked_marker_key(api_key.pk)
    marker_seconds = settings.API_KEY_CACHE_SECONDS + 1

    def clear() -> None:
        _local_keys.delete(key_hash)
        resilience.cache_write("apikey_cache", lambda: cache.delete(key))
        if settings.API_KEY_CACHE_SECONDS > 0:
            resilience.cache_write("apikey_cache", lambda: cache.set(marker, 1, marker_seconds))

    clear()
    transaction.on_commit(clear)
    return api_key


def _lookup(key_hash: str) -> APIKey | None:
    """The key row for a hash: from this process's copy, else the shared cache, else PostgreSQL.

    A copy is kept until API_KEY_CACHE_SECONDS after it was read from PostgreSQL, wherever it was
    copied to since: that is the bound for a key changed behind the platform's back (e.g. by SQL)."""
    ttl = settings.API_KEY_CACHE_SECONDS
    if ttl <= 0:
        return APIKey.objects.select_related("project").filter(key_hash=key_hash).first()
    local = _local_keys.get(key_hash)
    if local is not None:
        return pickle.loads(local)  # noqa: S301 - bytes this process pickled itself
    # Without Redis the key is read from PostgreSQL, the source of truth, revocations included.
    key = _cache_key(key_hash)
    cached = resilience.cache_call("apikey_cache", lambda: cache.get(key), fallback=None)
    if cached is not None:
        deadline, api_key = cached
    else:
        api_key = APIKey.objects.select_related("project").filter(key_hash=key_hash).first()
        if api_key is None:
            return None
        deadline = time.time() + ttl
        resilience.cache_call("apikey_cache", lambda: cache.set(key, (deadline, api_key), ttl), fallback=None)
    _remember_locally(api_key, wall_deadline=deadline)
    return api_key


def _remember_locally(api_key: APIKey, *, wall_deadline: float) -> None:
    remaining = min(wall_deadline - time.time(), settings.API_KEY_CACHE_SECONDS)
    _local_keys.set(api_key.key_hash, pickle.dumps(api_key), deadline=time.monotonic() + remaining)


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
    # The local copy learns it too, or every request until it expires would write again.
    _local_keys.replace(api_key.key_hash, pickle.dumps(api_key))
