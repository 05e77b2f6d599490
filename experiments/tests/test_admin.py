"""Experiments in the console: the report page, downloads, launch, cancel and resume, and project roles."""

from __future__ import annotations

import html
import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory, ProjectFactory, UserFactory
from experiments import services
from experiments.models import Experiment, ExperimentResult
from experiments.tests.helpers import add_goldens, make_busy_prompt, make_prompt

pytestmark = pytest.mark.django_db


def change_url(experiment) -> str:
    return reverse("admin:experiments_experiment_change", args=[experiment.pk])


@pytest.fixture
def experiment(project, endpoint):
    """A finished experiment: v2 passes both goldens, v1 one of them."""
    prompt = make_prompt(project, endpoint, ["A {input}", "B {input}"], name="support-triage")
    add_goldens(prompt, [("one", "x"), ("two", "y")])
    experiment, _ = services.experiment_create(project=project, prompt=prompt, name="v1 vs v2 <nightly>")
    for cell in experiment.results.select_related("prompt_version"):
        passed = cell.prompt_version.version == 2 or cell.position == 0
        cell.status, cell.output, cell.passed = "completed", "<b>answer</b>", passed
        cell.scores = {"exact": 1.0 if passed else 0.0}
        cell.latency_ms = 120
        cell.save()
    Experiment.objects.filter(pk=experiment.pk).update(status="completed")
    return experiment


def staff(role: str, project) -> Client:
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, project=project, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_the_experiment_page_shows_the_report(admin_client, experiment):
    page = admin_client.get(change_url(experiment))

    assert page.status_code == 200
    content = page.content.decode()
    assert "Progress: 100.0% of 4 cells" in content
    assert (
        'id="experiment-versions"' in content and "<strong>v1</strong>" in content and "<strong>v2</strong>" in content
    )
    assert "no detectable difference at n=2" in content  # two goldens prove nothing
    srcdoc = content.split('srcdoc="', 1)[1].split('"', 1)[0]
    embedded = html.unescape(srcdoc)
    assert embedded.startswith("<!DOCTYPE html>") and 'id="score-chart"' in embedded and "<script" not in embedded
    assert "&lt;b&gt;answer&lt;/b&gt;" in embedded  # model output stays text inside the report
    assert "<b>answer</b>" not in srcdoc
    for file_format in ("json", "csv", "html"):
        url = reverse("admin:experiments_experiment_export", args=[experiment.pk, file_format])
        assert url in content
        download = admin_client.get(url)
        assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment;")
    assert 'name="cancel"' not in content and 'name="resume"' in content  # finished: resume only


def test_launch_form_starts_an_experiment_through_the_service(admin_client, project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}", "B {input}"], name="launch-me")
    add_goldens(prompt, [("one", "x")], split="test")
    add_goldens(prompt, [("two", "y")])
    assert admin_client.get(reverse("admin:experiments_experiment_add")).status_code == 200

    response = admin_client.post(
        reverse("admin:experiments_experiment_launch"),
        {
            "prompt": prompt.pk,
            "name": "from the console",
            "versions": "2",
            "scorers": "exact\ncontains:threshold=0.5",
            "repeats": 3,
            "concurrency": 2,
            "split": "test",
            "cache": "on",
        },
    )

    experiment = Experiment.objects.get(name="from the console")
    assert response.status_code == 302 and response["Location"] == change_url(experiment)
    assert experiment.total_cells == 3 and experiment.results.count() == 3
    assert experiment.config["cache"] and experiment.config["concurrency"] == 2
    assert [s["name"] for s in experiment.config["scorers"]] == ["exact", "contains"]


def test_launch_form_shows_the_services_errors(admin_client, project, endpoint):
    prompt = make_prompt(project, endpoint, ["A {input}"])
    add_goldens(prompt, [("one", "x")])

    response = admin_client.post(
        reverse("admin:experiments_experiment_launch"),
        {"prompt": prompt.pk, "name": "bad", "scorers": "nonsense", "repeats": 1, "concurrency": 4},
    )

    assert response.status_code == 200
    assert "unknown scorer &#x27;nonsense&#x27;" in response.content.decode()
    assert not Experiment.objects.exists()


def test_a_member_cancels_and_resumes_from_the_page_and_with_actions(experiment, project):
    member = staff(Membership.Role.MEMBER, project)
    ExperimentResult.objects.filter(experiment=experiment).update(status="pending")
    Experiment.objects.filter(pk=experiment.pk).update(status="running")
    assert 'name="cancel"' in member.get(change_url(experiment)).content.decode()

    member.post(reverse("admin:experiments_experiment_cancel", args=[experiment.pk]))
    experiment.refresh_from_db()
    assert experiment.status == "cancelled"
    assert set(experiment.results.values_list("status", flat=True)) == {"cancelled"}

    member.post(
        reverse("admin:experiments_experiment_changelist"),
        {"action": "resume_experiments", "_selected_action": [experiment.pk]},
    )
    experiment.refresh_from_db()
    assert experiment.status == "running"
    assert set(experiment.results.values_list("status", flat=True)) == {"pending"}

    member.post(
        reverse("admin:experiments_experiment_changelist"),
        {"action": "cancel_experiments", "_selected_action": [experiment.pk]},
    )
    assert Experiment.objects.get(pk=experiment.pk).status == "cancelled"


def test_a_viewer_reads_and_downloads_but_cannot_launch_or_cancel(experiment, project):
    viewer = staff(Membership.Role.VIEWER, project)
    Experiment.objects.filter(pk=experiment.pk).update(status="running")

    page = viewer.get(change_url(experiment))
    assert page.status_code == 200 and "Progress:" in page.content.decode()
    assert 'name="cancel"' not in page.content.decode()
    assert viewer.get(reverse("admin:experiments_experiment_export", args=[experiment.pk, "csv"])).status_code == 200
    assert viewer.post(reverse("admin:experiments_experiment_cancel", args=[experiment.pk])).status_code == 403
    assert viewer.get(reverse("admin:experiments_experiment_launch")).status_code == 403
    viewer.post(
        reverse("admin:experiments_experiment_changelist"),
        {"action": "cancel_experiments", "_selected_action": [experiment.pk]},
    )
    assert Experiment.objects.get(pk=experiment.pk).status == "running"
    cells = viewer.get(reverse("admin:experiments_experimentresult_changelist"))
    assert cells.status_code == 200 and cells.context["cl"].result_count == 4


def test_another_projects_experiments_are_out_of_reach(experiment, project, endpoint):
    outsider = staff(Membership.Role.OWNER, ProjectFactory())
    Experiment.objects.filter(pk=experiment.pk).update(status="running")

    listing = outsider.get(reverse("admin:experiments_experiment_changelist"))
    assert listing.status_code == 200 and listing.context["cl"].result_count == 0
    assert outsider.get(change_url(experiment)).status_code == 302  # the admin's "does not exist" redirect
    assert outsider.get(reverse("admin:experiments_experiment_export", args=[experiment.pk, "json"])).status_code == 404
    assert outsider.post(reverse("admin:experiments_experiment_cancel", args=[experiment.pk])).status_code == 404
    outsider.post(
        reverse("admin:experiments_experiment_changelist"),
        {"action": "cancel_experiments", "_selected_action": [experiment.pk]},
    )
    assert Experiment.objects.get(pk=experiment.pk).status == "running"
    launch = outsider.get(reverse("admin:experiments_experiment_launch"))
    assert experiment.prompt not in list(launch.context["form"].fields["prompt"].queryset)
    cell = experiment.results.first()
    assert outsider.get(reverse("admin:experiments_experimentresult_change", args=[cell.pk])).status_code == 302


@pytest.mark.django_db
def test_prompt_list_action_opens_the_launch_form_for_that_prompt(admin_client):
    from prompts.tests.factories import PromptVersionFactory

    version = PromptVersionFactory()
    response = admin_client.post(
        reverse("admin:prompts_prompt_changelist"),
        {"action": "launch_experiment", "_selected_action": [version.prompt.pk]},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:experiments_experiment_launch')}?prompt={version.prompt.pk}"
    form = admin_client.get(response["Location"])
    assert form.status_code == 200
    assert form.context["form"].initial["prompt"] == str(version.prompt.pk)


@pytest.mark.parametrize("who", ["superuser", "admin member"])
def test_launching_from_the_console_shares_one_rendering_budget(admin_client, project, endpoint, who):
    client = admin_client if who == "superuser" else staff(Membership.Role.ADMIN, project)
    # Each version renders in well under the budget on its own; the four of them take 3.2 s.
    prompt = make_busy_prompt(project, endpoint, versions=4, seconds_each=0.8)
    add_goldens(prompt, [("one", "x")])

    started = time.monotonic()
    response = client.post(
        reverse("admin:experiments_experiment_launch"),
        {"prompt": prompt.pk, "name": "heavy", "scorers": "exact", "repeats": 1, "concurrency": 4},
    )
    elapsed = time.monotonic() - started

    assert response.status_code == 200  # the form again, with the service's error
    assert "templates took longer than the rendering budget of 2 s for this request" in response.content.decode()
    assert elapsed < 3
    assert not Experiment.objects.exists()
