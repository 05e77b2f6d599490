"""Fetch by name: resolution, ETag/304, and the cache that must never serve a moved label's old version."""

from __future__ import annotations

import pytest
from django.core.cache import cache as django_cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from prompts import cache, selectors, services
from prompts.models import Prompt
from prompts.tests.test_api import create, error_of


def fetch(api, name: str = "sentiment-analysis", query: str = "", **headers):
    return api.get(f"/api/v1/prompts/by-name/{name}{query}", **headers)


@pytest.mark.django_db
def test_fetch_returns_the_resolved_version_with_its_content(api):
    prompt = create(
        api,
        model_settings={"model_endpoint": "local-gemma", "parameters": {"temperature": 0.0}},
        variables_schema={"type": "object", "properties": {"input": {"type": "string"}}},
        labels=["production"],
        commit_message="first",
    )

    response = fetch(api)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "prompt_id": prompt["id"],
        "prompt": "sentiment-analysis",
        "version": 1,
        "kind": "text",
        "template_format": "fstring",
        "template": "Analyze the sentiment of this text: {input}",
        "messages": [],
        "model_settings": {"model_endpoint": "local-gemma", "parameters": {"temperature": 0.0}},
        "variables": ["input"],
        "variables_schema": {"type": "object", "properties": {"input": {"type": "string"}}},
        "labels": ["production"],
        "content_hash": prompt["latest"]["content_hash"],
        "commit_message": "first",
        "created_at": prompt["latest"]["created_at"],
    }
    assert response["ETag"] == f'"{body["content_hash"]}-v1"'


@pytest.mark.django_db
def test_fetch_resolves_production_then_latest_label_and_version(api):
    prompt = create(api)
    url = f"/api/v1/prompts/{prompt['id']}"
    api.post(f"{url}/versions", {"template": "v2 {input}", "labels": ["staging"]}, format="json")
    api.post(f"{url}/versions", {"template": "v3 {input}"}, format="json")

    assert fetch(api).json()["version"] == 3  # no production label yet: the latest
    api.post(f"{url}/labels/production", {"version": 1}, format="json")
    assert fetch(api).json()["version"] == 1
    assert fetch(api, query="?label=production").json()["version"] == 1
    assert fetch(api, query="?label=staging").json()["version"] == 2
    assert fetch(api, query="?label=latest").json()["version"] == 3
    assert fetch(api, query="?version=2").json()["version"] == 2


@pytest.mark.django_db
def test_fetch_errors_name_the_problem(api):
    create(api)
    assert fetch(api, name="nope").status_code == 404
    assert error_of(fetch(api, query="?label=staging"))["param"] == "label"
    assert fetch(api, query="?version=7").status_code == 404
    assert error_of(fetch(api, query="?version=x"))["param"] == "version"
    both = fetch(api, query="?version=1&label=production")
    assert both.status_code == 400 and error_of(both)["param"] == "version"


@pytest.mark.django_db
def test_names_with_slashes_are_fetched(api):
    create(api, name="team/support/summarize")
    assert fetch(api, name="team/support/summarize").json()["prompt"] == "team/support/summarize"


@pytest.mark.django_db
def test_if_none_match_with_the_etag_is_a_304(api):
    create(api, labels=["production"])
    etag = fetch(api)["ETag"]

    same = fetch(api, HTTP_IF_NONE_MATCH=etag)
    weak = fetch(api, HTTP_IF_NONE_MATCH=f"W/{etag}")
    listed = fetch(api, HTTP_IF_NONE_MATCH=f'"other", {etag}')
    other = fetch(api, HTTP_IF_NONE_MATCH='"other"')

    assert same.status_code == 304 and same.content == b"" and same["ETag"] == etag
    assert weak.status_code == 304 and listed.status_code == 304
    assert other.status_code == 200


@pytest.mark.django_db
def test_etag_changes_when_the_label_moves_and_is_unique_per_version(api):
    prompt = create(api, labels=["production"])
    url = f"/api/v1/prompts/{prompt['id']}"
    old_etag = fetch(api)["ETag"]
    api.post(f"{url}/versions", {"template": "v2 {input}"}, format="json")
    api.post(f"{url}/versions", {"template": prompt["latest"]["template"]}, format="json")  # v3 repeats v1
    api.post(f"{url}/labels/production", {"version": 3}, format="json")

    response = fetch(api, HTTP_IF_NONE_MATCH=old_etag)

    assert response.status_code == 200
    assert response.json()["version"] == 3
    assert response.json()["content_hash"] == prompt["latest"]["content_hash"]  # same content as v1...
    assert response["ETag"] != old_etag  # ...but another version, so another ETag


@pytest.mark.django_db
def test_a_fetch_right_after_a_label_move_gets_the_new_version(api):
    prompt = create(api, labels=["production"])
    url = f"/api/v1/prompts/{prompt['id']}"
    api.post(f"{url}/versions", {"template": "v2 {input}"}, format="json")
    assert fetch(api).json()["version"] == 1
    assert fetch(api).json()["version"] == 1  # now from the cache

    api.post(f"{url}/labels/production", {"version": 2}, format="json")
    assert fetch(api).json()["version"] == 2

    api.post(f"{url}/rollback", {"label": "production"}, format="json")
    assert fetch(api).json()["version"] == 1

    api.delete(f"{url}/labels/production")
    assert fetch(api).json()["version"] == 2  # no production label: the latest


@pytest.mark.django_db
def test_a_new_version_is_fetched_at_once_by_latest_and_labels(api):
    prompt = create(api)
    assert fetch(api, query="?label=latest").json()["version"] == 1
    api.post(
        f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}", "labels": ["staging"]}, format="json"
    )
    assert fetch(api, query="?label=latest").json()["version"] == 2
    assert fetch(api, query="?label=staging").json()["labels"] == ["staging"]


@pytest.mark.django_db
def test_a_deleted_prompt_is_not_served_from_the_cache(api):
    prompt = create(api)
    assert fetch(api).status_code == 200
    api.delete(f"/api/v1/prompts/{prompt['id']}")
    assert fetch(api).status_code == 404
    create(api, template="Recreated: {input}")
    assert fetch(api).json()["template"] == "Recreated: {input}"


@pytest.mark.django_db
def test_the_second_fetch_is_served_from_the_cache(api, django_assert_num_queries):
    create(api, labels=["production"])
    fetch(api, query="?version=x")  # warm up whatever authentication caches

    with CaptureQueriesContext(connection) as auth_only:
        assert fetch(api, query="?version=x").status_code == 400  # rejected before any prompt lookup
    with CaptureQueriesContext(connection) as first:
        assert fetch(api).json()["version"] == 1
    with django_assert_num_queries(len(auth_only)) as second:
        assert fetch(api).json()["version"] == 1

    assert any("prompts_" in query["sql"] for query in first.captured_queries)
    assert not any("prompts_" in query["sql"] for query in second.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_committed_moves_invalidate_the_cache_too(api):
    # With real commits the after-commit bump runs as well: a fetch after the move is still fresh.
    prompt = create(api, labels=["production"])
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")
    assert fetch(api).json()["version"] == 1
    api.post(f"/api/v1/prompts/{prompt['id']}/labels/production", {"version": 2}, format="json")
    assert fetch(api).json()["version"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_reader_that_stores_a_stale_resolution_after_the_move_does_not_poison_the_cache(api, project):
    body = create(api, labels=["production"])
    api.post(f"/api/v1/prompts/{body['id']}/versions", {"template": "v2 {input}"}, format="json")
    prompt = Prompt.objects.get(pk=body["id"])

    def slow_reader() -> selectors.Resolution:
        # A reader reads the database, then a writer moves the label and commits before the
        # reader gets to store what it read: the store happens after the invalidation.
        stale = selectors.version_in(prompt=prompt)
        services.label_move(prompt=prompt, label="production", version=2)
        return selectors.Resolution(version=stale, labels=("production",))

    stored = cache.cached_resolution(project_id=project.pk, name=prompt.name, selector="default", compute=slow_reader)

    assert stored.version.version == 1  # the stale value did reach the cache...
    assert fetch(api).json()["version"] == 2  # ...under a generation nobody reads any more
    assert selectors.version_resolve(project=project, name=prompt.name).version == 2


@pytest.mark.django_db
def test_version_resolve_by_name_uses_the_cache_and_keeps_its_signature(api, project, django_assert_num_queries):
    create(api, labels=["production"])
    assert selectors.version_resolve(project=project, name="sentiment-analysis", label="production").version == 1
    with django_assert_num_queries(0):
        resolved = selectors.version_resolve(project=project, name="sentiment-analysis", label="production")
    assert resolved.version == 1 and resolved.prompt.name == "sentiment-analysis"


@pytest.mark.django_db
def test_an_evicted_generation_never_revives_older_entries(api, project):
    create(api, labels=["production"])
    before = cache.generation(project_id=project.pk, name="sentiment-analysis")
    cache.invalidate(project_id=project.pk, name="sentiment-analysis")
    django_cache.delete(cache.generation_key(project.pk, "sentiment-analysis"))  # as an LRU eviction would

    after = cache.generation(project_id=project.pk, name="sentiment-analysis")
    assert after > before + 1  # not back to a number an older entry was stored under
