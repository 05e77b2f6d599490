"""Golden examples in the console: the inline on the prompt page, the import page, the export actions."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from accounts.tests.factories import MembershipFactory, ProjectFactory, UserFactory
from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from prompts.admin import PromptAdmin
from prompts.models import Prompt
from prompts.tests.factories import PromptFactory, PromptVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt(project):
    prompt = PromptFactory(project=project, name="sentiment")
    version = PromptVersionFactory(prompt=prompt, template="Analyze the sentiment of this text: {input}")
    Prompt.objects.filter(pk=prompt.pk).update(latest_version_number=version.version)
    prompt.refresh_from_db()
    return prompt


def _import_url(prompt):
    return reverse("admin:prompts_prompt_import_goldens", args=[prompt.pk])


def _change_url(prompt):
    return reverse("admin:prompts_prompt_change", args=[prompt.pk])


def _page_data(response) -> dict:
    """The POST data of an admin change page as rendered: every form and inline row unchanged."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    for form in forms:
        for bound in form:
            value = bound.value()  # prepared for the widget: JSON fields give their JSON text
            if value is not None and value is not False:
                data[bound.html_name] = "on" if value is True else value
    return data


def test_prompt_page_lists_goldens_inline_and_keeps_the_prompts_apps_buttons(admin_client, prompt):
    GoldenExampleFactory(prompt=prompt, input_data={"input": "I love this!"}, expected_output="very-positive-123")
    page = admin_client.get(_change_url(prompt))
    assert page.status_code == 200
    html = page.content.decode()
    assert "very-positive-123" in html
    assert _import_url(prompt) in html
    # The prompts app's own change form (and its buttons) is extended, not replaced.
    parent_template = PromptAdmin.change_form_template or "admin/change_form.html"
    assert parent_template in [template.name for template in page.templates]
    assert [inline.opts.__class__.__name__ for inline in page.context["inline_admin_formsets"]][-1] == (
        "GoldenExampleInline"
    )


def test_adding_a_golden_inline_is_checked_against_the_prompts_variables(admin_client, prompt):
    page = admin_client.get(_change_url(prompt))
    data = _page_data(page)
    prefix = next(f.formset.prefix for f in page.context["inline_admin_formsets"] if f.formset.model is GoldenExample)
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    row = f"{prefix}-{total}"
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total + 1),
            f"{row}-input_data": '{"text": "I love this!"}',
            f"{row}-expected_output": "positive",
            f"{row}-tags": '["smoke"]',
            f"{row}-split": "test",
        }
    )
    refused = admin_client.post(_change_url(prompt), data)
    assert refused.status_code == 200
    assert "input_data is missing variable &#x27;input&#x27;" in refused.content.decode()
    assert not GoldenExample.objects.exists()

    data[f"{row}-input_data"] = '{"input": "I love this!"}'
    saved = admin_client.post(_change_url(prompt), data)
    assert saved.status_code == 302, saved.context and [f.errors for f in saved.context["inline_admin_formsets"]]
    golden = GoldenExample.objects.get()
    assert (golden.project, golden.prompt, golden.input_data, golden.tags, golden.split) == (
        prompt.project,
        prompt,
        {"input": "I love this!"},
        ["smoke"],
        "test",
    )


def test_import_page_imports_a_csv_file(admin_client, prompt):
    assert admin_client.get(_import_url(prompt)).status_code == 200
    upload = SimpleUploadedFile(
        "goldens.csv", b"input,expected_output,tags\nI love this!,positive,smoke|en\nugh,negative,\n"
    )
    response = admin_client.post(_import_url(prompt), {"file": upload, "format": ""}, follow=True)
    assert response.redirect_chain[-1][0] == _change_url(prompt)
    assert "Imported 2 golden examples." in response.content.decode()
    assert sorted(GoldenExample.objects.filter(prompt=prompt).values_list("expected_output", flat=True)) == [
        "negative",
        "positive",
    ]


def test_import_page_shows_the_bad_row_and_writes_nothing(admin_client, prompt):
    lines = ['{"input_data": {"input": "fine"}, "expected_output": "ok"}'] * 2 + [
        '{"input_data": {}, "expected_output": "x"}'
    ]
    upload = SimpleUploadedFile("goldens.txt", "\n".join(lines).encode())
    response = admin_client.post(_import_url(prompt), {"file": upload, "format": "jsonl"})
    assert response.status_code == 200
    assert "line 3: input_data is missing variable &#x27;input&#x27;" in response.content.decode()
    assert not GoldenExample.objects.exists()

    unknown = SimpleUploadedFile("goldens.txt", "\n".join(lines).encode())
    response = admin_client.post(_import_url(prompt), {"file": unknown, "format": ""})
    assert "cannot tell the file&#x27;s format" in response.content.decode()


def test_import_page_follows_project_roles(prompt):
    viewer, stranger = UserFactory(is_staff=True), UserFactory(is_staff=True)
    MembershipFactory(user=viewer, project=prompt.project, role=Membership.Role.VIEWER)
    MembershipFactory(user=stranger, project=ProjectFactory(), role=Membership.Role.OWNER)
    for user in (viewer, stranger):
        client = Client()
        client.force_login(user)
        upload = SimpleUploadedFile("g.csv", b"input,expected_output\na,b\n")
        assert client.post(_import_url(prompt), {"file": upload}).status_code in (403, 404)
    assert not GoldenExample.objects.exists()


@pytest.mark.parametrize("action", ["export_jsonl", "export_csv"])
def test_export_actions_download_the_selected_goldens(admin_client, prompt, action):
    chosen = GoldenExampleFactory(prompt=prompt, input_data={"input": "I love this!"}, expected_output="positive")
    GoldenExampleFactory(prompt=prompt, expected_output="not selected")
    response = admin_client.post(
        reverse("admin:evaluation_goldenexample_changelist"), {"action": action, "_selected_action": [chosen.pk]}
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "not selected" not in body
    if action == "export_jsonl":
        assert response["Content-Type"].startswith("application/x-ndjson")
        assert json.loads(body)["input_data"] == {"input": "I love this!"}
    else:
        assert response["Content-Type"].startswith("text/csv")
        assert body.splitlines()[0] == "input_data,expected_output,tags,split"
        assert "positive" in body.splitlines()[1]


def test_csv_export_action_neutralises_formulas(admin_client, prompt):
    golden = GoldenExampleFactory(
        prompt=prompt, input_data={"input": "=1+1"}, expected_output='=HYPERLINK("http://evil","x")', tags=["-t"]
    )
    response = admin_client.post(
        reverse("admin:evaluation_goldenexample_changelist"), {"action": "export_csv", "_selected_action": [golden.pk]}
    )
    assert response.status_code == 200
    _, row = csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline=""))
    assert row == ['{"input": "=1+1"}', '\'=HYPERLINK("http://evil","x")', "'-t", ""]


def test_golden_add_page_checks_the_prompt(admin_client, prompt):
    url = reverse("admin:evaluation_goldenexample_add")
    data = {"prompt": prompt.pk, "input_data": '{"text": "x"}', "expected_output": "y", "tags": "[]", "metadata": "{}"}
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "input_data is missing variable &#x27;input&#x27;" in refused.content.decode()
    data["input_data"] = '{"input": "x"}'
    assert admin_client.post(url, data).status_code == 302
    golden = GoldenExample.objects.get()
    assert (golden.project, golden.input_data) == (prompt.project, {"input": "x"})
