"""A reusable recording fake HTTP server on 127.0.0.1 (stdlib only) that speaks a provider's REST API.

Routes map ``(METHOD, path_prefix)`` to a handler of the recorded request returning ``Reply`` (or a
``(status, body)`` tuple; a dict/list body is sent as JSON, bytes/str as they are). The longest
matching prefix wins. ``script(method, prefix, *replies)`` queues answers given before the handler
is asked (e.g. 500, 500, then the handler's 201), which is how tests make a provider fail on cue.
A reply with ``delay`` sleeps first, so a client timeout can be provoked.

    with FakeAPI({("POST", "/2010-04-01/Accounts/"): twilio_created}) as api:
        api.script("POST", "/2010-04-01/Accounts/", Reply(500, {"message": "boom"}))
        ... api.url ... api.requests[0].form["Body"]
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None

    def header(self, name: str) -> str | None:
        """Return a header case-insensitively."""
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)


@dataclass
class Reply:
    """An answer: status, body (dict/list → JSON, bytes/str as is), headers, optional delay."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str | None = None


Handler = Callable[[Recorded], "Reply | tuple[int, Any]"]


class FakeAPI:
    """A threaded HTTP server that records every request and answers from routes and scripts."""

    def __init__(self, routes: Mapping[tuple[str, str], Handler] | None = None) -> None:
        self.routes: dict[tuple[str, str], Handler] = dict(routes or {})
        self.requests: list[Recorded] = []
        self.scripts: dict[tuple[str, str], deque[Reply]] = {}
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle's algorithm the body waited for the
            # client's delayed ACK, 40 ms per call, which no real provider API adds.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                outer._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def route(self, method: str, prefix: str, handler: Handler) -> None:
        """Add or replace a route."""
        self.routes[(method, prefix)] = handler

    def script(self, method: str, prefix: str, *replies: Reply) -> None:
        """Queue replies served, in order, before the route's handler is asked again."""
        with self._lock:
            self.scripts.setdefault((method, prefix), deque()).extend(replies)

    def requests_to(self, method: str, prefix: str) -> list[Recorded]:
        """Return the recorded requests for a method and path prefix."""
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def _answer(self, req: Recorded) -> Reply:
        with self._lock:
            scripted = [
                k for k, q in self.scripts.items() if q and k[0] == req.method and req.path.startswith(k[1])
            ]
            if scripted:
                key = max(scripted, key=lambda k: len(k[1]))
                return self.scripts[key].popleft()
        matches = [
            (p, fn) for (m, p), fn in self.routes.items() if m == req.method and req.path.startswith(p)
        ]
        if not matches:
            return Reply(404, {"error": "no route", "path": req.path})
        _, fn = max(matches, key=lambda item: len(item[0]))
        answer = fn(req)
        return answer if isinstance(answer, Reply) else Reply(answer[0], answer[1])

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(h.path)
        req = Recorded(h.command, url.path, urllib.parse.parse_qs(url.query), dict(h.headers.items()), body)
        ctype = h.headers.get("Content-Type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            req.form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        elif ctype.startswith("application/json") and body:
            req.json = json.loads(body)
        with self._lock:
            self.requests.append(req)
        reply = self._answer(req)
        if reply.delay:
            time.sleep(reply.delay)
        if isinstance(reply.body, bytes | str):
            out = reply.body.encode() if isinstance(reply.body, str) else reply.body
            ctype = reply.content_type or "application/octet-stream"
        else:
            out = json.dumps(reply.body if reply.body is not None else {}).encode()
            ctype = reply.content_type or "application/json"
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(out)))
            for key, value in reply.headers.items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
