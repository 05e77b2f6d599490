"""The console writes prompts only through the services: versions get their number, author and content
hash from the service, browser line endings never make a version, and whitespace changes show in diffs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from prompts import diff, services
from prompts.models import Prompt, PromptVersion
from prompts.tests.test_admin import form_data

pytestmark = pytest.mark.django_db

VERSION_ADD = "admin:prompts_promptversion_add"


@pytest.fixture
def prompt(project) -> Prompt:
    return services.prompt_create(project=project, name="classify", template="Line one\nClassify: {input}")


def _version_post(prompt: Prompt, **overrides) -> dict:
    return {
        "prompt": str(prompt.pk),
        "kind": "text",
        "template_format": "fstring",
        "template": "Classify carefully: {input}",
        "messages": "null",
        "model_settings": "{}",
        "variables_schema": "null",
        "commit_message": "",
        "new_labels": "",
        **overrides,
    }


def test_prompt_versions_add_goes_through_the_service_and_the_api_goes_on(admin_client, admin_user, prompt, api):
    # The raw model form let a person type the number, the author and no content hash: none of it sticks now.
    response = admin_client.post(
        reverse(VERSION_ADD),
        _version_post(prompt, version="2", created_by=str(admin_user.pk), content_hash="", new_labels="staging"),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    prompt.refresh_from_db()
    assert prompt.latest_version_number == 2  # the counter moved with the version
    version = PromptVersion.objects.get(prompt=prompt, version=2)
    assert version.template == "Classify carefully: {input}"
    assert version.content_hash and len(version.content_hash) == 64
    assert version.variables == ["input"] and version.created_by == admin_user
    assert prompt.labels.get(name="staging").version == version

    # The next API version is 3, not an IntegrityError.
    created = api.post(f"/api/v1/prompts/{prompt.pk}/versions", {"template": "v3 {input}"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["version"] == 3


def test_a_typed_version_number_cannot_collide_with_the_next_api_version(admin_client, prompt, api):
    # Version 2 typed by hand (the old bypass) while the counter says 1: the form has no such field.
    admin_client.post(reverse(VERSION_ADD), _version_post(prompt, version="7", template="typed {input}"))
    admin_client.post(reverse(VERSION_ADD), _version_post(prompt, version="2", template="again {input}"))

    numbers = list(prompt.versions.order_by("version").values_list("version", flat=True))
    assert numbers == [1, 2, 3]
    created = api.post(f"/api/v1/prompts/{prompt.pk}/versions", {"template": "from the API {input}"}, format="json")
    assert created.status_code == 201 and created.json()["version"] == 4


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"template": "Broken {input"}, "template"),
        ({"template": ""}, "template"),
        ({"kind": "chat", "template": "", "messages": '[{"role": "wizard", "content": "x"}]'}, "messages"),
        ({"messages": "[not json"}, "messages"),
        ({"new_labels": "not a label!"}, "new_labels"),
        ({"model_settings": '{"parameters": "hot"}'}, "model_settings"),
    ],
)
def test_prompt_versions_add_reports_service_errors_on_their_field(admin_client, prompt, overrides, field):
    response = admin_client.post(reverse(VERSION_ADD), _version_post(prompt, **overrides))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    prompt.refresh_from_db()
    assert prompt.latest_version_number == 1 and prompt.versions.count() == 1


def test_prompt_versions_add_offers_only_prompts_where_the_user_may_write(client, prompt, other_tenant):
    from accounts.models import Membership
    from accounts.tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    Membership.objects.create(user=staff, project=prompt.project, role=Membership.Role.MEMBER)
    foreign = services.prompt_create(project=other_tenant.project, name="theirs", template="x {input}")
    client.force_login(staff)

    response = client.post(reverse(VERSION_ADD), _version_post(foreign))

    assert response.status_code == 200
    assert "prompt" in response.context["adminform"].form.errors
    assert foreign.versions.count() == 1


def test_editing_only_the_description_with_browser_line_endings_makes_no_version(admin_client, prompt):
    page = admin_client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
    data = form_data(page, description="Now with a description")
    data["template"] = data["template"].replace("\n", "\r\n")  # what a browser submits for a textarea

    response = admin_client.post(reverse("admin:prompts_prompt_change", args=[prompt.pk]), data)

    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.description == "Now with a description"
    assert prompt.latest_version_number == 1


def test_admin_and_prompt_push_do_not_ping_pong(admin_client, prompt, tmp_path):
    from django.core.management import call_command

    page = admin_client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
    data = form_data(page, template="Edited in the console\r\nClassify: {input}\r\n")
    admin_client.post(reverse("admin:prompts_prompt_change", args=[prompt.pk]), data)
    prompt.refresh_from_db()
    assert prompt.latest_version_number == 2
    assert PromptVersion.objects.get(prompt=prompt, version=2).template == "Edited in the console\nClassify: {input}\n"

    # The same text from a file saved with Windows line endings is the same version.
    source = tmp_path / "classify.yaml"
    source.write_bytes(b"name: classify\r\ntemplate: |\r\n  Edited in the console\r\n  Classify: {input}\r\n")
    call_command("prompt_push", str(source), "--project", prompt.project.slug)
    prompt.refresh_from_db()
    assert prompt.latest_version_number == 2

    # And saving the page again without a change makes nothing either.
    page = admin_client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
    data = form_data(page)
    data["template"] = data["template"].replace("\n", "\r\n")
    admin_client.post(reverse("admin:prompts_prompt_change", args=[prompt.pk]), data)
    prompt.refresh_from_db()
    assert prompt.latest_version_number == 2


def test_chat_messages_and_descriptions_are_normalised(admin_client, project):
    data = {
        "project": str(project.pk),
        "name": "chatty",
        "description": "first line\r\nsecond line",
        "tags": "support, triage",
        "kind": "chat",
        "template_format": "fstring",
        "template": "",
        "messages": (
            '[{"role": "system", "content": "Be brief.\\r\\nBe kind."}, {"role": "user", "content": "{input}"}]'
        ),
        "model_settings": "{}",
        "variables_schema": "null",
        "commit_message": "",
        "new_labels": "",
    }

    response = admin_client.post(reverse("admin:prompts_prompt_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    prompt = Prompt.objects.get(project=project, name="chatty")
    assert prompt.description == "first line\nsecond line"
    assert prompt.tags == ["support", "triage"]
    assert prompt.versions.get().messages[0]["content"] == "Be brief.\nBe kind."


def test_tags_are_shown_and_taken_as_a_comma_list(admin_client, prompt):
    services.prompt_update(prompt=prompt, tags=["alpha", "beta"])
    page = admin_client.get(reverse("admin:prompts_prompt_change", args=[prompt.pk]))
    assert 'value="alpha, beta"' in page.content.decode()

    data = form_data(page, tags="beta, gamma ,, gamma")
    admin_client.post(reverse("admin:prompts_prompt_change", args=[prompt.pk]), data)
    prompt.refresh_from_db()
    assert prompt.tags == ["beta", "gamma"]


def _version(prompt: Prompt, number: int, template: str) -> PromptVersion:
    # Versions stored before line endings were normalised may still hold \r or trailing blanks.
    return PromptVersion(prompt=prompt, version=number, template=template, kind="text", content_hash=str(number))


def test_a_whitespace_only_change_is_visible_in_the_diff(prompt):
    old = _version(prompt, 1, "Classify: {input}\nAnswer:")
    new = _version(prompt, 2, "Classify: {input}  \nAnswer:\t")

    changes = diff.version_diff(old, new)

    assert changes["whitespace_only"] is True
    assert "-Classify: {input}\n" in changes["unified_diff"]
    assert "+Classify: {input}\u00b7\u00b7\n" in changes["unified_diff"]
    assert "+Answer:\u2192\n" in changes["unified_diff"]
    assert "\u00b7\u00b7" in diff.html_diff_rows(old, new)


def test_carriage_returns_and_a_final_newline_are_visible_in_the_diff(prompt):
    crlf = diff.version_diff(_version(prompt, 1, "a\nb"), _version(prompt, 2, "a\r\nb"))
    assert crlf["whitespace_only"] is True and "+a\u240d\n" in crlf["unified_diff"]

    newline = diff.version_diff(_version(prompt, 1, "a\nb"), _version(prompt, 2, "a\nb\n"))
    assert newline["whitespace_only"] is True
    assert f"-{diff.NO_NEWLINE_AT_END}\n" in newline["unified_diff"]

    real = diff.version_diff(_version(prompt, 1, "a\nb"), _version(prompt, 2, "a\nc"))
    assert real["whitespace_only"] is False


def test_the_diff_page_says_whitespace_only(admin_client, prompt):
    PromptVersion.objects.create(
        prompt=prompt,
        version=2,
        template="Line one  \nClassify: {input}",
        variables=["input"],
        content_hash="x" * 64,
    )
    Prompt.objects.filter(pk=prompt.pk).update(latest_version_number=2)

    page = admin_client.get(reverse("admin:prompts_prompt_diff", args=[prompt.pk]))

    assert page.status_code == 200
    assert "Whitespace-only change" in page.content.decode()
