"""An HTTP proxy in front of the live server that can be stopped (an outage) and can inject faults.

with FaultProxy(live_server.url) as proxy:
    proxy.fail("POST", "/api/v1/run", status=503, retry_after=0.2)   # answered by the proxy, not forwarded
    proxy.fail("POST", "/api/v1/run", drop=True)   # forwarded, then the connection closes unanswered
    proxy.stop(); ...; proxy.start()               # the port refuses connections in between
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


@dataclass(frozen=True)
class Fault:
    method: str
    path: str
    status: int | None = None
    retry_after: float | None = None
    drop: bool = False


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    status: int | None  # None: dropped
    body_bytes: int


class FaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = 0
        self.seen: list[Seen] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=30.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, method: str, path: str, *, status: int | None = None, retry_after: float | None = None,
             drop: bool = False) -> None:  # fmt: skip
        """The next request matching ``method`` and ``path`` (a prefix) meets this fault, once."""
        with self._lock:
            self._faults.append(Fault(method, path, status, retry_after, drop))

    def requests(self, method: str, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == method and seen.path.startswith(path)]

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: stopping leaves nothing half-open

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._take(self.command, self.path)
                headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
                if fault is not None and fault.status is not None:
                    payload = json.dumps({"error": {"type": "unavailable", "message": "injected", "code": "test"}})
                    # Recorded before answering: the caller may look as soon as it has the answer.
                    proxy.seen.append(Seen(self.command, self.path, headers, fault.status, len(payload)))
                    self.send_response(fault.status)
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", f"{fault.retry_after:g}")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload.encode())
                    return
                answer = proxy._http.request(self.command, proxy.target + self.path, headers=headers, content=body)
                if fault is not None and fault.drop:
                    proxy.seen.append(Seen(self.command, self.path, headers, None, 0))
                    self.close_connection = True
                    return  # the server did the work; the caller never hears of it
                proxy.seen.append(Seen(self.command, self.path, headers, answer.status_code, len(answer.content)))
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until ``start()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.method == method and path.startswith(fault.path):
                    return self._faults.pop(index)
        return None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._http.close()
