"""What a client gets from the front server itself: real gunicorn, started with the project's
docker/gunicorn.conf.py on a free port, answers requests it refuses before Django runs (an
over-long request line or header, a malformed request) with the JSON error envelope, as the
application answers everything else.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The limits the README quotes (docker/gunicorn.conf.py).
REQUEST_LINE_LIMIT = 4094
HEADER_FIELD_LIMIT = 8190
HEADER_COUNT_LIMIT = 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends raw bytes, reads the answer until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return int(status_line.split()[1]), headers, body


def _dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


def http_get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


@pytest.fixture(scope="module", params=["1", "4"], ids=["sync-worker", "gthread-worker"])
def gunicorn(request, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmops.settings_test",
        "GUNICORN_THREADS": request.param,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "llmops.wsgi:application",
                "--config",
                "docker/gunicorn.conf.py",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{port}",
                "--no-control-socket",  # its default path is per user: parallel test runs would share it
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                status, _, _ = exchange(port, http_get("/api/v1/nope"))
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn did not answer in time:\n{log.read_text()}") from None
                time.sleep(0.2)
                continue
            assert status == 404, log.read_text()
            break
        yield {"port": port, "log": log, "threads": request.param}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def assert_envelope(answer, status: int, error_type: str, code: str) -> dict:
    got, headers, body = answer
    assert got == status, (got, body[:300])
    assert headers["content-type"] == "application/json", headers
    assert int(headers.get("content-length", len(body))) == len(body)
    document = json.loads(body)
    assert document["error"]["type"] == error_type and document["error"]["code"] == code, document
    assert set(document["error"]) == {"type", "message", "param", "code"}
    assert document["request_id"] == headers["x-request-id"] and len(document["request_id"]) == 32
    return document["error"]


def test_the_configured_worker_class_serves_the_application(gunicorn):
    expected = "JsonErrorThreadWorker" if gunicorn["threads"] != "1" else "JsonErrorSyncWorker"
    assert f"llmops.gunicorn_workers.{expected}" in gunicorn["log"].read_text()
    # Django answers what gunicorn lets through: its own JSON 404 and the URL guard's 400.
    assert_envelope(exchange(gunicorn["port"], http_get("/api/v1/nope")), 404, "not_found", "not_found")
    error = assert_envelope(
        exchange(gunicorn["port"], http_get("/api/v1/prompts/by-name/a%00b")),
        400,
        "validation_error",
        "invalid_characters",
    )
    assert error["param"] == "name"


def test_an_over_long_request_line_is_a_json_414(gunicorn):
    port = gunicorn["port"]
    # 10 KB of query string: gunicorn refuses it before Django runs.
    error = assert_envelope(
        exchange(port, http_get("/api/v1/prompts?tag=" + "a" * 10_000)), 414, "uri_too_long", "request_line_too_long"
    )
    assert "request line" in error["message"] and "request body" in error["message"]
    # The README's limit, to the byte: a request line of exactly the limit reaches Django.
    prefix = "GET /api/v1/nope?x="
    fill = REQUEST_LINE_LIMIT - len(prefix) - len(" HTTP/1.1")
    assert exchange(port, http_get("/api/v1/nope?x=" + "a" * fill))[0] == 404
    assert exchange(port, http_get("/api/v1/nope?x=" + "a" * (fill + 1)))[0] == 414


def test_an_over_long_header_or_too_many_headers_is_a_json_431(gunicorn):
    port = gunicorn["port"]
    assert_envelope(
        exchange(port, http_get("/api/v1/nope", "X-Big: " + "a" * 10_000)),
        431,
        "header_fields_too_large",
        "header_fields_too_large",
    )
    many = [f"X-Extra-{index}: 1" for index in range(HEADER_COUNT_LIMIT + 1)]
    assert_envelope(
        exchange(port, http_get("/api/v1/nope", *many)), 431, "header_fields_too_large", "header_fields_too_large"
    )
    # Within the limits, Django answers.
    assert exchange(port, http_get("/api/v1/nope", "X-Big: " + "a" * (HEADER_FIELD_LIMIT - 100)))[0] == 404
    assert exchange(port, http_get("/api/v1/nope", *many[: HEADER_COUNT_LIMIT - 5]))[0] == 404


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT A REQUEST\r\n\r\n",
        b"GET /api/v1/nope HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET /api/v1/nope HTTP/1.1\r\nHost: localhost\r\nX-Api-Key: abc\x00def\r\n\r\n",
        b"GET /api/v1/nope HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n",
    ],
    ids=["garbage", "http-version", "nul-in-header", "space-in-header-name"],
)
def test_a_malformed_request_is_a_json_400(gunicorn, raw):
    assert_envelope(exchange(gunicorn["port"], raw), 400, "validation_error", "malformed_request")
