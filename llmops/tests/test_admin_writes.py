"""Every write the console offers goes through the services: each admin add, change and delete of every
model (inlines included) either calls the service the API uses or is not offered at all."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.db.models import ProtectedError
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import APIKey, Membership, Project
from accounts.tests.factories import APIKeyFactory, MembershipFactory, ProjectFactory, UserFactory
from evaluation.models import EvaluationResult, GoldenExample
from evaluation.tests.factories import EvaluationResultFactory, GoldenExampleFactory
from experiments.models import Experiment, ResponseCacheEntry
from experiments.tests.factories import ExperimentFactory, ResponseCacheEntryFactory
from llmops.admin_platform import PROJECT_APPS
from prompts import services as prompt_services
from runs.models import CostLog, ModelPrice, Run
from runs.tests.factories import CostLogFactory, ModelPriceFactory, RunFactory

pytestmark = pytest.mark.django_db

MODEL_ADMIN = admin.ModelAdmin
# Platform accounts: Django's own user forms save them (password hashing); they are not project data.
NOT_PROJECT_DATA = {"accounts.User"}


def _overrides(admin_class: type, name: str, base: type) -> bool:
    return getattr(admin_class, name) is not getattr(base, name)


def _superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    return request


def _sample(model):
    from llmops.tests.test_admin import _factory_for

    return _factory_for(model)()


def test_every_admin_write_is_a_service_call_or_is_not_offered():
    """The inventory: an admin that offers add or change saves through save_form/save_model of its own
    (which call services), one that offers delete deletes through delete_model and delete_queryset of
    its own, and inlines that may write are saved by their parent's save_formset."""
    request = _superuser_request()
    raw = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        if model._meta.app_label not in PROJECT_APPS or label in NOT_PROJECT_DATA:
            continue
        obj = _sample(model)
        admin_class = type(model_admin)
        saves = _overrides(admin_class, "save_model", MODEL_ADMIN) or _overrides(admin_class, "save_form", MODEL_ADMIN)
        writes = model_admin.has_add_permission(request) or model_admin.has_change_permission(request, obj)
        if writes and not saves:
            raw.append(f"{label}: add/change")
        if model_admin.has_delete_permission(request, obj) and not (
            _overrides(admin_class, "delete_model", MODEL_ADMIN)
            and _overrides(admin_class, "delete_queryset", MODEL_ADMIN)
        ):
            raw.append(f"{label}: delete")
        parent = obj if model_admin.get_inline_instances(request, obj) else None
        for inline in model_admin.get_inline_instances(request, parent):
            inline_writes = (
                inline.has_add_permission(request, parent)
                or inline.has_change_permission(request, parent)
                or inline.has_delete_permission(request, parent)
            )
            if inline_writes and not _overrides(admin_class, "save_formset", MODEL_ADMIN):
                raw.append(f"{label}: inline {inline.model._meta.label}")
            assert isinstance(inline, InlineModelAdmin)
    assert raw == []


# --- Accounts ----------------------------------------------------------------------------------------


def test_project_add_goes_through_the_service_and_makes_the_creator_owner(admin_client, admin_user):
    colleague = UserFactory()
    response = admin_client.post(
        reverse("admin:accounts_project_add"),
        {
            "name": "Support bot",
            "slug": "support-bot",
            "description": "line one\r\nline two",
            "budget_usd": "25",
            "budget_period": "daily",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": str(colleague.pk),
            "memberships-0-role": "viewer",
        },
    )

    assert response.status_code == 302
    project = Project.objects.get(slug="support-bot")
    assert Membership.objects.get(project=project, user=colleague).role == "viewer"  # the inline, same page
    assert project.description == "line one\nline two"
    assert project.budget_usd == Decimal("25") and project.budget_period == "daily"
    assert Membership.objects.get(project=project, user=admin_user).role == "owner"  # project_create(owner=...)


def test_project_slug_taken_is_an_error_on_the_field(admin_client):
    ProjectFactory(slug="taken")
    response = admin_client.post(
        reverse("admin:accounts_project_add"),
        {
            "name": "x",
            "slug": "taken",
            "budget_period": "monthly",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors


def test_membership_add_and_inline_go_through_membership_set(admin_client):
    project, person = ProjectFactory(), UserFactory()
    response = admin_client.post(
        reverse("admin:accounts_membership_add"), {"user": person.pk, "project": project.pk, "role": "viewer"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=person).role == "viewer"

    other = UserFactory()
    response = admin_client.post(
        reverse("admin:accounts_project_change", args=[project.pk]),
        {
            "name": project.name,
            "slug": project.slug,
            "budget_period": "monthly",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": other.pk,
            "memberships-0-role": "admin",
        },
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=other).role == "admin"


def test_key_add_issues_the_key_once_through_the_service(admin_client):
    project = ProjectFactory()
    response = admin_client.post(
        reverse("admin:accounts_apikey_add"),
        {"project": project.pk, "name": "ci", "scopes": ["read", "run"], "budget_period": "monthly"},
        follow=True,
    )

    key = APIKey.objects.get(project=project, name="ci")
    assert key.scopes == ["read", "run"] and len(key.key_hash) == 64 and key.prefix
    page = response.content.decode()
    assert "will not be shown again" in page and 'type="checkbox"' not in page.split("messagelist")[0]


def test_key_form_unknown_scope_or_past_expiry_is_a_field_error_not_a_500(admin_client):
    project = ProjectFactory()
    url = reverse("admin:accounts_apikey_add")
    unknown = admin_client.post(
        url, {"project": project.pk, "name": "k", "scopes": ["root"], "budget_period": "monthly"}
    )
    assert unknown.status_code == 200 and "scopes" in unknown.context["adminform"].form.errors
    legacy = admin_client.post(
        url, {"project": project.pk, "name": "k", "scopes": '["root"]', "budget_period": "monthly"}
    )
    assert legacy.status_code == 200 and "scopes" in legacy.context["adminform"].form.errors
    past = admin_client.post(
        url,
        {
            "project": project.pk,
            "name": "k",
            "scopes": ["read"],
            "expires_at_0": "2001-01-01",
            "expires_at_1": "00:00:00",
            "budget_period": "monthly",
        },
    )
    assert past.status_code == 200 and "expires_at" in past.context["adminform"].form.errors
    assert not APIKey.objects.filter(project=project).exists()


def test_key_form_scopes_are_checkboxes(admin_client):
    page = admin_client.get(reverse("admin:accounts_apikey_add")).content.decode()
    for scope in APIKey.Scope.values:
        assert f'type="checkbox" name="scopes" value="{scope}"' in page


def test_keys_are_revoked_never_deleted(admin_client):
    key = APIKeyFactory()
    assert admin_client.get(reverse("admin:accounts_apikey_delete", args=[key.pk])).status_code == 403
    admin_client.post(reverse("admin:accounts_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


# --- Billing records ---------------------------------------------------------------------------------


def test_a_run_with_a_cost_log_cannot_be_deleted_anywhere(admin_client):
    log = CostLogFactory()
    run = log.run

    with pytest.raises(ProtectedError):
        run.delete()
    assert admin_client.get(reverse("admin:runs_run_delete", args=[run.pk])).status_code == 403
    bulk = admin_client.post(
        reverse("admin:runs_run_changelist"), {"action": "delete_selected", "_selected_action": [run.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert Run.objects.filter(pk=run.pk).exists() and CostLog.objects.filter(pk=log.pk).exists()


def test_an_unbilled_finished_run_is_deleted_through_the_service(admin_client):
    run = RunFactory(status=Run.Status.FAILED)
    queued = RunFactory(status=Run.Status.QUEUED)
    assert admin_client.get(reverse("admin:runs_run_delete", args=[queued.pk])).status_code == 403

    response = admin_client.post(reverse("admin:runs_run_delete", args=[run.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Run.objects.filter(pk=run.pk).exists()


def test_cost_logs_and_runs_are_read_only_pages(admin_client):
    log = CostLogFactory()
    assert admin_client.get(reverse("admin:runs_costlog_delete", args=[log.pk])).status_code == 403
    assert admin_client.post(reverse("admin:runs_costlog_change", args=[log.pk]), {}).status_code == 403
    before = Run.objects.get(pk=log.run_id).updated_at
    assert admin_client.post(reverse("admin:runs_run_change", args=[log.run_id]), {}).status_code == 403
    assert Run.objects.get(pk=log.run_id).updated_at == before


def test_deleting_a_project_with_billing_records_is_refused_with_a_message(admin_client):
    log = CostLogFactory()
    project = log.project

    page = admin_client.post(reverse("admin:accounts_project_delete", args=[project.pk]), {"post": "yes"}, follow=True)

    assert page.status_code == 200
    assert "cost log" in page.content.decode().lower()
    assert Project.objects.filter(pk=project.pk).exists() and CostLog.objects.filter(pk=log.pk).exists()

    # A judge's cost log (no run) protects the project too, and the service says why.
    from accounts.services import project_delete
    from llmops.core.errors import Conflict

    judged = ProjectFactory()
    CostLog.objects.create(project=judged, purpose="judge", model_id="m", cost=Decimal("0.1"))
    with pytest.raises(Conflict, match="billing records"):
        project_delete(project=judged)


def test_deleting_a_project_without_billing_records_works(admin_client):
    project = ProjectFactory()
    MembershipFactory(project=project)
    response = admin_client.post(reverse("admin:accounts_project_delete", args=[project.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()


def test_deleting_a_prompt_with_billed_runs_is_a_409(api, project):
    prompt = prompt_services.prompt_create(project=project, name="billed", template="x {input}")
    run = RunFactory(prompt_version=prompt.versions.get(), project=project, status=Run.Status.COMPLETED)
    CostLogFactory(run=run)

    response = api.delete(f"/api/v1/prompts/{prompt.pk}")

    assert response.status_code == 409
    assert CostLog.objects.filter(run=run).exists()


# --- Prompts, goldens, experiments, prices -----------------------------------------------------------


def test_golden_add_normalises_line_endings_and_takes_comma_tags(admin_client, project):
    prompt = prompt_services.prompt_create(project=project, name="g", template="Say {input}")
    response = admin_client.post(
        reverse("admin:evaluation_goldenexample_add"),
        {
            "prompt": prompt.pk,
            "input_data": '{"input": "a\\r\\nb"}',
            "expected_output": "first\r\nsecond",
            "tags": "smoke, edge",
            "split": "",
            "metadata": "{}",
        },
    )

    assert response.status_code == 302, response.content.decode()[:1500]
    golden = GoldenExample.objects.get(prompt=prompt)
    assert golden.expected_output == "first\nsecond"
    assert golden.input_data == {"input": "a\nb"}
    assert golden.tags == ["smoke", "edge"]


def test_golden_bulk_delete_goes_through_the_service(admin_client, monkeypatch):
    from evaluation import services as golden_services

    goldens = [GoldenExampleFactory(), GoldenExampleFactory()]
    called = []
    real = golden_services.golden_delete
    monkeypatch.setattr(
        golden_services, "golden_delete", lambda *, golden: (called.append(golden.pk), real(golden=golden))
    )

    admin_client.post(
        reverse("admin:evaluation_goldenexample_changelist"),
        {"action": "delete_selected", "_selected_action": [g.pk for g in goldens], "post": "yes"},
    )

    assert sorted(called) == sorted(g.pk for g in goldens)
    assert not GoldenExample.objects.filter(pk__in=called).exists()


def test_engine_rows_are_read_only(admin_client):
    result = EvaluationResultFactory()
    assert admin_client.get(reverse("admin:evaluation_evaluationresult_add")).status_code == 403
    assert admin_client.get(reverse("admin:evaluation_evaluationresult_delete", args=[result.pk])).status_code == 403
    assert EvaluationResult.objects.filter(pk=result.pk).exists()

    experiment = ExperimentFactory(status="running")
    assert admin_client.get(reverse("admin:experiments_experiment_delete", args=[experiment.pk])).status_code == 403
    stale = admin_client.post(reverse("admin:experiments_experiment_change", args=[experiment.pk]), {})
    assert stale.status_code == 403
    assert Experiment.objects.get(pk=experiment.pk).status == "running"


def test_cache_entries_are_forgotten_through_the_service(admin_client, monkeypatch):
    from experiments import caching

    entry = ResponseCacheEntryFactory()
    called = []
    real = caching.cache_forget
    monkeypatch.setattr(caching, "cache_forget", lambda *, entry: (called.append(entry.pk), real(entry=entry)))

    admin_client.post(reverse("admin:experiments_responsecacheentry_delete", args=[entry.pk]), {"post": "yes"})

    assert called == [entry.pk] and not ResponseCacheEntry.objects.filter(pk=entry.pk).exists()


def test_model_price_add_and_list_edit_go_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:runs_modelprice_add"),
        {"model_id": "vendor/new", "input_price_per_million": "-1", "output_price_per_million": "2", "notes": ""},
    )
    assert response.status_code == 200 and "input_price_per_million" in response.context["adminform"].form.errors
    assert not ModelPrice.objects.filter(model_id="vendor/new").exists()

    response = admin_client.post(
        reverse("admin:runs_modelprice_add"),
        {"model_id": "vendor/new", "input_price_per_million": "1", "output_price_per_million": "2", "notes": "a\r\nb"},
    )
    assert response.status_code == 302
    price = ModelPrice.objects.get(model_id="vendor/new")
    assert price.notes == "a\nb"

    # The list's editable columns: a negative price is an error on the row, not a 500.
    listing = admin_client.post(
        reverse("admin:runs_modelprice_changelist") + "?q=vendor/new",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(price.pk),
            "form-0-input_price_per_million": "-5",
            "form-0-output_price_per_million": "2",
            "_save": "Save",
        },
    )
    assert listing.status_code == 200
    price.refresh_from_db()
    assert price.input_price_per_million == Decimal("1")


@pytest.mark.parametrize(
    "model_label",
    [
        "prompts.PromptLabel",
        "prompts.PromptLabelEvent",
        "runs.CostLog",
        "evaluation.EvaluationResult",
        "experiments.ExperimentResult",
    ],
)
def test_rows_written_by_the_engine_offer_no_add_change_or_delete(admin_client, model_label):
    from django.apps import apps

    model = apps.get_model(model_label)
    obj = _sample(model)
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"

    assert admin_client.get(reverse(f"{prefix}_add")).status_code == 403
    assert admin_client.post(reverse(f"{prefix}_change", args=[obj.pk]), {}).status_code == 403
    assert admin_client.get(reverse(f"{prefix}_delete", args=[obj.pk])).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


# --- Garbage in, form errors out ---------------------------------------------------------------------

GARBAGE = [
    "x" * 20000,
    "\x00",
    "{not json",
    '{"input": "\\u0000"}',
    '["\\u0000"]',
    "not-a-choice",
    "-1",
    "99999999999999999999999",
    "NaN",
    "\r\n",
]


def _forms():
    """(name, url, valid base POST) for every add and change form of the console."""
    project = ProjectFactory()
    person = UserFactory()
    membership = MembershipFactory(project=project)
    prompt = prompt_services.prompt_create(project=project, name="garbage", template="Say {input}")
    golden = GoldenExampleFactory(prompt=prompt, project=project, input_data={"input": "x"})
    price = ModelPriceFactory()
    from runs.tests.factories import ModelEndpointFactory

    endpoint = ModelEndpointFactory(project=project)
    version_fields = {
        "kind": "text",
        "template_format": "fstring",
        "template": "Say {input}!",
        "messages": "null",
        "model_settings": "{}",
        "variables_schema": "null",
        "commit_message": "c",
        "new_labels": "staging",
    }
    no_members = {"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
    goldens_inline = {"golden_examples-TOTAL_FORMS": "0", "golden_examples-INITIAL_FORMS": "0"}
    project_fields = {"name": "N", "slug": "n-slug", "description": "d", "budget_usd": "1", "budget_period": "monthly"}
    endpoint_fields = {
        "name": "e2",
        "provider": "huggingface",
        "model_id": "m",
        "base_url": "",
        "hf_provider": "",
        "api_key": "",
        "api_key_env": "",
        "default_parameters": "{}",
        "input_price_per_million": "1",
        "output_price_per_million": "1",
        "timeout_seconds": "30",
        "max_concurrency": "2",
        "enabled": "on",
    }
    golden_fields = {
        "input_data": '{"input": "y"}',
        "expected_output": "e",
        "tags": "a, b",
        "split": "",
        "metadata": "{}",
    }
    return [
        ("project add", reverse("admin:accounts_project_add"), {**project_fields, **no_members}),
        (
            "project change",
            reverse("admin:accounts_project_change", args=[project.pk]),
            {
                **project_fields,
                "slug": project.slug,
                "memberships-TOTAL_FORMS": "1",
                "memberships-INITIAL_FORMS": "1",
                "memberships-0-id": str(membership.pk),
                "memberships-0-project": str(project.pk),
                "memberships-0-user": str(membership.user_id),
                "memberships-0-role": "member",
            },
        ),
        (
            "membership add",
            reverse("admin:accounts_membership_add"),
            {"user": person.pk, "project": project.pk, "role": "member"},
        ),
        (
            "membership change",
            reverse("admin:accounts_membership_change", args=[membership.pk]),
            {"user": membership.user_id, "project": project.pk, "role": "admin"},
        ),
        (
            "key add",
            reverse("admin:accounts_apikey_add"),
            {
                "project": project.pk,
                "name": "k",
                "scopes": ["read"],
                "expires_at_0": "2099-01-01",
                "expires_at_1": "00:00:00",
                "requests_per_minute": "10",
                "runs_per_minute": "5",
                "budget_usd": "3",
                "budget_period": "monthly",
            },
        ),
        (
            "prompt add",
            reverse("admin:prompts_prompt_add"),
            {"project": project.pk, "name": "p2", "description": "d", "tags": "t", **version_fields},
        ),
        (
            "prompt change",
            reverse("admin:prompts_prompt_change", args=[prompt.pk]),
            {"description": "d2", "tags": "t", **version_fields, **goldens_inline},
        ),
        ("version add", reverse("admin:prompts_promptversion_add"), {"prompt": prompt.pk, **version_fields}),
        (
            "promote",
            reverse("admin:prompts_prompt_promote", args=[prompt.pk]),
            {"label": "production", "version": "1", "reason": "r"},
        ),
        (
            "rollback",
            reverse("admin:prompts_prompt_rollback", args=[prompt.pk]),
            {"label": "production", "reason": "r"},
        ),
        ("golden add", reverse("admin:evaluation_goldenexample_add"), {"prompt": prompt.pk, **golden_fields}),
        (
            "golden change",
            reverse("admin:evaluation_goldenexample_change", args=[golden.pk]),
            {"prompt": prompt.pk, **golden_fields},
        ),
        ("endpoint add", reverse("admin:runs_modelendpoint_add"), {"project": project.pk, **endpoint_fields}),
        (
            "endpoint change",
            reverse("admin:runs_modelendpoint_change", args=[endpoint.pk]),
            {**endpoint_fields, "name": endpoint.name},
        ),
        (
            "price add",
            reverse("admin:runs_modelprice_add"),
            {"model_id": "v/m", "input_price_per_million": "1", "output_price_per_million": "2", "notes": "n"},
        ),
        (
            "price change",
            reverse("admin:runs_modelprice_change", args=[price.pk]),
            {"model_id": price.model_id, "input_price_per_million": "1", "output_price_per_million": "2", "notes": "n"},
        ),
        (
            "experiment launch",
            reverse("admin:experiments_experiment_launch"),
            {
                "prompt": prompt.pk,
                "name": "x",
                "versions": "1",
                "scorers": "exact",
                "repeats": "1",
                "concurrency": "1",
                "model_endpoint": endpoint.name,
                "split": "",
            },
        ),
    ]


FORM_NAMES = [
    "project add",
    "project change",
    "membership add",
    "membership change",
    "key add",
    "prompt add",
    "prompt change",
    "version add",
    "promote",
    "rollback",
    "golden add",
    "golden change",
    "endpoint add",
    "endpoint change",
    "price add",
    "price change",
    "experiment launch",
]


@pytest.mark.parametrize("form_name", FORM_NAMES)
def test_garbage_in_every_field_of_every_admin_form_is_a_form_error_never_a_500(admin_client, form_name):
    name, url, base = next(entry for entry in _forms() if entry[0] == form_name)
    admin_client.raise_request_exception = True  # a 500 fails the test with its traceback
    fields = [key for key in base if not key.endswith(("TOTAL_FORMS", "INITIAL_FORMS", "-id"))]
    for field in fields:
        for value in GARBAGE:
            response = admin_client.post(url, {**base, field: value})
            assert response.status_code in (200, 302, 403), (name, field, value[:20], response.status_code)


def test_nul_inside_json_is_an_error_on_its_field(admin_client, project):
    prompt = prompt_services.prompt_create(project=project, name="nul", template="Say {input}")
    response = admin_client.post(
        reverse("admin:evaluation_goldenexample_add"),
        {"prompt": prompt.pk, "input_data": json.dumps({"input": "a\x00b"}), "expected_output": "", "metadata": "{}"},
    )
    assert response.status_code == 200
    assert "input_data" in response.context["adminform"].form.errors
