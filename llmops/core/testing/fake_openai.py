"""A scriptable OpenAI-compatible HTTP server for tests.

    with FakeOpenAIServer() as server:
        server.script("flaky", [status(429, retry_after=2), reply("ok")])
        ...  # point a client at server.base_url ("http://127.0.0.1:PORT/v1")
        assert server.calls("flaky") == 2

Each request for a scripted model consumes the next step of its script; the last step repeats once the
script runs out. Unscripted models get a deterministic "echo: <last user message>" reply.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

THREAD_NAME = "fake-openai"
_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    delay: float = 0.0


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: float | str | None = None
    body: dict | str | bytes | None = None


@dataclass(frozen=True)
class Hang:
    """Send nothing for ``seconds`` (or until the server stops or is reset), then close the connection."""

    seconds: float


@dataclass(frozen=True)
class MalformedJson:
    pass


@dataclass(frozen=True)
class TruncatedBody:
    """Announce a Content-Length larger than the bytes sent, then close the connection."""


@dataclass(frozen=True)
class HugeBody:
    """A valid reply whose text is ``n_bytes`` characters long."""

    n_bytes: int


@dataclass(frozen=True)
class Redirect:
    """Answer ``code`` with a Location header, as a server that moved (or a hostile one) would."""

    location: str
    code: int = 302


Step = Reply | Status | Hang | MalformedJson | TruncatedBody | HugeBody | Redirect
_STEP_TYPES = (Reply, Status, Hang, MalformedJson, TruncatedBody, HugeBody, Redirect)


def reply(
    text: str,
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    finish_reason: str = "stop",
    delay: float = 0.0,
) -> Reply:
    return Reply(text, prompt_tokens, completion_tokens, finish_reason, delay)


def nul_reply(text: str = "before\u0000after") -> Reply:
    """A reply whose text contains U+0000, which JSON carries as an escape but databases may reject."""
    return Reply(text)


def status(code: int, *, retry_after: float | str | None = None, body: dict | str | bytes | None = None) -> Status:
    return Status(code, retry_after, body)


def redirect(location: str, *, code: int = 302) -> Redirect:
    return Redirect(location, code)


def hang(seconds: float) -> Hang:
    return Hang(seconds)


def malformed_json() -> MalformedJson:
    return MalformedJson()


def truncated_body() -> TruncatedBody:
    return TruncatedBody()


def huge_body(n_bytes: int) -> HugeBody:
    return HugeBody(n_bytes)


class FakeOpenAIServer:
    """Real HTTP server on 127.0.0.1 with a random free port, served from daemon threads."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._generation = 0
        self._scripts: dict[str, list[Step]] = {}
        self._cursors: dict[str, int] = {}
        self._requests: dict[str | None, list[dict[str, Any]]] = {}
        self._httpd: _Server | None = None
        self._serve_thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("the fake OpenAI server is already running")
        self._stop.clear()
        self._httpd = _Server((self._host, 0), _Handler, self)
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=THREAD_NAME, daemon=True
        )
        self._serve_thread.start()
        return self

    def stop(self, *, timeout: float = 5.0) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()  # releases handlers that are hanging or delaying
        httpd.shutdown()
        httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout)
        httpd.join_handlers(timeout)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake OpenAI server is not running")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    # -- scripting and inspection ----------------------------------------------------------------------

    def script(self, model: str, steps: list[Step]) -> None:
        if not steps:
            raise ValueError("a script needs at least one step")
        for step in steps:
            if not isinstance(step, _STEP_TYPES):
                raise TypeError(f"not a fake server step: {step!r}")
        with self._lock:
            self._scripts[model] = list(steps)
            self._cursors[model] = 0

    def calls(self, model: str | None) -> int:
        """Completion requests received for ``model`` (None: requests without a readable model)."""
        with self._lock:
            return len(self._requests.get(model, []))

    def total_calls(self) -> int:
        with self._lock:
            return sum(len(requests) for requests in self._requests.values())

    def requests(self, model: str | None) -> list[dict[str, Any]]:
        """Requests received for ``model``: ``{"path", "headers" (lower-case names), "json"}`` each."""
        with self._lock:
            return copy.deepcopy(self._requests.get(model, []))

    def reset(self) -> None:
        """Forget scripts and recorded requests, and release handlers still hanging from earlier steps."""
        with self._lock:
            self._scripts.clear()
            self._cursors.clear()
            self._requests.clear()
            self._generation += 1

    # -- used by the request handler -------------------------------------------------------------------

    def _record(self, model: str | None, record: dict[str, Any]) -> tuple[Step | None, int]:
        with self._lock:
            self._requests.setdefault(model, []).append(record)
            step: Step | None = None
            if model is not None and model in self._scripts:
                steps = self._scripts[model]
                cursor = self._cursors[model]
                step = steps[min(cursor, len(steps) - 1)]
                self._cursors[model] = cursor + 1
            return step, self._generation

    def _known_models(self) -> list[str]:
        with self._lock:
            return sorted(self._scripts)

    def _wait(self, seconds: float, generation: int) -> bool:
        """Sleep in short steps; False when the server stopped or was reset meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._stop.is_set() or self._generation != generation:
                return False
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        return not self._stop.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # handlers are joined explicitly, with a timeout

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeOpenAIServer):
        self.fake = fake
        self._handler_threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._handle_and_forget,
            args=(request, client_address),
            name=f"{THREAD_NAME}-handler",
            daemon=True,
        )
        with self._threads_lock:
            self._handler_threads.add(thread)
        thread.start()

    def _handle_and_forget(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._threads_lock:
                self._handler_threads.discard(threading.current_thread())

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and disconnect are part of the tests, not errors worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection keeps call counting exact
    server_version = "FakeOpenAI/1.0"
    timeout = 10  # socket timeout, so a client that never sends its body cannot pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.server.fake._known_models()]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_body(404, f"no route for GET {self.path}"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, _error_body(404, f"no route for POST {self.path}"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else None
        record = {
            "path": path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "json": body,
        }
        step, generation = self.server.fake._record(model, record)
        if not isinstance(body, dict):
            self._send_json(400, _error_body(400, "request body is not a JSON object"))
            return
        chat = path == "/v1/chat/completions"
        try:
            self._perform(step or _echo_step(body, chat=chat), body, chat=chat, generation=generation)
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client gave up first

    def _perform(self, step: Step, body: dict, *, chat: bool, generation: int) -> None:
        fake = self.server.fake
        model = str(body.get("model"))
        match step:
            case Reply():
                if step.delay and not fake._wait(step.delay, generation):
                    self.close_connection = True
                    return
                self._send_json(200, _completion_body(step, body, chat=chat))
            case Status():
                headers = {}
                if step.retry_after is not None:
                    headers["Retry-After"] = str(step.retry_after)
                payload = step.body if step.body is not None else _error_body(step.code, f"fake error {step.code}")
                if isinstance(payload, dict):
                    self._send_json(step.code, payload, headers)
                else:
                    data = payload.encode() if isinstance(payload, str) else payload
                    self._send_bytes(step.code, data, "text/plain; charset=utf-8", headers)
            case Redirect():
                self._send_bytes(step.code, b"", "text/plain", {"Location": step.location})
            case Hang():
                fake._wait(step.seconds, generation)
                self.close_connection = True
            case MalformedJson():
                self._send_bytes(
                    200,
                    b'{"id": "fake", "choices": [{"message": {"content": "unterminated',
                    "application/json",
                )
            case TruncatedBody():
                data = json.dumps(_completion_body(reply("this body is cut short"), body, chat=chat)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) + 1000))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            case HugeBody():
                self._send_json(200, _completion_body(reply("x" * step.n_bytes), body, chat=chat))
            case _:
                raise TypeError(f"unknown fake server step for model {model!r}: {step!r}")

    def _send_json(self, code: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(code, json.dumps(payload).encode(), "application/json", headers)

    def _send_bytes(self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _echo_step(body: dict, *, chat: bool) -> Reply:
    if chat:
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        user_texts = [_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        last = user_texts[-1] if user_texts else ""
    else:
        last = _text(body.get("prompt"))
    return Reply(f"echo: {last}")


def _completion_body(step: Reply, body: dict, *, chat: bool) -> dict[str, Any]:
    prompt_tokens = step.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = max(1, _count_tokens(_prompt_text(body)))
    completion_tokens = step.completion_tokens
    if completion_tokens is None:
        completion_tokens = _count_tokens(step.text)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    common = {"id": f"fake-{time.monotonic_ns()}", "created": int(time.time()), "model": body.get("model")}
    if chat:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": step.text},
            "finish_reason": step.finish_reason,
            "logprobs": None,
        }
        return {**common, "object": "chat.completion", "choices": [choice], "usage": usage}
    choice = {"index": 0, "text": step.text, "finish_reason": step.finish_reason, "logprobs": None}
    return {**common, "object": "text_completion", "choices": [choice], "usage": usage}


def _prompt_text(body: dict) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        return " ".join(_text(m.get("content")) for m in messages if isinstance(m, dict))
    return _text(body.get("prompt"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(part.get("text")) if isinstance(part, dict) else _text(part) for part in content)
    return "" if content is None else str(content)


def _count_tokens(text: str) -> int:
    # The usual rule of thumb for English with BPE tokenizers: about four characters per token.
    return math.ceil(len(text) / 4)


def _error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "fake_error", "code": code}}
