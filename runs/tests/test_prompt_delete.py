"""A prompt that runs refer to cannot be deleted: runs keep the version they ran."""

import pytest

from llmops.core.errors import Conflict
from prompts import services
from prompts.models import Prompt, PromptVersion
from runs.tests.factories import RunFactory

pytestmark = pytest.mark.django_db


def test_deleting_a_prompt_that_runs_refer_to_is_a_conflict(project):
    # Runs keep the version they ran (PROTECT): the prompt must stay.
    prompt = services.prompt_create(project=project, name="p", template="a {x}")
    RunFactory(prompt_version=prompt.versions.get(), project=project)

    with pytest.raises(Conflict) as raised:
        services.prompt_delete(prompt=prompt)

    assert raised.value.code == "prompt_in_use"
    assert Prompt.objects.filter(pk=prompt.pk).exists() and PromptVersion.objects.filter(prompt=prompt).exists()
