"""The fake OpenAI-compatible server, exercised over plain HTTP from the standard library."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from llmops.core.testing.fake_openai import (
    THREAD_NAME,
    FakeOpenAIServer,
    hang,
    huge_body,
    malformed_json,
    nul_reply,
    reply,
    status,
    truncated_body,
)


def _post(
    server: FakeOpenAIServer, body: Any, *, path: str = "/v1/chat/completions", timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request("POST", path, body=data, headers={"Content-Type": "application/json", "X-Test": "1"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _chat(server: FakeOpenAIServer, model: str, content: str = "hi", **kwargs: Any) -> tuple[int, dict, bytes]:
    return _post(server, {"model": model, "messages": [{"role": "user", "content": content}]}, **kwargs)


def _text(raw: bytes) -> str:
    return json.loads(raw)["choices"][0]["message"]["content"]


def _fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


def test_base_url_points_at_a_random_local_port() -> None:
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        assert first.base_url == f"http://127.0.0.1:{first.port}/v1"
        assert first.port != second.port


def test_default_chat_reply_echoes_the_last_user_message(fake_openai: FakeOpenAIServer) -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second question"},
    ]

    code, headers, raw = _post(fake_openai, {"model": "any", "messages": messages})

    assert code == 200
    assert headers["content-type"] == "application/json"
    data = json.loads(raw)
    assert data["object"] == "chat.completion"
    assert data["model"] == "any"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "echo: second question"}
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_text_completions_endpoint(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("text", [reply("world", prompt_tokens=2, completion_tokens=1, finish_reason="length")])

    code, _, raw = _post(fake_openai, {"model": "text", "prompt": "hello"}, path="/v1/completions")

    data = json.loads(raw)
    assert code == 200
    assert data["object"] == "text_completion"
    assert data["choices"][0]["text"] == "world"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    assert fake_openai.requests("text")[0]["path"] == "/v1/completions"


def test_models_endpoint_lists_scripted_models(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("b-model", [reply("x")])
    fake_openai.script("a-model", [reply("y")])
    connection = http.client.HTTPConnection("127.0.0.1", fake_openai.port, timeout=5)
    try:
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        data = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 200
    assert [m["id"] for m in data["data"]] == ["a-model", "b-model"]
    assert fake_openai.total_calls() == 0  # listing models is not a completion call


def test_unknown_route_is_404(fake_openai: FakeOpenAIServer) -> None:
    code, _, raw = _post(fake_openai, {"model": "m"}, path="/v1/embeddings")

    assert code == 404
    assert "no route" in json.loads(raw)["error"]["message"]


def test_script_steps_are_consumed_in_order_and_the_last_repeats(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("seq", [status(503), reply("one"), reply("two")])

    results = [_chat(fake_openai, "seq") for _ in range(4)]

    assert [code for code, _, _ in results] == [503, 200, 200, 200]
    assert [_text(raw) for _, _, raw in results[1:]] == ["one", "two", "two"]
    assert fake_openai.calls("seq") == 4
    assert fake_openai.calls("other") == 0


def test_scripts_are_per_model(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("a", [reply("from a")])

    assert _text(_chat(fake_openai, "a")[2]) == "from a"
    assert _text(_chat(fake_openai, "b", "plain")[2]) == "echo: plain"


def test_requests_record_body_and_headers(fake_openai: FakeOpenAIServer) -> None:
    _post(fake_openai, {"model": "rec", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9})

    [recorded] = fake_openai.requests("rec")
    assert recorded["path"] == "/v1/chat/completions"
    assert recorded["json"]["max_tokens"] == 9
    assert recorded["headers"]["x-test"] == "1"


def test_body_without_model_is_counted_under_none(fake_openai: FakeOpenAIServer) -> None:
    code, _, _ = _post(fake_openai, b"not json")

    assert code == 400
    assert fake_openai.calls(None) == 1
    assert fake_openai.requests(None)[0]["json"] is None


def test_reset_forgets_scripts_and_requests(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("r", [status(500)])
    _chat(fake_openai, "r")

    fake_openai.reset()

    assert fake_openai.calls("r") == 0
    assert fake_openai.requests("r") == []
    assert _chat(fake_openai, "r")[0] == 200


def test_script_rejects_empty_and_unknown_steps(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError):
        fake_openai.script("x", [])
    with pytest.raises(TypeError):
        fake_openai.script("x", ["reply"])  # type: ignore[list-item]


def test_status_step_sends_retry_after_and_body(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("limited", [status(429, retry_after=3)])
    fake_openai.script("custom", [status(400, body={"error": {"message": "nope"}})])
    fake_openai.script("html", [status(502, body="<html>bad gateway</html>")])

    code, headers, raw = _chat(fake_openai, "limited")
    assert (code, headers["retry-after"]) == (429, "3")
    assert json.loads(raw)["error"]["code"] == 429

    assert json.loads(_chat(fake_openai, "custom")[2]) == {"error": {"message": "nope"}}

    code, headers, raw = _chat(fake_openai, "html")
    assert (code, raw) == (502, b"<html>bad gateway</html>")
    assert headers["content-type"].startswith("text/plain")


def test_malformed_json_step(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("bad", [malformed_json()])

    code, headers, raw = _chat(fake_openai, "bad")

    assert (code, headers["content-type"]) == (200, "application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_truncated_body_step_closes_early(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("cut", [truncated_body()])

    with pytest.raises(http.client.IncompleteRead) as caught:
        _chat(fake_openai, "cut")

    assert caught.value.expected is not None and caught.value.expected > 0


def test_huge_body_step(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("huge", [huge_body(1_000_000)])

    code, headers, raw = _chat(fake_openai, "huge")

    assert code == 200
    assert int(headers["content-length"]) == len(raw) > 1_000_000
    assert _text(raw) == "x" * 1_000_000


def test_nul_reply_is_escaped_json(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("nul", [nul_reply()])

    raw = _chat(fake_openai, "nul")[2]

    assert b"\\u0000" in raw
    assert _text(raw) == "before\x00after"


def test_reply_delay(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("slow", [reply("late", delay=0.3)])

    started = time.perf_counter()
    assert _text(_chat(fake_openai, "slow")[2]) == "late"
    assert time.perf_counter() - started >= 0.3


def test_hang_outlasts_the_client_timeout(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("stuck", [hang(10)])

    with pytest.raises(TimeoutError):
        _chat(fake_openai, "stuck", timeout=0.3)

    assert fake_openai.calls("stuck") == 1


def test_shutdown_is_prompt_with_a_hang_in_flight() -> None:
    before = set(_fake_threads())
    with FakeOpenAIServer() as server:
        server.script("stuck", [hang(30)])
        client = threading.Thread(target=_swallow, args=(lambda: _chat(server, "stuck", timeout=30),), daemon=True)
        client.start()
        deadline = time.monotonic() + 5
        while server.calls("stuck") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.calls("stuck") == 1
        started = time.perf_counter()

    assert time.perf_counter() - started < 1.0
    assert set(_fake_threads()) <= before
    client.join(5)
    assert not client.is_alive()  # the hanging request was answered by a closed connection


def test_port_is_closed_after_exit() -> None:
    with FakeOpenAIServer() as server:
        port = server.port

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_concurrent_calls_consume_each_step_once(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script("busy", [reply(str(i), delay=0.05) for i in range(16)])

    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(lambda _: _text(_chat(fake_openai, "busy")[2]), range(16)))

    assert sorted(texts, key=int) == [str(i) for i in range(16)]
    assert fake_openai.calls("busy") == 16


def _swallow(call: Any) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):
        call()
