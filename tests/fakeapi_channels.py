"""A recording fake HTTP API server for channel tests (stdlib only), on 127.0.0.1 and a free port.

Routes map ``(METHOD, path_prefix)`` to a function of the recorded request that returns
``(status, json_body)`` or ``(status, json_body, headers)``. The longest matching prefix wins, so a
catch-all route can sit beside specific ones. Used for the X API v2, the Graph API and the Bot API.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[dict[str, Any]], tuple[Any, ...]]


class FakeAPI:
    """A threaded HTTP server that records every request and answers from a route table."""

    def __init__(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.routes = routes
        self.requests: list[dict[str, Any]] = []
        outer = self

        class _H(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                req: dict[str, Any] = {
                    "method": self.command,
                    "path": url.path,
                    "query": urllib.parse.parse_qs(url.query),
                    "headers": dict(self.headers),
                    "body": body,
                }
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("application/x-www-form-urlencoded"):
                    req["form"] = urllib.parse.parse_qs(body.decode())
                elif ctype.startswith("application/json") and body:
                    req["json"] = json.loads(body)
                outer.requests.append(req)
                matches = [
                    (p, fn)
                    for (m, p), fn in outer.routes.items()
                    if m == self.command and url.path.startswith(p)
                ]
                headers: dict[str, str] = {}
                if matches:
                    _, fn = max(matches, key=lambda item: len(item[0]))
                    answer = fn(req)
                    status, obj = answer[0], answer[1]
                    if len(answer) > 2:
                        headers = answer[2]
                else:
                    status, obj = 404, {"error": "no route", "path": url.path}
                out = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def calls(self, method: str, suffix: str) -> list[dict[str, Any]]:
        """Return the recorded requests with this method whose path ends with ``suffix``."""
        return [r for r in self.requests if r["method"] == method and r["path"].endswith(suffix)]
