"""A real HTTP server on a loopback address that stands in for a cluster's endpoint (or for an internal service a
seller points a cluster at): it counts the requests it gets and answers what the test says."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})


@dataclass
class FakeServer:
    host: str
    port: int
    answer: Answer
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Host header)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def fake_server(answer: Answer | None = None, host: str = "127.0.0.1", port: int = 0,
                tls: ssl.SSLContext | None = None) -> Iterator[FakeServer]:
    """``tls``: serve HTTPS with this server context."""
    state = FakeServer(host, 0, answer or Answer())

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            state.requests.append((self.command, self.path, self.headers.get("Host", "")))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = state.answer.body.encode()
            self.send_response(state.answer.status)
            for name, value in state.answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
