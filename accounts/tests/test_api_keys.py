from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import keys, services
from accounts.models import APIKey
from accounts.tests.factories import ProjectFactory, issue_key
from llmops.core.errors import PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def test_create_shows_secret_once_then_only_the_prefix(api):
    created = api.post("/api/v1/api-keys", {"name": "ci", "scopes": ["read", "run"]}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert keys.is_well_formed(body["key"]) and body["key"].startswith(body["prefix"])
    assert body["scopes"] == ["read", "run"]

    listed = api.get("/api/v1/api-keys").json()
    assert body["id"] in [item["id"] for item in listed["results"]]
    assert all("key" not in item and "key_hash" not in item for item in listed["results"])
    assert "key" not in api.get(f"/api/v1/api-keys/{body['id']}").json()

    fresh = APIClient()
    fresh.credentials(HTTP_X_API_KEY=body["key"])
    assert fresh.get("/api/v1/project").status_code == 200


def test_read_only_fields_cannot_be_assigned_and_unknown_ones_are_refused(api, tenant):
    foreign = api.post("/api/v1/api-keys", {"name": "sneaky", "project": "x"}, format="json")
    assert foreign.status_code == 400 and foreign.json()["error"]["param"] == "project"
    assert foreign.json()["error"]["code"] == "unknown_field"

    response = api.post(
        "/api/v1/api-keys",
        {"name": "sneaky", "prefix": "llmops_AAAAAAA", "revoked_at": "2020-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 201
    row = APIKey.objects.get(pk=response.json()["id"])
    assert row.prefix != "llmops_AAAAAAA" and row.revoked_at is None and row.project == tenant.project


def test_revoked_key_stops_working_on_the_next_request(api, tenant):
    secret = api.post("/api/v1/api-keys", {"name": "temp"}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret['key']}")
    assert client.get("/api/v1/project").status_code == 200  # now cached
    assert api.post(f"/api/v1/api-keys/{secret['id']}/revoke").json()["revoked_at"] is not None
    assert client.get("/api/v1/project").status_code == 401


def test_managing_keys_needs_the_admin_scope(tenant):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=issue_key(project=tenant.project, scopes=("read", "write", "run")))
    assert client.get("/api/v1/api-keys").status_code == 403
    assert client.post("/api/v1/api-keys", {"name": "x"}, format="json").status_code == 403


def test_another_projects_key_is_invisible(api, other_tenant):
    foreign = APIKey.objects.filter(project=other_tenant.project).first()
    assert api.get(f"/api/v1/api-keys/{foreign.pk}").status_code == 404
    assert api.post(f"/api/v1/api-keys/{foreign.pk}/revoke").status_code == 404
    assert api.delete(f"/api/v1/api-keys/{foreign.pk}").status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_unknown_scope_is_a_400_naming_it(api):
    response = api.post("/api/v1/api-keys", {"name": "x", "scopes": ["read", "root"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("scopes")


def test_a_key_revoked_behind_the_cache_stops_within_the_documented_bound(api, settings):
    import time

    from django.utils import timezone

    settings.API_KEY_CACHE_SECONDS = 1
    secret = api.post("/api/v1/api-keys", {"name": "sql-revoked"}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret["key"])
    assert client.get("/api/v1/project").status_code == 200  # cached now
    APIKey.objects.filter(pk=secret["id"]).update(revoked_at=timezone.now())  # not through the service
    time.sleep(1.2)
    assert client.get("/api/v1/project").status_code == 401


# --- A key mints only keys no wider than itself --------------------------------------------------

# Far enough ahead that a test run never reaches them; microseconds dropped so JSON round-trips them.
IN_10_DAYS = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
IN_11_DAYS = IN_10_DAYS + timedelta(days=1)
IN_9_DAYS = IN_10_DAYS - timedelta(days=1)


@pytest.fixture
def defaults(settings):
    settings.API_DEFAULT_REQUESTS_PER_MINUTE = 600
    settings.API_DEFAULT_RUNS_PER_MINUTE = 60


def _creator(project, *, scopes=("admin",), **limits) -> tuple[APIKey, APIClient]:
    """A key of ``project`` made by a person (no creator key), and a client calling with it."""
    issued = services.api_key_create(project=project, name="creator", scopes=list(scopes), **limits)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=issued.secret)
    return issued.api_key, client


@pytest.mark.parametrize(
    ("creator_limits", "body", "param"),
    [
        ({"requests_per_minute": 100}, {"requests_per_minute": 101}, "requests_per_minute"),
        ({"requests_per_minute": 100}, {"requests_per_minute": None}, "requests_per_minute"),
        ({"runs_per_minute": 10}, {"runs_per_minute": 11}, "runs_per_minute"),
        ({"runs_per_minute": 10}, {"runs_per_minute": None}, "runs_per_minute"),
        # Without a limit of its own the creator is held to the platform default.
        ({}, {"requests_per_minute": 601}, "requests_per_minute"),
        ({}, {"runs_per_minute": 61}, "runs_per_minute"),
        ({"budget_usd": Decimal("5")}, {"budget_usd": "5.000001"}, "budget_usd"),
        ({"budget_usd": Decimal("5")}, {"budget_usd": None}, "budget_usd"),
        # 0.17 a day is up to 5.27 in a 31-day month: more than a monthly 5.
        ({"budget_usd": Decimal("5")}, {"budget_usd": "0.17", "budget_period": "daily"}, "budget_period"),
        # The period alone, the amount inherited: 5 a day against 5 a month.
        ({"budget_usd": Decimal("5")}, {"budget_period": "daily"}, "budget_period"),
        ({"budget_usd": Decimal("5"), "budget_period": "daily"}, {"budget_usd": "5.01"}, "budget_usd"),
        ({"expires_at": IN_10_DAYS}, {"expires_at": IN_11_DAYS.isoformat()}, "expires_at"),
        ({"expires_at": IN_10_DAYS}, {"expires_at": None}, "expires_at"),
    ],
)
def test_a_key_cannot_mint_a_wider_key(tenant, defaults, creator_limits, body, param):
    _, client = _creator(tenant.project, **creator_limits)
    before = APIKey.objects.count()

    response = client.post("/api/v1/api-keys", {"name": "child", **body}, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("validation_error", "wider_than_creator", param)
    assert APIKey.objects.count() == before


LIMITED = {
    "requests_per_minute": 100,
    "runs_per_minute": 10,
    "budget_usd": Decimal("5.000000"),
    "budget_period": "monthly",
    "expires_at": IN_10_DAYS,
}


@pytest.mark.parametrize(
    "body",
    [
        {  # equal on every field
            "requests_per_minute": 100,
            "runs_per_minute": 10,
            "budget_usd": "5",
            "budget_period": "monthly",
            "expires_at": IN_10_DAYS.isoformat(),
        },
        {  # narrower on every field; a daily budget that fits the creator's month (31 x 0.16 = 4.96)
            "scopes": ["read"],
            "requests_per_minute": 1,
            "runs_per_minute": 1,
            "budget_usd": "0.16",
            "budget_period": "daily",
            "expires_at": IN_9_DAYS.isoformat(),
        },
    ],
)
def test_a_key_can_mint_an_equal_or_narrower_key(tenant, defaults, body):
    _, client = _creator(tenant.project, **LIMITED)

    response = client.post("/api/v1/api-keys", {"name": "child", **body}, format="json")

    assert response.status_code == 201, response.content
    child = APIKey.objects.get(pk=response.json()["id"])
    assert (child.requests_per_minute, child.runs_per_minute) == (body["requests_per_minute"], body["runs_per_minute"])
    assert (child.budget_usd, child.budget_period) == (Decimal(body["budget_usd"]), body["budget_period"])
    assert child.expires_at.isoformat() == body["expires_at"]


def test_omitted_limits_are_inherited_from_the_creating_key(tenant, defaults):
    _, client = _creator(tenant.project, scopes=("read", "admin"), **{**LIMITED, "budget_period": "daily"})

    response = client.post("/api/v1/api-keys", {"name": "child"}, format="json")

    assert response.status_code == 201, response.content
    child = APIKey.objects.get(pk=response.json()["id"])
    assert (child.requests_per_minute, child.runs_per_minute) == (100, 10)
    assert (child.budget_usd, child.budget_period, child.expires_at) == (Decimal("5"), "daily", IN_10_DAYS)
    # The default scopes, never admin unless asked for.
    assert child.scopes == ["read", "run", "write"]
    child_client = APIClient()
    child_client.credentials(HTTP_X_API_KEY=response.json()["key"])
    assert child_client.get("/api/v1/project").status_code == 200


def test_a_creator_without_limits_lets_its_keys_choose_any_within_the_platform_defaults(tenant, defaults):
    _, client = _creator(tenant.project)

    response = client.post(
        "/api/v1/api-keys",
        {"name": "child", "requests_per_minute": 600, "budget_usd": "1000", "expires_at": None},
        format="json",
    )

    assert response.status_code == 201, response.content
    child = APIKey.objects.get(pk=response.json()["id"])
    assert (child.requests_per_minute, child.runs_per_minute, child.budget_usd, child.expires_at) == (
        600,
        None,
        Decimal("1000"),
        None,
    )


def test_a_key_created_by_a_key_is_bound_by_it_in_turn(tenant, defaults):
    _, client = _creator(tenant.project, requests_per_minute=100)
    child = client.post(
        "/api/v1/api-keys", {"name": "child", "scopes": ["admin"], "requests_per_minute": 50}, format="json"
    )
    assert child.status_code == 201, child.content
    child_client = APIClient()
    child_client.credentials(HTTP_X_API_KEY=child.json()["key"])

    response = child_client.post("/api/v1/api-keys", {"name": "grandchild", "requests_per_minute": 100}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "requests_per_minute"


def test_the_service_refuses_scopes_the_creating_key_lacks(tenant):
    creator, _ = _creator(tenant.project, scopes=("read", "write"))

    with pytest.raises(ValidationFailed) as raised:
        services.api_key_create(project=tenant.project, name="child", scopes=["read", "run"], creator_key=creator)
    assert (raised.value.param, raised.value.code) == ("scopes", "wider_than_creator")
    assert "'run'" in raised.value.message
    # Omitted scopes are the default scopes the creator holds.
    child = services.api_key_create(project=tenant.project, name="child", creator_key=creator).api_key
    assert child.scopes == ["read", "write"]


def test_the_service_refuses_a_creating_key_of_another_project(tenant):
    creator, _ = _creator(tenant.project)
    with pytest.raises(PermissionDenied):
        services.api_key_create(project=ProjectFactory(), name="child", creator_key=creator)


def test_people_and_commands_are_not_bound_by_any_key(tenant, defaults):
    # No creator key: omitted limits mean the platform defaults, explicit ones are taken as given.
    by_person = services.api_key_create(project=tenant.project, name="person", requests_per_minute=10_000).api_key
    assert (by_person.requests_per_minute, by_person.budget_usd, by_person.expires_at) == (10_000, None, None)
    call_command(
        "create_api_key",
        "--project",
        tenant.project.slug,
        "--name",
        "cli",
        "--scopes",
        "admin",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    by_command = APIKey.objects.get(project=tenant.project, name="cli")
    assert (by_command.scopes, by_command.requests_per_minute, by_command.budget_usd) == (["admin"], None, None)


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_key_cannot_be_widened_after_creation(tenant, method):
    _, client = _creator(tenant.project, **LIMITED)
    child = client.post("/api/v1/api-keys", {"name": "child"}, format="json").json()

    response = getattr(client, method)(
        f"/api/v1/api-keys/{child['id']}",
        {"name": "child", "scopes": ["admin"], "requests_per_minute": None, "budget_usd": None, "expires_at": None},
        format="json",
    )

    # Keys are immutable: there is no update route to widen one through.
    assert response.status_code == 405
    row = APIKey.objects.get(pk=child["id"])
    assert (row.scopes, row.requests_per_minute, row.budget_usd, row.expires_at) == (
        ["read", "run", "write"],
        100,
        Decimal("5"),
        IN_10_DAYS,
    )
