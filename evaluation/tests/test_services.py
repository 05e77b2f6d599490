"""Writes of golden examples: checks against the prompt's reference version, tenancy, bulk import."""

import pytest

from accounts.tests.factories import ProjectFactory
from evaluation import golden_io, services
from evaluation.models import GoldenExample
from evaluation.tests.factories import GoldenExampleFactory
from llmops.core.errors import NotFound, ValidationFailed
from prompts.tests.factories import PromptFactory, PromptLabelFactory, PromptVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt(project):
    prompt = PromptFactory(project=project, name="sentiment")
    PromptVersionFactory(prompt=prompt, template="Analyze the sentiment of this text: {input}", variables=["input"])
    return prompt


def test_create_stores_the_seed_golden_with_a_string_input(project, prompt):
    golden = services.golden_create(
        project=project, prompt_id=prompt.pk, input_data='{"input": "I love this!"}', expected_output="positive"
    )
    golden.refresh_from_db()
    assert golden.input_data == {"input": "I love this!"}
    assert (golden.expected_output, golden.prompt, golden.project) == ("positive", prompt, project)


def test_the_production_version_is_the_reference_not_the_latest(project):
    prompt = PromptFactory(project=project)
    production = PromptVersionFactory(prompt=prompt, template="{question}", variables=["question"])
    PromptVersionFactory(prompt=prompt, template="{question} {context}", variables=["question", "context"])
    PromptLabelFactory(prompt=prompt, version=production, name="production")

    services.golden_create(project=project, prompt_id=prompt.pk, input_data={"question": "why?"}, expected_output="")

    production.labels.all().delete()  # without the label, the latest version (which needs context) counts
    with pytest.raises(ValidationFailed) as caught:
        services.golden_create(
            project=project, prompt_id=prompt.pk, input_data={"question": "why?"}, expected_output=""
        )
    assert caught.value.param == "input_data.context"


def test_a_prompt_without_versions_accepts_any_input(project):
    prompt = PromptFactory(project=project)
    golden = services.golden_create(project=project, prompt_id=prompt.pk, input_data={"a": 1}, expected_output="x")
    assert golden.input_data == {"a": 1}


def test_a_prompt_of_another_project_is_not_found(project, prompt):
    with pytest.raises(NotFound):
        services.golden_create(
            project=ProjectFactory(), prompt_id=prompt.pk, input_data={"input": "x"}, expected_output=""
        )
    assert not GoldenExample.objects.exists()


def test_update_rechecks_input_only_when_input_or_prompt_changes(project, prompt):
    golden = services.golden_create(project=project, prompt_id=prompt.pk, input_data={"input": "x"}, expected_output="")
    PromptLabelFactory(
        prompt=prompt,
        name="production",
        version=PromptVersionFactory(prompt=prompt, template="{input} in {language}", variables=["input", "language"]),
    )
    # Retagging an existing golden still works after the new version added a variable...
    services.golden_update(golden=golden, tags=["legacy"], split="train")
    golden.refresh_from_db()
    assert (golden.tags, golden.split, golden.input_data) == (["legacy"], "train", {"input": "x"})
    # ...but new input data must fit the new version.
    with pytest.raises(ValidationFailed) as caught:
        services.golden_update(golden=golden, input_data={"input": "y"})
    assert caught.value.message == "input_data is missing variable 'language'"
    golden.refresh_from_db()
    assert golden.input_data == {"input": "x"}


def test_update_cannot_move_a_golden_to_another_projects_prompt(project, prompt):
    golden = GoldenExampleFactory(prompt=prompt)
    foreign = PromptFactory(project=ProjectFactory())
    with pytest.raises(NotFound):
        services.golden_update(golden=golden, prompt_id=foreign.pk)
    golden.refresh_from_db()
    assert golden.prompt == prompt


def test_import_writes_all_rows_or_none(project, prompt):
    good = '{"input_data": {"input": "a"}, "expected_output": "b"}'
    rows = golden_io.parse_jsonl(
        "\n".join([good, good, good, good, '{"input_data": {"text": "c"}, "expected_output": "d"}'])
    )
    with pytest.raises(ValidationFailed) as caught:
        services.goldens_import(project=project, prompt_id=prompt.pk, rows=rows)
    assert caught.value.message == "line 5: input_data is missing variable 'input'"
    assert caught.value.param == "input_data.input"
    assert not GoldenExample.objects.exists()

    created = services.goldens_import(project=project, prompt_id=prompt.pk, rows=rows[:4])
    assert len(created) == 4
    assert GoldenExample.objects.filter(prompt=prompt, project=project).count() == 4


def test_import_refuses_more_rows_than_the_cap(project, prompt):
    rows = golden_io.parse_jsonl('{"input_data": {"input": "a"}, "expected_output": "b"}\n' * 3)
    with pytest.raises(ValidationFailed) as caught:
        services.goldens_import(project=project, prompt_id=prompt.pk, rows=rows, max_rows=2)
    assert caught.value.code == "too_many_rows"
    assert not GoldenExample.objects.exists()
