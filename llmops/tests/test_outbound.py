"""Outbound model calls go only where the rules allow: model ids are not addresses, redirects are not
followed, the vetted address is the connected address, and IPv6 wrappings of internal addresses are
refused like the address they carry. No test sends a packet beyond loopback."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.test import override_settings

from llmops.core.errors import ValidationFailed
from llmops.core.net import validate_outbound_url
from llmops.core.testing.fake_openai import FakeOpenAIServer, redirect, reply
from runs.calls import Failure, call_endpoint
from runs.tests.factories import ModelEndpointFactory
from runs.tests.helpers import make_endpoint, unique_model

PUBLIC_ADDRESS = "93.184.215.14"  # vetted as public; the tests never let a connection reach it


@pytest.fixture
def no_traffic_beyond_loopback(monkeypatch):
    """socket.create_connection refuses any address but loopback, and records every target."""
    real = socket.create_connection
    targets: list[str] = []

    def guarded(address, *args, **kwargs):
        host = address[0]
        targets.append(host)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return real(address, *args, **kwargs)  # a name: resolved by (a patched) getaddrinfo
        if not literal.is_loopback:
            raise ConnectionRefusedError(f"test guard: no traffic to {host}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return targets


def rebinding_dns(monkeypatch, answers: list[str]) -> list[str]:
    """getaddrinfo answers each name with the next address of ``answers`` (the last one repeats)."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def fake(host, port, *args, **kwargs):
        if not str(host).endswith(".test"):
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = answers[min(len(asked) - 1, len(answers) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


# -- model ids -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model_id",
    [
        "http://127.0.0.1:9/v1",
        "https://attacker.example/v1/chat/completions",
        "HTTP://attacker.example",
        "//attacker.example/v1",
        "../../admin",
        "org/../../x",
        "model id with spaces",
        "http:/attacker.example",
    ],
)
def test_a_model_id_that_is_an_address_is_refused(api, model_id):
    response = api.post("/api/v1/models", {"name": "m", "model_id": model_id}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "model_id"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model_id",
    [
        "meta-llama/Llama-3.1-8B-Instruct",
        "llama3.1:8b-instruct-q4_K_M",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "claude-3-5-sonnet@20240620",
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
        "gpt-4o",
    ],
)
def test_real_model_ids_are_accepted(api, model_id):
    response = api.post("/api/v1/models", {"name": "m", "model_id": model_id}, format="json")

    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_a_stored_url_model_id_never_reaches_that_url_with_the_platform_token(project, fake_openai):
    # No base_url: huggingface_hub would post to a model "id" that is a URL, with HUGGINGFACE_API_KEY.
    endpoint = ModelEndpointFactory(project=project, base_url="", model_id=f"{fake_openai.base_url}/chat/completions")

    with override_settings(HUGGINGFACE_API_KEY="hf_platform_token"):
        result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert isinstance(result, Failure) and (result.error_type, result.retryable) == ("configuration_error", False)
    assert fake_openai.total_calls() == 0


# -- redirects -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_redirect_is_a_failed_call_and_is_not_followed(project, fake_openai):
    endpoint = make_endpoint(project, fake_openai.base_url)
    with FakeOpenAIServer() as elsewhere:
        target = unique_model()
        fake_openai.script(endpoint.model_id, [redirect(f"{elsewhere.base_url}/chat/completions", code=307)])
        elsewhere.script(target, [reply("followed")])

        result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

        assert isinstance(result, Failure), result
        assert (result.error_type, result.retryable) == ("bad_request", False)
        assert "redirects are not followed" in result.message and "307" in result.message
        assert elsewhere.total_calls() == 0


# -- DNS: the vetted address is the connected address ---------------------------------------------------


@pytest.mark.django_db
@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_a_rebinding_name_cannot_reach_the_address_it_rebinds_to(
    project, fake_openai, monkeypatch, no_traffic_beyond_loopback
):
    # First answer public (passes the check), every later one loopback, where the fake server listens.
    asked = rebinding_dns(monkeypatch, [PUBLIC_ADDRESS, "127.0.0.1"])
    endpoint = make_endpoint(project, f"http://rebind.test:{fake_openai.port}/v1")

    result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert isinstance(result, Failure) and result.error_type == "connection_error", result
    assert fake_openai.total_calls() == 0
    assert no_traffic_beyond_loopback == [PUBLIC_ADDRESS]  # connected to what was vetted, nothing else
    assert asked == ["rebind.test"]  # resolved once


@pytest.mark.django_db
@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_a_name_resolving_to_an_internal_address_is_refused_at_connect_time(
    project, fake_openai, monkeypatch, no_traffic_beyond_loopback
):
    rebinding_dns(monkeypatch, ["127.0.0.1"])
    endpoint = make_endpoint(project, f"http://internal.test:{fake_openai.port}/v1")

    result = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert isinstance(result, Failure) and result.error_type == "configuration_error"
    assert "non-public address" in result.message
    assert fake_openai.total_calls() == 0 and no_traffic_beyond_loopback == []


@pytest.mark.django_db
def test_an_allow_listed_name_is_pinned_to_its_one_resolution(
    project, fake_openai, monkeypatch, no_traffic_beyond_loopback
):
    asked = rebinding_dns(monkeypatch, ["127.0.0.1", PUBLIC_ADDRESS])
    endpoint = make_endpoint(project, f"http://models.test:{fake_openai.port}/v1")

    with override_settings(MODEL_BASE_URL_ALLOWLIST=["models.test"]):
        first = call_endpoint(endpoint, model_id=endpoint.model_id, prompt="hi")

    assert first.text.startswith("echo:"), first
    assert asked == ["models.test"] and no_traffic_beyond_loopback == ["127.0.0.1"]
    [sent] = fake_openai.requests(endpoint.model_id)
    assert sent["headers"]["host"] == f"models.test:{fake_openai.port}"  # the name, not the address


@pytest.mark.django_db
@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_one_internal_address_among_public_ones_refuses_the_name(monkeypatch):
    real = socket.getaddrinfo

    def round_robin(host, port, *args, **kwargs):
        if host != "mixed.test":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_ADDRESS, port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", round_robin)
    with pytest.raises(ValidationFailed) as caught:
        validate_outbound_url("http://mixed.test/v1")
    assert caught.value.code == "forbidden_address" and "169.254.169.254" in caught.value.message


# -- IPv6 forms of internal addresses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "carries"),
    [
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4 of the metadata service
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo, client obfuscated
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64
        ("64:ff9b:1::a00:1", "10.0.0.1"),  # local-use NAT64
        ("::ffff:10.0.0.1", "10.0.0.1"),  # IPv4-mapped
        ("::7f00:1", "127.0.0.1"),  # IPv4-compatible
    ],
)
@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_ipv6_wrappings_are_unwrapped_and_refused(address, carries):
    with pytest.raises(ValidationFailed) as caught:
        validate_outbound_url(f"http://[{address}]:8000/v1")

    assert caught.value.code == "forbidden_address"


@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_6to4_of_a_public_address_is_allowed():
    assert validate_outbound_url("http://[2002:5db8:d70e::1]/v1")  # 93.184.215.14
