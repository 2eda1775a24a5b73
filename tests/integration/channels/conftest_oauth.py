"""OAuth2 mail peers on 127.0.0.1: token server, Dovecot and aiosmtpd with XOAUTH2, a Gmail-like IMAP.

- :class:`FakeOAuth` is the provider's OAuth2 server over real HTTP: the token endpoint (refresh,
  authorization-code and device-code grants, RFC 6749/8628), the device authorization and the
  authorization endpoints, and the token-introspection endpoint Dovecot's ``passdb oauth2`` asks.
- ``dovecot_oauth``: Dovecot 2.3 with ``auth_mechanisms = ... xoauth2`` whose oauth2 passdb
  introspects tokens at :class:`FakeOAuth` (and the passwd-file of RECIPES.md §1 for passwords);
  built by conftest_mail's ``running_dovecot``.
- ``smtp_oauth``: aiosmtpd whose ``AUTH XOAUTH2`` checks the token with the same server and, like
  Gmail, answers a refused token with a base64 JSON challenge before its 535.
- :class:`ScriptedImap`: an IMAP server replaying a provider's real answers (Gmail, Microsoft 365),
  for the failures Dovecot cannot produce (app password needed, IMAP switched off).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import socket
import socketserver
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.channels.conftest_mail import USER, Mailbox, free_port, running_dovecot

CLIENT_ID, CLIENT_SECRET = "aduan-test-client.apps.example.test", "client-secret-xyz"
REFRESH_TOKEN = "1//refresh-token-of-the-office"
SCOPE = "https://mail.google.com/"


class FakeOAuth:
    """A provider's OAuth2 server on 127.0.0.1 that issues, checks and expires tokens.

    ``requests`` records every request (path, form); ``issued`` every access token in order.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                url = urllib.parse.urlsplit(self.path)
                form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
                query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                with outer.lock:
                    outer.requests.append({"path": url.path, "form": form, "query": query})
                    status, headers, data = outer.route(url.path, form, query, dict(self.headers))
                out = json.dumps(data).encode() if data is not None else b""
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        """Forget every token and request; the next tokens live an hour and carry ``SCOPE``."""
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.active: set[str] = set()
        self.expires_in: list[int] = []  # lifetimes of the next tokens, then 3600
        self.scope = SCOPE
        self.email = USER
        self.refresh_tokens = {REFRESH_TOKEN}
        self.token_error: str | None = None
        self.device_pending = 1  # polls answered authorization_pending before the grant
        self.codes: dict[str, dict[str, str]] = {}

    def expire(self, token: str) -> None:
        """The token's lifetime is over: introspection says inactive from now on."""
        with self.lock:
            self.active.discard(token)

    def token_requests(self) -> list[dict[str, str]]:
        return [r["form"] for r in self.requests if r["path"] == "/token"]

    def _issue(self) -> dict[str, Any]:
        token = f"ya29.test-{len(self.issued) + 1}-{secrets.token_hex(4)}"
        self.issued.append(token)
        self.active.add(token)
        life = self.expires_in.pop(0) if self.expires_in else 3600
        rotated = f"1//rotated-{len(self.issued)}"
        self.refresh_tokens.add(rotated)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": life,
            "scope": self.scope,
            "refresh_token": rotated,
        }

    def route(
        self, path: str, form: dict[str, str], query: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        if path == "/introspect":  # Dovecot: GET with "Authorization: Bearer <token>"
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            if token in self.active:
                return 200, {}, {"active": True, "email": self.email, "scope": self.scope}
            return 200, {}, {"active": False}
        if path == "/device":
            return (
                200,
                {},
                {
                    "device_code": "device-code-1",
                    "user_code": "ABCD-EFGH",
                    "verification_uri": "https://microsoft.example.test/devicelogin",
                    "expires_in": 900,
                    "interval": 0,
                    "message": "To sign in, use a web browser to open the page ...",
                },
            )
        if path == "/authorize":  # the browser's visit: consent given, back to the redirect URI
            code = secrets.token_hex(8)
            self.codes[code] = query
            target = f"{query['redirect_uri']}?code={code}&state={query['state']}&scope={SCOPE}"
            return 302, {"Location": target}, None
        if path != "/token":
            return 404, {}, {"error": "not_found"}
        if form.get("client_id") != CLIENT_ID:
            return (
                401,
                {},
                {"error": "invalid_client", "error_description": "The OAuth client was not found."},
            )
        if self.token_error:
            return (
                400,
                {},
                {"error": self.token_error, "error_description": "Token has been expired or revoked."},
            )
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {}, {"error": "invalid_grant", "error_description": "Bad Request"}
            return 200, {}, self._issue()
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if self.device_pending > 0:
                self.device_pending -= 1
                return 400, {}, {"error": "authorization_pending"}
            return 200, {}, self._issue()
        if grant == "authorization_code":
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
                return 400, {}, {"error": "invalid_grant"}
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if asked.get("code_challenge") != challenge:
                return 400, {}, {"error": "invalid_grant", "error_description": "PKCE mismatch"}
            return 200, {}, self._issue()
        return 400, {}, {"error": "unsupported_grant_type"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[FakeOAuth]:
    server = FakeOAuth()
    yield server
    server.close()


@pytest.fixture
def oauth(oauth_server: FakeOAuth) -> FakeOAuth:
    """The session's OAuth2 server, with no token issued yet."""
    with oauth_server.lock:
        oauth_server.reset()
    return oauth_server


@pytest.fixture(scope="session")
def dovecot_oauth(oauth_server: FakeOAuth) -> Iterator[dict[str, Any]]:
    """Dovecot on 127.0.0.1 taking XOAUTH2 (tokens checked at ``oauth_server``) and PLAIN (bot/secret)."""
    with running_dovecot(
        "aduan-dovecot-oauth-", oauth2_introspection_url=f"{oauth_server.url}/introspect"
    ) as server:
        yield server


def kick(server: dict[str, Any]) -> None:
    """End every IMAP session of the user on the server (as Microsoft 365 does when a token expires)."""
    subprocess.run(
        ["doveadm", "-c", f"{server['dir']}/dovecot.conf", "kick", USER],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def oauth_mailbox(dovecot_oauth: dict[str, Any]) -> Mailbox:
    """A new, empty folder on the OAuth Dovecot (filled through a password session, as in conftest_mail)."""
    box = Mailbox(dovecot_oauth, f"o{secrets.token_hex(5)}")
    with box.client() as c:
        c.create_folder(box.folder)
    return box


@pytest.fixture
def smtp_oauth(oauth_server: FakeOAuth) -> Iterator[Any]:
    """aiosmtpd taking ``AUTH XOAUTH2`` with tokens ``oauth_server`` issued, and PLAIN/LOGIN bot/smtp-secret.

    ``.refuse_with`` set to a provider's real answer (e.g. Gmail's 534 5.7.9) makes every AUTH fail so.
    """
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

    class Handler:
        def __init__(self) -> None:
            self.messages: list[dict[str, Any]] = []
            self.refuse_with: str | None = None
            self.logins: list[str] = []

        async def handle_AUTH(self, server: SMTP, session: Any, envelope: Any, args: list[str]) -> Any:
            if self.refuse_with:
                return self.refuse_with
            return MISSING  # the mechanism's own method decides

        async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
            blob = args[1] if len(args) > 1 else ""
            if not blob:
                response = await server.challenge_auth("")
                if not isinstance(response, bytes):
                    return AuthResult(success=False, handled=True)
                raw = response
            else:
                raw = base64.b64decode(blob)
            fields = dict(part.split("=", 1) for part in raw.decode().split("\x01") if "=" in part)
            token = fields.get("auth", "").removeprefix("Bearer ")
            with oauth_server.lock:
                ok = token in oauth_server.active and fields.get("user") == oauth_server.email
            if ok:
                self.logins.append(token)
                return AuthResult(success=True, auth_data=fields.get("user"))
            # Gmail: a JSON challenge first; the client answers with an empty line, then 535.
            error = {"status": "401", "schemes": "bearer", "scope": SCOPE}
            await server.challenge_auth(json.dumps(error))
            return AuthResult(
                success=False,
                handled=False,
                message="535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
                "535 5.7.8  https://support.google.com/mail/?p=BadCredentials",
            )

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            raw = envelope.original_content or envelope.content
            self.messages.append(
                {
                    "raw": raw,
                    "msg": message_from_bytes(raw, policy=policy.default),
                    "user": session.auth_data if session.authenticated else None,
                }
            )
            return "250 2.0.0 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: Any, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"smtp-secret"
        return AuthResult(success=ok, handled=False)

    handler = Handler()
    ctl = Controller(
        handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator, auth_require_tls=False
    )
    ctl.start()
    handler.host, handler.port = ctl.hostname, ctl.port  # type: ignore[attr-defined]
    yield handler
    ctl.stop()


class ScriptedImap:
    """An IMAP server that answers sign-in as a given provider does (their real response lines).

    ``login`` is the tagged answer to LOGIN (``"OK ..."`` or ``"NO ..."``); ``xoauth2`` is a pair
    (challenge JSON or None, tagged answer) for AUTHENTICATE XOAUTH2; ``select`` the tagged answer
    to SELECT/EXAMINE (Microsoft 365 signs in and then says ``BAD User is authenticated but not
    connected.``).
    """

    def __init__(
        self,
        *,
        greeting: str = "* OK Gimap ready for requests from 127.0.0.1 a1mb123456",
        capabilities: str = "IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 "
        "XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER",
        login: str = "OK bot@example.test authenticated (Success)",
        xoauth2: tuple[dict[str, str] | None, str] = (None, "OK bot@example.test authenticated (Success)"),
        select: str = "OK [READ-ONLY] INBOX selected. (Success)",
    ) -> None:
        self.greeting, self.capabilities = greeting, capabilities
        self.login, self.xoauth2, self.select = login, xoauth2, select
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                send = self.wfile.write
                send(f"{outer.greeting}\r\n".encode())
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    parts = line.decode().strip().split(" ")
                    tag, cmd = parts[0], parts[1].upper() if len(parts) > 1 else ""
                    if cmd == "CAPABILITY":
                        send(f"* CAPABILITY {outer.capabilities}\r\n{tag} OK Success\r\n".encode())
                    elif cmd == "LOGIN":
                        send(f"{tag} {outer.login}\r\n".encode())
                    elif cmd == "AUTHENTICATE":
                        send(b"+ \r\n")
                        self.rfile.readline()
                        challenge, answer = outer.xoauth2
                        if challenge is not None:
                            send(b"+ " + base64.b64encode(json.dumps(challenge).encode()) + b"\r\n")
                            self.rfile.readline()
                        send(f"{tag} {answer}\r\n".encode())
                    elif cmd in ("SELECT", "EXAMINE"):
                        if outer.select.startswith("OK"):
                            send(b"* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n")
                        send(f"{tag} {outer.select}\r\n".encode())
                    elif cmd == "LOGOUT":
                        send(f"* BYE LOGOUT Requested\r\n{tag} OK 73 good day (Success)\r\n".encode())
                        return
                    else:
                        send(f"{tag} OK Success\r\n".encode())

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def scripted_imap(**kwargs: Any) -> Iterator[ScriptedImap]:
    server = ScriptedImap(**kwargs)
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    """A port where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
