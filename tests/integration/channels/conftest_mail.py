"""Real mail peers on 127.0.0.1 for the e-mail tests: Dovecot IMAP, aiosmtpd SMTP, a cuttable TCP proxy.

Import the fixtures into a test module (``from tests.integration.channels.conftest_mail import dovecot``).
Dovecot follows RECIPES.md §1 (root and non-root), aiosmtpd §2. Ports are always free ones.
:func:`running_dovecot` is the one Dovecot builder; conftest_oauth's XOAUTH2 Dovecot uses it too.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.conftest import missing_dependency

USER, PASSWORD = "bot@example.test", "secret"


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> None:
    """Wait until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early rc={proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"port {port} not listening")


@contextlib.contextmanager
def running_dovecot(
    prefix: str = "aduan-dovecot-", oauth2_introspection_url: str | None = None
) -> Iterator[dict[str, Any]]:
    """Start a throwaway Dovecot on 127.0.0.1:<free port> with user bot@example.test / secret (PLAIN, LOGIN).

    The one place the test Dovecot is configured (RECIPES.md §1, root and non-root). With
    ``oauth2_introspection_url`` it also takes XOAUTH2 and OAUTHBEARER: an oauth2 passdb, asked
    first, introspects the bearer token at that URL; failed logins are answered without delay.
    Yields the server's host, port, user, password and directory; stops it and removes it after.
    """
    if not shutil.which("dovecot"):
        missing_dependency("dovecot-imapd")
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o755)  # the mail uid must traverse it
    port = free_port()
    is_root = os.geteuid() == 0
    me = pwd.getpwuid(os.geteuid()).pw_name
    mail_uid = "65534" if is_root else str(os.geteuid())
    mail_gid = "65534" if is_root else str(os.getegid())
    oauth = oauth2_introspection_url is not None
    mechanisms = "plain login xoauth2 oauthbearer" if oauth else "plain login"
    failure_delay = "\n        auth_failure_delay = 0" if oauth else ""
    oauth_passdb = (
        f"""
        passdb {{
          driver = oauth2
          mechanisms = xoauth2 oauthbearer
          args = {root}/oauth2.conf.ext
        }}"""
        if oauth
        else ""
    )
    nonroot = (
        ""
        if is_root
        else textwrap.dedent(f"""
        default_internal_user = {me}
        default_internal_group = {grp.getgrgid(os.getegid()).gr_name}
        default_login_user = {me}
        service anvil {{
          chroot =
        }}""")
    )
    conf = (
        textwrap.dedent(f"""
        base_dir = {root}/run
        state_dir = {root}/state
        log_path = {root}/dovecot.log
        protocols = imap
        listen = 127.0.0.1
        ssl = no
        disable_plaintext_auth = no
        auth_mechanisms = {mechanisms}{failure_delay}
        mail_location = maildir:{root}/mail/%u/Maildir
        first_valid_uid = 1{oauth_passdb}
        passdb {{
          driver = passwd-file
          args = scheme=PLAIN username_format=%u {root}/users
        }}
        userdb {{
          driver = static
          args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
        }}
        service imap-login {{
          chroot = {"login" if is_root else ""}
          inet_listener imap {{
            address = 127.0.0.1
            port = {port}
          }}
          inet_listener imaps {{
            port = 0
          }}
        }}""")
        + nonroot
    )
    for sub in ("run", "state", "mail"):
        os.makedirs(f"{root}/{sub}")
    if is_root:
        os.chown(f"{root}/mail", 65534, 65534)
    with open(f"{root}/dovecot.conf", "w") as f:
        f.write(conf)
    if oauth:
        with open(f"{root}/oauth2.conf.ext", "w") as f:
            f.write(
                textwrap.dedent(f"""
                introspection_mode = auth
                introspection_url = {oauth2_introspection_url}
                username_attribute = email
                active_attribute = active
                active_value = true
                """)
            )
    with open(f"{root}/users", "w") as f:
        f.write(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    proc = subprocess.Popen(
        ["dovecot", "-F", "-c", f"{root}/dovecot.conf"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port, proc)
        yield {"host": "127.0.0.1", "port": port, "user": USER, "password": PASSWORD, "dir": root}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        with contextlib.suppress(OSError):  # kept for a look after a failure
            shutil.copy(f"{root}/dovecot.log", os.path.join(tempfile.gettempdir(), f"{prefix}last.log"))
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[dict[str, Any]]:
    """A throwaway Dovecot on 127.0.0.1:<free port> with user bot@example.test / secret."""
    with running_dovecot() as server:
        yield server


class Mailbox:
    """A fresh folder of the Dovecot user for one test, with helpers to put mail in and look at it."""

    def __init__(self, server: dict[str, Any], folder: str) -> None:
        self.server, self.folder = server, folder
        self.host, self.port = server["host"], server["port"]

    def client(self) -> IMAPClient:
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        c.login(USER, PASSWORD)
        return c

    def append(self, eml: bytes, folder: str | None = None) -> None:
        with self.client() as c:
            c.append(folder or self.folder, eml)

    def flags(self) -> dict[int, tuple[bytes, ...]]:
        with self.client() as c:
            c.select_folder(self.folder, readonly=True)
            return dict(c.get_flags(c.search(["ALL"])))

    def count(self, folder: str | None = None) -> int:
        with self.client() as c:
            return int(c.folder_status(folder or self.folder, [b"MESSAGES"])[b"MESSAGES"])


@pytest.fixture
def mailbox(dovecot: dict[str, Any]) -> Mailbox:
    """A new, empty folder on the session's Dovecot (tests never see each other's mail)."""
    folder = f"t{uuid.uuid4().hex[:10]}"
    box = Mailbox(dovecot, folder)
    with box.client() as c:
        c.create_folder(folder)
        c.create_folder(folder + "-done")
    return box


class CutProxy:
    """A TCP proxy to a server that can cut the connection at a chosen moment (a dropped link)."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.cut_on_server: tuple[bytes, int] | None = None  # (pattern, bytes to let through after it)
        self.cut_on_client: bytes | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm_server(self, pattern: bytes, after: int = 0) -> None:
        """Cut once, ``after`` bytes after the server sends ``pattern`` (e.g. mid-FETCH)."""
        self.cut_on_server = (pattern, after)

    def arm_client(self, pattern: bytes) -> None:
        """Cut once, before forwarding a client command containing ``pattern`` (e.g. STORE)."""
        self.cut_on_client = pattern

    def cut_now(self) -> None:
        """Drop every open connection at once (the server or the network went away)."""
        with self._lock:
            socks, self._open = self._open, []
            self._cut(*socks)

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            self._open += [down, up]
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    def _cut(self, *socks: socket.socket) -> None:
        self.cuts += 1
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        seen = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self._lock:
                if from_server and self.cut_on_server:
                    pattern, after = self.cut_on_server
                    window = seen[-len(pattern) :] + data
                    at = window.find(pattern)
                    if at >= 0:
                        keep = max(0, at - len(seen[-len(pattern) :]) + len(pattern) + after)
                        self.cut_on_server = None
                        try:
                            dst.sendall(data[:keep])
                        except OSError:
                            pass
                        self._cut(src, dst)
                        return
                if not from_server and self.cut_on_client and self.cut_on_client in data:
                    self.cut_on_client = None
                    self._cut(src, dst)
                    return
            seen = (seen + data)[-4096:]
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for s in self._open:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def imap_proxy(dovecot: dict[str, Any]) -> Iterator[CutProxy]:
    """A cuttable proxy in front of the session's Dovecot."""
    proxy = CutProxy(dovecot["host"], dovecot["port"])
    yield proxy
    proxy.close()


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    """aiosmtpd in-process (RECIPES.md §2) with AUTH on loopback; ``.messages`` collects what arrived.

    ``.reply`` set to e.g. ``"451 4.3.0 try later"`` makes the server answer DATA with that code.
    """
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        def __init__(self) -> None:
            self.messages: list[dict[str, Any]] = []
            self.reply: str | None = None

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if self.reply:
                return self.reply
            raw = envelope.original_content or envelope.content
            self.messages.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "raw": raw,
                    "msg": message_from_bytes(raw, policy=policy.default),
                    "auth": bool(session.authenticated),
                }
            )
            return "250 OK"

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
