"""A staff user of project A finds nothing of project B anywhere in the console: not in lists, filter
sidebars, facet counts, searches, popups, autocomplete answers, add forms, object pages or their
history, nor on the platform's own pages (Celery results and schedules, groups, login attempts),
even with every Django permission granted. Superusers still see everything."""

from __future__ import annotations

import json
import uuid

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from accounts.models import Membership
from accounts.tests.factories import APIKeyFactory, MembershipFactory, ProjectFactory, UserFactory
from evaluation.tests.factories import EvaluationResultFactory, GoldenExampleFactory
from experiments.tests.factories import ExperimentFactory, ExperimentResultFactory, ResponseCacheEntryFactory
from llmops.admin_platform import PROJECT_APPS
from prompts.tests.factories import PromptFactory, PromptLabelEventFactory, PromptLabelFactory, PromptVersionFactory
from runs.tests.factories import CostLogFactory, ModelEndpointFactory, RunFactory

pytestmark = pytest.mark.django_db

SECRET = "secret-b-"  # every name of project B starts with it; nothing of B may reach A's staff


def _populate(project, prefix: str, uid: str) -> dict:
    """One object of every project model, named ``<prefix>-<what>-<uid>``."""
    name = lambda what: f"{prefix}-{what}-{uid}"  # noqa: E731
    prompt = PromptFactory(project=project, name=name("prompt"), description=name("description"))
    version = PromptVersionFactory(prompt=prompt, version=1, commit_message=name("commit"))
    endpoint = ModelEndpointFactory(project=project, name=name("endpoint"), model_id=name("model"))
    run = RunFactory(prompt_version=version, model_endpoint=endpoint, model_id=name("model"), output=name("output"))
    golden = GoldenExampleFactory(prompt=prompt, expected_output=name("expected"))
    experiment = ExperimentFactory(prompt=prompt, name=name("experiment"), model_endpoint=endpoint)
    objects = {
        "project": project,
        "prompt": prompt,
        "version": version,
        "label": PromptLabelFactory(version=version, prompt=prompt),
        "label_event": PromptLabelEventFactory(to_version=version, prompt=prompt, reason=name("reason")),
        "endpoint": endpoint,
        "run": run,
        "cost_log": CostLogFactory(run=run, model_endpoint=endpoint, model_id=name("model")),
        "golden": golden,
        "evaluation": EvaluationResultFactory(run=run, golden_example=golden, scorer=name("scorer")),
        "experiment": experiment,
        "cell": ExperimentResultFactory(
            experiment=experiment, prompt_version=version, golden_example=golden, run=run, output=name("cell")
        ),
        "cache_entry": ResponseCacheEntryFactory(project=project, output=name("cached")),
        "api_key": APIKeyFactory(project=project, name=name("key")),
    }
    LogEntry.objects.create(
        user=UserFactory(username=name("editor")),
        content_type=ContentType.objects.get_for_model(prompt),
        object_id=str(prompt.pk),
        object_repr=prompt.name,
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": [name("field")]}}]),
    )
    return objects


@pytest.fixture
def world():
    uid = uuid.uuid4().hex[:12]
    mine = ProjectFactory(name=f"alpha-project-{uid}", slug=f"alpha-{uid}")
    theirs = ProjectFactory(name=f"{SECRET}project-{uid}", slug=f"{SECRET}project-{uid}")
    a = _populate(mine, "alpha", uid)
    b = _populate(theirs, SECRET.rstrip("-"), uid)

    # Staff of A: owner there (every add form opens) and every Django permission there is.
    alice = UserFactory(username=f"alice-{uid}", is_staff=True)
    alice.user_permissions.set(Permission.objects.all())
    MembershipFactory(user=alice, project=mine, role=Membership.Role.OWNER)
    bob = UserFactory(username=f"{SECRET}user-{uid}", is_staff=True)
    b["membership"] = MembershipFactory(user=bob, project=theirs, role=Membership.Role.OWNER)
    b["member"] = bob
    group = Group.objects.create(name=f"{SECRET}group-{uid}")
    bob.groups.add(group)

    # The platform's own rows about B's work.
    b["task_result"] = TaskResult.objects.create(
        task_id=f"{SECRET}task-{uid}",
        task_name="runs.execute",
        task_args=json.dumps([str(b["run"].pk), b["prompt"].name]),
        status="SUCCESS",
    )
    b["periodic_task"] = PeriodicTask.objects.create(
        name=f"{SECRET}periodic-{uid}",
        task="experiments.run",
        interval=IntervalSchedule.objects.create(every=3600, period=IntervalSchedule.SECONDS),
        args=json.dumps([str(b["experiment"].pk)]),
    )
    b["group"] = group
    b["access_attempt"] = AccessAttempt.objects.create(
        username=bob.username, ip_address="10.9.8.7", user_agent="test", failures_since_start=2
    )
    client = Client()
    client.force_login(alice)
    return {"uid": uid, "a": a, "b": b, "client": client}


def _forbidden_strings(b: dict) -> list[str]:
    strings = [SECRET]
    for obj in b.values():
        if isinstance(obj.pk, uuid.UUID):
            strings.append(str(obj.pk))
    strings.append(b["api_key"].prefix)
    return strings


def _assert_nothing_of_b(response, b: dict, what: str) -> None:
    body = response.content.decode(errors="replace")
    leaked = [text for text in _forbidden_strings(b) if text in body]
    assert not leaked, f"{what} ({response.status_code}) shows project B's {leaked}"


def _url(model, view: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def test_the_world_is_built_as_the_test_assumes(world):
    """Every registered model of a project app has an object in B, so the history checks cover all."""
    b_models = {type(obj) for obj in world["b"].values()}
    for model in admin.site._registry:
        if model._meta.app_label in PROJECT_APPS and model._meta.label != "runs.ModelPrice":
            assert model in b_models, model._meta.label


def test_changelists_filters_facets_searches_and_popups_show_nothing_of_another_project(world):
    client, a, b = world["client"], world["a"], world["b"]
    opened = 0
    for model in admin.site._registry:
        url = _url(model, "changelist")
        for query in ({}, {"_facets": "1"}, {"_popup": "1"}, {"_popup": "1", "_to_field": "id"}, {"q": "secret"}):
            response = client.get(url, query)
            assert response.status_code in (200, 403), (url, query, response.status_code)
            _assert_nothing_of_b(response, b, f"{url}?{query}")
        if model._meta.app_label in PROJECT_APPS:
            assert client.get(url).status_code == 200, url  # alice may read every project page
            opened += 1
        else:
            assert client.get(url).status_code == 403, f"{url} is the platform's: superusers only"
    assert opened >= 16

    # Not vacuous: A's own objects are on the very pages, with A in the filter sidebar.
    prompts = client.get(reverse("admin:prompts_prompt_changelist")).content.decode()
    assert a["prompt"].name in prompts and a["project"].name in prompts
    runs = client.get(reverse("admin:runs_run_changelist"), {"_facets": "1"}).content.decode()
    assert a["endpoint"].name in runs and a["prompt"].name in runs


def test_filter_sidebars_of_a_viewer_list_only_their_projects(world):
    """A viewer of A with no Django permission at all: every project list opens, and no filter in
    its sidebar (nor a facet count) names B's project, prompts, endpoints or experiments."""
    viewer = UserFactory(username=f"viewer-{world['uid']}", is_staff=True)
    MembershipFactory(user=viewer, project=world["a"]["project"], role=Membership.Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    leaking = []
    for model in admin.site._registry:
        if model._meta.app_label not in PROJECT_APPS or model._meta.label in ("accounts.User", "runs.ModelPrice"):
            continue
        for query in ({}, {"_facets": "1"}):
            response = client.get(_url(model, "changelist"), query)
            assert response.status_code == 200, model._meta.label
            body = response.content.decode()
            if any(text in body for text in _forbidden_strings(world["b"])):
                leaking.append(f"{model._meta.label}?{query}")
    assert leaking == []


def test_add_forms_offer_only_the_users_projects(world):
    client, a, b = world["client"], world["a"], world["b"]
    for model in admin.site._registry:
        url = _url(model, "add")
        if url is None:
            continue
        for query in ({}, {"_popup": "1"}):
            response = client.get(url, query)
            assert response.status_code in (200, 403), (url, response.status_code)
            _assert_nothing_of_b(response, b, url)
    golden_add = client.get(reverse("admin:evaluation_goldenexample_add")).content.decode()
    assert a["prompt"].name in golden_add  # the prompt dropdown is there, with A's prompt only


def test_autocomplete_answers_only_with_the_users_projects(world):
    client, b = world["client"], world["b"]
    asked = 0
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete) or field.related_model not in admin.site._registry:
                continue
            for term in ("", SECRET, "alpha"):
                response = client.get(
                    reverse("admin:autocomplete"),
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field.name,
                        "term": term,
                    },
                )
                assert response.status_code in (200, 403, 404), (model, field.name, response.status_code)
                _assert_nothing_of_b(response, b, f"autocomplete {model._meta.label}.{field.name}?term={term}")
                asked += 1
    assert asked > 30
    answer = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "membership", "field_name": "project", "term": ""},
    ).json()
    assert [row["text"] for row in answer["results"]] == [world["a"]["project"].name]


def test_object_pages_and_history_of_another_projects_objects_are_not_found(world):
    client, b = world["client"], world["b"]
    for key, obj in b.items():
        model = type(obj)
        for view in ("history", "change", "delete"):
            url = _url(model, view, obj.pk)
            if url is None:
                continue
            response = client.get(url)
            _assert_nothing_of_b(response, b, f"{key} {view}")
            if model._meta.app_label not in PROJECT_APPS:
                assert response.status_code == 403, (key, view, response.status_code)
                continue
            # Exactly what a missing object gets (a redirect to the index, or 403 where no one may
            # delete): nothing confirms that the object exists.
            missing = client.get(_url(model, view, uuid.uuid4() if isinstance(obj.pk, uuid.UUID) else 10**9))
            assert response.status_code == missing.status_code, (key, view, response.status_code)
            assert response.status_code in (302, 403), (key, view, response.status_code)
            assert response.get("Location") == missing.get("Location")
    # The pages that hang off an object.
    for url in (
        reverse("admin:auth_user_password_change", args=[b["member"].pk]),
        reverse("admin:prompts_prompt_diff", args=[b["prompt"].pk]),
        reverse("admin:prompts_prompt_promote", args=[b["prompt"].pk]),
        reverse("admin:prompts_prompt_import_goldens", args=[b["prompt"].pk]),
        reverse("admin:experiments_experiment_export", args=[b["experiment"].pk, "csv"]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        _assert_nothing_of_b(response, b, url)


def test_history_of_the_users_own_objects_still_opens(world):
    client, a = world["client"], world["a"]
    page = client.get(reverse("admin:prompts_prompt_history", args=[a["prompt"].pk]))
    assert page.status_code == 200
    assert f"alpha-field-{world['uid']}" in page.content.decode()


def test_superusers_still_see_every_project(world, admin_client):
    b = world["b"]
    sidebar = admin_client.get(reverse("admin:prompts_prompt_changelist")).content.decode()
    assert world["a"]["project"].name in sidebar and b["project"].name in sidebar
    task_results = admin_client.get(reverse("admin:django_celery_results_taskresult_changelist"))
    assert b["task_result"].task_id in task_results.content.decode()
    assert admin_client.get(reverse("admin:prompts_prompt_history", args=[b["prompt"].pk])).status_code == 200
    add = admin_client.get(reverse("admin:evaluation_goldenexample_add")).content.decode()
    assert b["prompt"].name in add
