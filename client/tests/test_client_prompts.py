"""Fetching prompts through the client: ETag revalidation, label moves within the TTL, stale-while-
revalidate, fallbacks, and an outage of the server's port with a warm cache."""

from __future__ import annotations

import time

import pytest
from llmops_client import APIError, ConnectionFailed, LLMOps, Prompt, RetryPolicy, TemplateError

from prompts import services
from prompts.models import Prompt as ServerPrompt
from runs.tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# The outage of the tests; bench/client.py measures 30 s (LLMOPS_BENCH_OUTAGE_SECONDS).
OUTAGE_SECONDS = 2.0


@pytest.fixture
def prompt(project) -> ServerPrompt:
    prompt = services.prompt_create(
        project=project, name="support/triage", template="v1: {ticket}", labels=["production"]
    )
    services.prompt_version_create(prompt=prompt, template="v2: {ticket}")
    return prompt


def by_name_calls(proxy) -> list:
    return proxy.requests("GET", "/api/v1/prompts/by-name/")


def test_get_prompt_resolves_labels_and_versions_and_compiles(client, prompt):
    production = client.get_prompt("support/triage")
    latest = client.get_prompt("support/triage", label="latest")
    first = client.get_prompt("support/triage", version=1)

    assert (production.version, latest.version, first.version) == (1, 2, 1)
    assert production.compile(ticket="printer on fire") == "v1: printer on fire"
    assert latest.compile(ticket="x") == "v2: x"
    assert production.prompt_id == str(prompt.pk) and production.labels == ["production"]
    with pytest.raises(TemplateError) as missing:
        production.compile()
    assert (missing.value.code, missing.value.param) == ("missing_variable", "variables.ticket")


def test_a_cached_prompt_costs_no_request_and_revalidation_is_a_bodyless_304(project, prompt, proxy, tenant):
    with LLMOps(proxy.url, tenant.key, cache_ttl=0.4) as client:
        client.get_prompt("support/triage")
        for _ in range(50):
            client.get_prompt("support/triage")
        assert len(by_name_calls(proxy)) == 1
        assert client.cache_stats.hits == 50

        time.sleep(0.45)  # past the TTL: revalidated with If-None-Match
        assert client.get_prompt("support/triage").version == 1

    second = by_name_calls(proxy)[1]
    assert second.headers["If-None-Match"] == f'"{prompt.versions.get(version=1).content_hash}-v1"'
    assert second.status == 304 and second.body_bytes == 0
    assert client.cache_stats.not_modified == 1 and client.cache_stats.fetched == 1


def test_a_label_move_is_seen_once_the_ttl_has_passed(project, prompt, proxy, tenant):
    with LLMOps(proxy.url, tenant.key, cache_ttl=0.5) as client:
        assert client.get_prompt("support/triage").version == 1
        services.label_move(prompt=prompt, label="production", version=2)
        assert client.get_prompt("support/triage").version == 1  # within the TTL: from memory
        time.sleep(0.55)

        seen = client.get_prompt("support/triage")  # the first call past the TTL, not a later one

    assert seen.version == 2 and seen.compile(ticket="t") == "v2: t"


def test_a_busy_caller_is_served_from_memory_while_a_background_thread_revalidates(project, prompt, proxy, tenant):
    with LLMOps(proxy.url, tenant.key, cache_ttl=1.0) as client:
        client.get_prompt("support/triage")
        services.label_move(prompt=prompt, label="production", version=2)
        time.sleep(0.55)  # past half the TTL: served from memory, refreshed behind the caller
        started = time.perf_counter()
        assert client.get_prompt("support/triage").version == 1
        assert time.perf_counter() - started < 0.05

        wait_until(lambda: client.get_prompt("support/triage").version == 2, timeout=2, what="the background refresh")
        assert client.cache_stats.background_refreshes >= 1


def test_the_fallback_is_used_only_when_the_server_is_unreachable_and_nothing_is_cached(project, prompt, proxy, tenant):
    retry = RetryPolicy(max_attempts=2, backoff=0.01, deadline=1.0)
    with LLMOps(proxy.url, tenant.key, retry=retry) as client:
        served = client.get_prompt("support/triage", fallback="offline: {ticket}")
        assert not served.is_fallback and served.version == 1
        proxy.stop()
        unknown = client.get_prompt("support/unknown", fallback=[{"role": "user", "content": "offline: {ticket}"}])
        cached = client.get_prompt("support/triage", fallback="offline: {ticket}")
        with pytest.raises(ConnectionFailed):
            client.get_prompt("support/other")

    assert unknown.is_fallback and unknown.compile(ticket="t") == [{"role": "user", "content": "offline: t"}]
    assert not cached.is_fallback and cached.version == 1
    assert client.cache_stats.fallbacks == 1


def test_a_missing_prompt_is_an_error_not_the_fallback(client, project):
    with pytest.raises(APIError) as missing:
        client.get_prompt("nope", fallback="x")
    assert missing.value.status == 404 and missing.value.type == "not_found"


def test_a_fallback_with_a_broken_template_fails_at_once(client):
    with pytest.raises(TemplateError):
        Prompt.fallback("x", "{0.__class__}")


def test_no_error_reaches_the_caller_while_the_server_is_down_with_a_warm_cache(project, prompt, proxy, tenant):
    retry = RetryPolicy(max_attempts=2, backoff=0.01, deadline=1.0)
    with LLMOps(proxy.url, tenant.key, cache_ttl=0.3, retry=retry, revalidate_timeout=0.5) as client:
        assert client.get_prompt("support/triage").version == 1
        proxy.stop()
        calls = errors = 0
        slowest = 0.0
        ends = time.monotonic() + OUTAGE_SECONDS  # several TTLs: expired entries are served stale
        while time.monotonic() < ends:
            started = time.perf_counter()
            try:
                assert client.get_prompt("support/triage").compile(ticket="t") == "v1: t"
            except Exception:
                errors += 1
            slowest = max(slowest, time.perf_counter() - started)
            calls += 1
            time.sleep(0.005)
        assert errors == 0 and calls > 100
        assert slowest < 0.6  # at worst one quick revalidation attempt, never the retry deadline
        assert client.cache_stats.stale_served > 0

        services.label_move(prompt=prompt, label="production", version=2)
        proxy.start()  # the same port again
        wait_until(lambda: client.get_prompt("support/triage").version == 2, timeout=3, what="recovery")
