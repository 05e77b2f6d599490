"""The fetch-by-name cache entry: one entry per (project, name, selector) carrying the ETag and the
rendered body, read in the rate limiter's round trip. A repeated fetch and its 304 touch neither the
database nor the serializer; a label move is seen by the next fetch, in every process."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from llmops.core import local_cache
from prompts import selectors, services
from prompts.models import Prompt
from prompts.serializers import ResolvedVersionSerializer
from prompts.tests.test_api import create

pytestmark = pytest.mark.django_db

URL = "/api/v1/prompts/by-name/sentiment-analysis"


def _refuse_to_serialise(monkeypatch) -> None:
    def refuse(resolution):
        raise AssertionError("serialised again")

    monkeypatch.setattr(ResolvedVersionSerializer, "from_resolution", staticmethod(refuse))


def test_a_repeated_fetch_and_its_304_need_no_query_and_no_serialisation(api, monkeypatch):
    create(api, labels=["production"])
    first = api.get(URL + "?label=production")
    assert first.status_code == 200
    etag = first["ETag"]
    _refuse_to_serialise(monkeypatch)

    with CaptureQueriesContext(connection) as queries:
        again = api.get(URL + "?label=production")
        not_modified = api.get(URL + "?label=production", HTTP_IF_NONE_MATCH=etag)

    assert again.status_code == 200 and again.content == first.content and again["ETag"] == etag
    assert again["Content-Type"] == "application/json"
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag and not_modified["Cache-Control"] == "private, no-cache"
    assert "X-RateLimit-Remaining" in not_modified and "X-Request-ID" in not_modified
    assert queries.captured_queries == []


def test_the_304_follows_the_label_and_the_weak_and_star_forms(api):
    prompt = create(api, labels=["production"])
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")
    v1 = api.get(URL + "?label=production")
    etag = v1["ETag"]

    assert api.get(URL + "?label=production", HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert api.get(URL + "?label=production", HTTP_IF_NONE_MATCH='"other", ' + etag).status_code == 304
    assert api.get(URL + "?label=production", HTTP_IF_NONE_MATCH="*").status_code == 304
    assert api.get(URL + "?version=2", HTTP_IF_NONE_MATCH=etag).status_code == 200  # another version

    api.post(f"/api/v1/prompts/{prompt['id']}/labels/production", {"version": 2}, format="json")
    moved = api.get(URL + "?label=production", HTTP_IF_NONE_MATCH=etag)
    assert moved.status_code == 200 and moved.json()["version"] == 2 and moved["ETag"] != etag
    assert api.get(URL + "?label=production", HTTP_IF_NONE_MATCH=moved["ETag"]).status_code == 304


@pytest.mark.django_db(transaction=True)
def test_a_label_moved_by_another_process_is_seen_by_the_next_fetch(api):
    prompt = create(api, labels=["production"])
    api.post(f"/api/v1/prompts/{prompt['id']}/versions", {"template": "v2 {input}"}, format="json")
    assert api.get(URL + "?label=production").json()["version"] == 1  # cached

    # Another process moves the label: nothing in this process is told, only the shared cache is.
    local_cache.clear_all()
    services.label_move(prompt=Prompt.objects.get(pk=prompt["id"]), label="production", version=2)

    assert api.get(URL + "?label=production").json()["version"] == 2
    assert api.get(URL).json()["version"] == 2  # the default selector (production) too


def test_the_cache_entry_is_per_project(api, other_tenant):
    create(api, labels=["production"])
    create(other_tenant.client, template="Theirs: {input}", labels=["production"])
    mine = api.get(URL + "?label=production")
    theirs = other_tenant.client.get(URL + "?label=production")
    assert mine.json()["template"] != theirs.json()["template"]
    assert other_tenant.client.get(URL + "?label=production", HTTP_IF_NONE_MATCH=mine["ETag"]).status_code == 200


def test_bad_selectors_are_still_400s_and_an_unknown_name_a_404(api):
    create(api, labels=["production"])
    assert api.get(URL + "?version=0").status_code == 400
    assert api.get(URL + "?version=x").status_code == 400
    assert api.get(URL + "?version=1&label=production").status_code == 400
    assert api.get("/api/v1/prompts/by-name/nope").status_code == 404


def test_runs_resolve_by_name_from_their_own_entry(api, project):
    create(api, labels=["production"])
    api.get(URL + "?label=production")  # the fetch entry is a rendered body, not a version
    version = selectors.version_resolve(project=project, name="sentiment-analysis", label="production")
    assert version.version == 1 and version.prompt.name == "sentiment-analysis"
