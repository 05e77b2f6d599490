"""Concurrent writers on real PostgreSQL: version numbers and labels stay consistent under races."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import pytest
from django.db import connection

from llmops.core.errors import Conflict
from prompts import services
from prompts.models import Prompt, PromptLabel, PromptLabelEvent, PromptVersion

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8


def run_together(work: Callable[[int], object], count: int = WRITERS) -> tuple[list, list]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; collect results and errors."""
    barrier = threading.Barrier(count)
    results, errors = [], []
    lock = threading.Lock()

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcome = work(index)
            with lock:
                results.append(outcome)
        except Exception as error:  # collected for the assertions
            with lock:
                errors.append(error)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_concurrent_versions_get_distinct_consecutive_numbers(project):
    prompt = services.prompt_create(project=project, name="raced", template="v1 {input}")

    results, errors = run_together(
        lambda i: services.prompt_version_create(
            prompt=Prompt.objects.get(pk=prompt.pk), template=f"writer {i}: {{input}}"
        )
    )

    assert errors == []
    numbers = sorted(version.version for version, created in results)
    assert numbers == list(range(2, WRITERS + 2))
    assert all(created for _, created in results)
    prompt.refresh_from_db()
    assert prompt.latest_version_number == WRITERS + 1
    assert PromptVersion.objects.filter(prompt=prompt).count() == WRITERS + 1


def test_concurrent_identical_pushes_create_one_version(project):
    prompt = services.prompt_create(project=project, name="raced", template="v1 {input}")

    results, errors = run_together(
        lambda i: services.prompt_version_create(prompt=Prompt.objects.get(pk=prompt.pk), template="same: {input}")
    )

    assert errors == []
    assert sorted(created for _, created in results) == [False] * (WRITERS - 1) + [True]
    assert {version.version for version, _ in results} == {2}
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


def test_concurrent_label_moves_leave_a_consistent_history(project):
    prompt = services.prompt_create(project=project, name="raced", template="v1 {input}")
    for number in range(2, 5):
        services.prompt_version_create(prompt=prompt, template=f"v{number} {{input}}")

    results, errors = run_together(
        lambda i: services.label_move(prompt=prompt, label="production", version=1 + i % 4, reason=f"writer {i}")
    )

    assert errors == [] and len(results) == WRITERS
    events = list(PromptLabelEvent.objects.filter(prompt=prompt).order_by("created_at"))
    # Each move saw the previous one: the history is a chain ending where the label points.
    for previous, event in itertools.pairwise(events):
        assert event.from_version_id == previous.to_version_id
    assert events[0].from_version_id is None
    assert PromptLabel.objects.get(prompt=prompt, name="production").version_id == events[-1].to_version_id


def test_concurrent_creation_of_one_name_makes_one_prompt(project):
    results, errors = run_together(lambda i: services.prompt_create(project=project, name="same", template="{x}"))

    assert len(results) == 1
    assert len(errors) == WRITERS - 1 and all(isinstance(error, Conflict) for error in errors)
    assert Prompt.objects.filter(project=project, name="same").count() == 1
    assert PromptVersion.objects.filter(prompt__name="same").count() == 1
