"""The HTTP face of spend: GET /cost-logs (filtered rows) and GET /usage (totals per group), as JSON
and as CSV, scoped to the calling key's project."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import APIKey
from accounts.tests.factories import APIKeyFactory, issue_key
from prompts.tests.factories import PromptVersionFactory
from runs.models import CostLog, ModelEndpoint
from runs.tests.factories import CostLogFactory, ModelEndpointFactory, RunFactory

pytestmark = pytest.mark.django_db

LOGS = "/api/v1/cost-logs"
USAGE = "/api/v1/usage"


def client_with(project, scopes) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_key(project=project, scopes=scopes)}")
    return client


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _log(*, project, at: str, run=True, prompt_version=None, **fields) -> CostLog:
    if run:
        fields["run"] = RunFactory(prompt_version=prompt_version, model_id=fields.get("model_id", "fake/model"))
    else:
        fields.update(run=None, purpose=CostLog.Purpose.JUDGE)
    log = CostLogFactory(project=project, **fields)
    CostLog.objects.filter(pk=log.pk).update(created_at=_at(at))  # auto_now_add: set afterwards
    log.refresh_from_db()
    return log


@dataclass
class World:
    alpha: ModelEndpoint
    beta: ModelEndpoint
    key1: APIKey
    key2: APIKey
    logs: list[CostLog]  # l1..l4, oldest first


@pytest.fixture
def world(project, other_tenant) -> World:
    """Four calls over three UTC days (one unpriced, one a judge call with no run, key or prompt),
    and, in another project, a call that looks like them (same endpoint name, model, day)."""
    alpha = ModelEndpointFactory(project=project, name="alpha")
    beta = ModelEndpointFactory(project=project, name="beta")
    key1 = APIKeyFactory(project=project, name="ci")
    key2 = APIKeyFactory(project=project, name="batch")
    summarise = PromptVersionFactory(prompt__project=project, prompt__name="summarise")
    classify = PromptVersionFactory(prompt__project=project, prompt__name="classify")
    logs = [
        _log(
            project=project, at="2026-11-01T10:00:00Z", prompt_version=summarise, model_endpoint=alpha,
            api_key=key1, model_id="m/one", input_tokens=100, output_tokens=50, cost=Decimal("0.001"),
        ),
        _log(
            project=project, at="2026-11-01T23:00:00Z", prompt_version=classify, model_endpoint=beta,
            api_key=key2, model_id="m/two", input_tokens=200, output_tokens=100, cost=Decimal("0.002"),
        ),
        _log(
            project=project, at="2026-11-02T00:30:00Z", prompt_version=summarise, model_endpoint=alpha,
            api_key=key2, model_id="m/one", input_tokens=300, output_tokens=150, cost=None,
            input_price_per_million=None, output_price_per_million=None,
        ),
        _log(
            project=project, at="2026-11-03T12:00:00Z", run=False, model_endpoint=beta, api_key=None,
            model_id="m/three", input_tokens=400, output_tokens=200, cost=Decimal("0.004"),
        ),
    ]  # fmt: skip
    theirs = ModelEndpointFactory(project=other_tenant.project, name="alpha")
    _log(
        project=other_tenant.project,
        at="2026-11-01T11:00:00Z",
        prompt_version=PromptVersionFactory(prompt__project=other_tenant.project, prompt__name="summarise"),
        model_endpoint=theirs,
        api_key=APIKey.objects.get(project=other_tenant.project),
        model_id="m/one",
        input_tokens=9000,
        output_tokens=9000,
        cost=Decimal("9"),
    )
    return World(alpha, beta, key1, key2, logs)


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


# -- GET /cost-logs -------------------------------------------------------------------------------------


def test_cost_logs_lists_the_projects_calls_newest_first_with_names_and_decimal_costs(api, world):
    response = api.get(LOGS)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 4
    assert [row["id"] for row in body["results"]] == [str(log.pk) for log in reversed(world.logs)]
    first = world.logs[0]
    assert body["results"][-1] == {
        "id": str(first.pk),
        "created_at": "2026-11-01T10:00:00Z",
        "purpose": "run",
        "model_id": "m/one",
        "model_endpoint": str(world.alpha.pk),
        "model_endpoint_name": "alpha",
        "api_key": str(world.key1.pk),
        "api_key_name": "ci",
        "api_key_prefix": world.key1.prefix,
        "run": str(first.run_id),
        "prompt_id": str(first.run.prompt_version.prompt_id),
        "prompt_name": "summarise",
        "input_tokens": 100,
        "output_tokens": 50,
        "input_price_per_million": "0.500000",
        "output_price_per_million": "1.500000",
        "cost": "0.001000000",
        "cost_known": True,
    }
    unpriced, judge = body["results"][1], body["results"][0]
    assert unpriced["cost"] is None and unpriced["cost_known"] is False
    assert judge["purpose"] == "judge" and judge["run"] is None and judge["api_key"] is None
    assert judge["prompt_id"] is None and judge["prompt_name"] is None and judge["api_key_name"] is None


def test_cost_logs_are_paged_with_limit_and_offset(api, world):
    body = api.get(f"{LOGS}?limit=2&offset=1").json()
    assert body["count"] == 4
    assert [row["id"] for row in body["results"]] == [str(world.logs[2].pk), str(world.logs[1].pk)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("created_after=2026-11-02", [3, 4]),
        ("created_before=2026-11-02", [1, 2]),
        ("created_after=2026-11-01T23:00:00Z", [2, 3, 4]),  # inclusive
        ("created_before=2026-11-01T23:00:00Z", [1]),  # exclusive
        ("created_after=2026-11-02T01:00:00%2B01:00&created_before=2026-11-03", [3]),  # 00:00 UTC
        ("endpoint=alpha", [1, 3]),
        ("endpoint={beta}", [2, 4]),
        ("model=m/one", [1, 3]),
        ("model=m/three", [4]),
        ("key={key1}", [1]),
        ("key={key2_prefix}", [2, 3]),
        ("purpose=judge", [4]),
        ("purpose=run", [1, 2, 3]),
        ("endpoint=alpha&created_after=2026-11-02", [3]),
        ("model=m/two&purpose=judge", []),
        ("endpoint=nowhere", []),
        ("key=00000000-0000-0000-0000-000000000000", []),
    ],
)
def test_cost_logs_filters(api, world, query, expected):
    query = query.format(beta=world.beta.pk, key1=world.key1.pk, key2_prefix=world.key2.prefix)
    ids = _ids(api.get(f"{LOGS}?{query}"))
    assert sorted(ids) == sorted(str(world.logs[number - 1].pk) for number in expected)


def test_cost_logs_as_csv_has_a_header_and_every_matching_row(api, world):
    response = api.get(f"{LOGS}?format=csv&endpoint=alpha&limit=1")

    assert response["Content-Disposition"] == 'attachment; filename="cost-logs.csv"'
    header, *rows = _csv(response)
    assert header == [
        "id", "created_at", "purpose", "model_id", "model_endpoint", "model_endpoint_name", "api_key",
        "api_key_name", "api_key_prefix", "run", "prompt_id", "prompt_name", "input_tokens", "output_tokens",
        "input_price_per_million", "output_price_per_million", "cost",
    ]  # fmt: skip
    first, third = world.logs[0], world.logs[2]
    assert rows == [  # no paging: a download holds every row the filters match
        [
            str(third.pk), "2026-11-02T00:30:00Z", "run", "m/one", str(world.alpha.pk), "alpha",
            str(world.key2.pk), "batch", world.key2.prefix, str(third.run_id),
            str(third.run.prompt_version.prompt_id), "summarise", "300", "150", "", "", "",
        ],
        [
            str(first.pk), "2026-11-01T10:00:00Z", "run", "m/one", str(world.alpha.pk), "alpha",
            str(world.key1.pk), "ci", world.key1.prefix, str(first.run_id),
            str(first.run.prompt_version.prompt_id), "summarise", "100", "50", "0.500000", "1.500000",
            "0.001000000",
        ],
    ]  # fmt: skip


def test_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised(api, project, world):
    ModelEndpoint.objects.filter(pk=world.alpha.pk).update(name="=HYPERLINK(1)")

    header, *rows = _csv(api.get(f"{LOGS}?format=csv&model=m/one"))
    assert {row[header.index("model_endpoint_name")] for row in rows} == {"'=HYPERLINK(1)"}
    _, *groups = _csv(api.get(f"{USAGE}?group_by=endpoint&format=csv"))
    assert "'=HYPERLINK(1)" in [group[1] for group in groups]


# -- GET /usage -----------------------------------------------------------------------------------------

TOTAL = {"calls": 4, "input_tokens": 1000, "output_tokens": 500, "cost": "0.007000000", "unpriced_calls": 1}


def _group(key, label, calls, tokens_in, tokens_out, cost, unpriced=0) -> dict:
    return {
        "key": key,
        "label": label,
        "calls": calls,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cost": cost,
        "unpriced_calls": unpriced,
    }


def test_usage_by_day_is_the_default_with_utc_days_oldest_first(api, world):
    for query in ("", "?group_by=day"):
        response = api.get(USAGE + query)
        assert response.status_code == 200, response.content
        assert response.json() == {
            "group_by": "day",
            "currency": "USD",
            "results": [
                _group("2026-11-01", "2026-11-01", 2, 300, 150, "0.003000000"),
                _group("2026-11-02", "2026-11-02", 1, 300, 150, "0.000000000", unpriced=1),
                _group("2026-11-03", "2026-11-03", 1, 400, 200, "0.004000000"),
            ],
            "total": TOTAL,
        }


def test_usage_by_endpoint(api, world):
    body = api.get(f"{USAGE}?group_by=endpoint").json()
    assert body["group_by"] == "endpoint" and body["total"] == TOTAL
    assert body["results"] == [  # most expensive first
        _group(str(world.beta.pk), "beta", 2, 600, 300, "0.006000000"),
        _group(str(world.alpha.pk), "alpha", 2, 400, 200, "0.001000000", unpriced=1),
    ]


def test_usage_by_model(api, world):
    body = api.get(f"{USAGE}?group_by=model").json()
    assert body["total"] == TOTAL
    assert body["results"] == [
        _group("m/three", "m/three", 1, 400, 200, "0.004000000"),
        _group("m/two", "m/two", 1, 200, 100, "0.002000000"),
        _group("m/one", "m/one", 2, 400, 200, "0.001000000", unpriced=1),
    ]


def test_usage_by_key_shows_name_and_prefix_and_groups_calls_without_a_key(api, world):
    body = api.get(f"{USAGE}?group_by=key").json()
    assert body["total"] == TOTAL
    assert body["results"] == [
        _group(None, "(none)", 1, 400, 200, "0.004000000"),
        _group(str(world.key2.pk), f"batch ({world.key2.prefix})", 2, 500, 250, "0.002000000", unpriced=1),
        _group(str(world.key1.pk), f"ci ({world.key1.prefix})", 1, 100, 50, "0.001000000"),
    ]


def test_usage_by_prompt_groups_judge_calls_under_none(api, world):
    summarise = world.logs[0].run.prompt_version.prompt
    classify = world.logs[1].run.prompt_version.prompt
    body = api.get(f"{USAGE}?group_by=prompt").json()
    assert body["total"] == TOTAL
    assert body["results"] == [
        _group(None, "(none)", 1, 400, 200, "0.004000000"),
        _group(str(classify.pk), "classify", 1, 200, 100, "0.002000000"),
        _group(str(summarise.pk), "summarise", 2, 400, 200, "0.001000000", unpriced=1),
    ]


def test_usage_applies_the_cost_log_filters(api, world):
    body = api.get(f"{USAGE}?group_by=endpoint&purpose=run&created_before=2026-11-02").json()
    assert body["results"] == [
        _group(str(world.beta.pk), "beta", 1, 200, 100, "0.002000000"),
        _group(str(world.alpha.pk), "alpha", 1, 100, 50, "0.001000000"),
    ]
    assert body["total"] == {
        "calls": 2,
        "input_tokens": 300,
        "output_tokens": 150,
        "cost": "0.003000000",
        "unpriced_calls": 0,
    }
    key_body = api.get(f"{USAGE}?group_by=model&key={world.key2.prefix}&model=m/one").json()
    assert key_body["results"] == [_group("m/one", "m/one", 1, 300, 150, "0.000000000", unpriced=1)]


def test_usage_of_a_project_without_calls_is_empty_with_zero_totals(other_tenant, db):
    body = other_tenant.client.get(f"{USAGE}?group_by=prompt").json()
    assert body == {
        "group_by": "prompt",
        "currency": "USD",
        "results": [],
        "total": {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": "0.000000000", "unpriced_calls": 0},
    }


def test_usage_as_csv_has_a_header_and_one_row_per_group(api, world):
    response = api.get(f"{USAGE}?group_by=key&format=csv")

    assert response["Content-Disposition"] == 'attachment; filename="usage-key.csv"'
    assert _csv(response) == [
        ["key", "label", "calls", "input_tokens", "output_tokens", "cost", "unpriced_calls"],
        ["", "(none)", "1", "400", "200", "0.004000000", "0"],
        [str(world.key2.pk), f"batch ({world.key2.prefix})", "2", "500", "250", "0.002000000", "1"],
        [str(world.key1.pk), f"ci ({world.key1.prefix})", "1", "100", "50", "0.001000000", "0"],
    ]
    assert _csv(api.get(f"{USAGE}?format=csv"))[1] == [
        "2026-11-01",
        "2026-11-01",
        "2",
        "300",
        "150",
        "0.003000000",
        "0",
    ]


# -- tenancy, errors, scope ------------------------------------------------------------------------------


def test_another_projects_calls_never_show(other_tenant, world):
    theirs = other_tenant.client
    mine = {str(log.pk) for log in world.logs}

    their_ids = _ids(theirs.get(LOGS))
    assert len(their_ids) == 1 and not mine & set(their_ids)
    # Filtering by my objects' ids finds nothing, rather than my rows.
    assert _ids(theirs.get(f"{LOGS}?endpoint={world.alpha.pk}")) == []
    assert _ids(theirs.get(f"{LOGS}?key={world.key1.pk}")) == []
    assert _ids(theirs.get(f"{LOGS}?key={world.key2.prefix}")) == []
    body = theirs.get(f"{USAGE}?group_by=endpoint").json()
    assert [group["label"] for group in body["results"]] == ["alpha"]
    assert body["total"]["calls"] == 1 and body["total"]["cost"] == "9.000000000"
    text = b"".join(theirs.get(f"{LOGS}?format=csv").streaming_content).decode()
    assert not any(log_id in text for log_id in mine) and world.key1.prefix not in text


def test_my_totals_leave_out_another_projects_look_alike_call(api, world):
    assert _ids(api.get(f"{LOGS}?endpoint=alpha&model=m/one&created_before=2026-11-02")) == [str(world.logs[0].pk)]
    for group_by in ("day", "endpoint", "model", "key", "prompt"):
        assert api.get(f"{USAGE}?group_by={group_by}").json()["total"] == TOTAL, group_by


@pytest.mark.parametrize("path", [LOGS, USAGE])
@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-13-01", "created_before"),
        ("created_after=", "created_after"),
        ("purpose=training", "purpose"),
        ("purpose=", "purpose"),
        ("endpoint=", "endpoint"),
        ("model=", "model"),
        ("key=%20", "key"),
        ("format=xml", "format"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(api, path, query, param):
    error = _error(api.get(f"{path}?{query}"))
    assert error["type"] == "validation_error" and error["param"] == param, error
    assert param in error["message"]


@pytest.mark.parametrize("query", ["group_by=week", "group_by=", "group_by=DAY", "group_by=week&format=csv"])
def test_an_unknown_group_by_is_a_400_naming_it(api, query):
    error = _error(api.get(f"{USAGE}?{query}"))
    assert error["param"] == "group_by"
    assert "day, endpoint, model, key, prompt" in error["message"]


def test_a_bad_limit_is_a_400_naming_it(api):
    assert _error(api.get(f"{LOGS}?limit=0"))["param"] == "limit"


@pytest.mark.parametrize("path", [LOGS, f"{LOGS}?format=csv", USAGE, f"{USAGE}?group_by=key&format=csv"])
def test_both_need_the_read_scope(project, path):
    error = _error(client_with(project, ["run", "write"]).get(path), status=403)
    assert error["type"] == "permission_error" and "'read'" in error["message"]
    assert client_with(project, ["read"]).get(path).status_code == 200
    assert APIClient().get(path).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "moment", ["0982-06-18T15:59:44+19:27", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]
)
@pytest.mark.parametrize("path", ["/api/v1/usage", "/api/v1/cost-logs", "/api/v1/runs"])
def test_extreme_offsets_and_years_are_a_result_or_a_400_never_a_500(api, path, moment):
    response = api.get(path, {"created_after": moment})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["param"] == "created_after"
