"""Real processes for the fault tests and the scale benchmark: uvicorn web processes, a throwaway
PostgreSQL cluster, signed Twilio webhooks and a load generator that retries like a provider.

Everything listens on 127.0.0.1 on ports the kernel picks; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_BASE = "https://aduan.example.test"
TWILIO_TOKEN = "test-twilio-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
OFFICE_NUMBER = "+6281809898222"


def free_port() -> int:
    """Return a port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers (any status), or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} not answering after {timeout}s")


#: What the fault tests change in config.toml: a killed worker is found dead after 5 s, not 30
#: (heartbeats every second, dead workers looked for every 2 s), so its jobs are retried at once;
#: a job whose outcome was lost in the database outage is retried after 20 s, not 5 minutes.
QUICK_RECOVERY = {
    "heartbeat_seconds": "1",
    "stalled_after_seconds": "5",
    "stalled_check_seconds": "2",
    "lost_after_seconds": "20",
}


def fault_config(workdir: Path) -> Path:
    """Write the repository's config.toml with ``QUICK_RECOVERY`` into ``workdir``; return its path."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for key, value in QUICK_RECOVERY.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert found == 1, key
    path = workdir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def server_env(
    database_url: str, extra: dict[str, str] | None = None, *, config: Path | None = None
) -> dict[str, str]:
    """Environment of a web process: the config (the repo's by default), test secrets, the database
    and public URL."""
    from tests.conftest import TEST_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("ADUAN_")}
    env.update(TEST_ENV)
    env.update(
        {
            "ADUAN_CONFIG": str(config or ROOT / "config.toml"),
            "ADUAN_DATABASE_URL": database_url,
            "ADUAN_PUBLIC_BASE_URL": PUBLIC_BASE,
            "ADUAN_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra or {})
    return env


@dataclass
class WebProcess:
    """One ``uvicorn inbox.asgi:app`` process, as ``aduan serve --workers 1`` runs it."""

    database_url: str
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    app: str = "inbox.asgi:app"
    log: Path | None = None
    #: Extra environment (``ADUAN_WEB_WORKER=0``: no worker in the web process).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None, timeout: float = 60.0) -> WebProcess:
        """Start (or restart) the process and wait until it answers."""
        self.port = port or self.port or free_port()
        self.log = self.workdir / f"web-{self.port}.log"
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "2",
            ],
            cwd=self.workdir,
            env=server_env(self.database_url, self.env, config=fault_config(self.workdir)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        wait_http(self.url + "/healthz", timeout, self.proc)
        return self

    def kill9(self) -> None:
        """SIGKILL the process (no cleanup, no graceful shutdown) and reap it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Terminate the process if it runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class WorkerProcess:
    """One ``aduan worker`` process."""

    database_url: str
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> WorkerProcess:
        """Start (or restart) the worker."""
        self.starts += 1
        out = (self.workdir / f"worker-{self.starts}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", "worker"],
            cwd=self.workdir,
            env=server_env(self.database_url, config=fault_config(self.workdir)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        return self

    def kill9(self) -> None:
        """SIGKILL the worker and reap it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Terminate the worker if it runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# -- signed Twilio webhooks ------------------------------------------------------------------------


#: What one citizen writes, message after message, so the dialogue files a complaint.
CONVERSATION = (
    "Izin PBG saya nomor {n} belum keluar sudah tiga minggu, mohon dibantu",
    "Budi Santoso",
    "1 Maret 2026",
    "YA",
)


def sms_form(n: int, *, senders: int = 500, run: str = "") -> dict[str, str]:
    """The n-th inbound SMS of a burst, as Twilio posts it (fake numbers, unique MessageSid)."""
    sid = "SM" + uuid.uuid5(uuid.NAMESPACE_URL, f"aduan-fault-{run}-{n}").hex
    sender = f"+62812{77000000 + n % senders:08d}"
    # each sender holds a whole conversation: the matter, a name, the service date, a confirmation
    step = (n // senders) % len(CONVERSATION)
    body = CONVERSATION[step].format(n=n)
    return {
        "ToCountry": "ID",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "FromCountry": "ID",
        "To": OFFICE_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def signed_sms(
    form: dict[str, str], path: str = "/hooks/sms", token: str = TWILIO_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers of a Twilio webhook signed like Twilio does (RequestValidator)."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(token).compute_signature(PUBLIC_BASE + path, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return urlencode(form).encode(), headers


# -- load generator --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What the generator saw: final answers, attempts, retries by cause, and the time it took."""

    delivered: int = 0
    attempts: int = 0
    causes: Counter[str] = field(default_factory=Counter)
    failed: list[int] = field(default_factory=list)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        """Return the q-quantile latency of the successful attempts, in seconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def blast(
    requests: list[tuple[str, bytes, dict[str, str]]],
    base: Callable[[], str],
    *,
    concurrency: int = 16,
    deadline: float = 120.0,
    on_progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """POST every request until it gets a 2xx, retrying errors and 5xx with backoff, as providers do."""
    return asyncio.run(_blast(requests, base, concurrency, deadline, on_progress))


async def _blast(
    requests: list[tuple[str, bytes, dict[str, str]]],
    base: Callable[[], str],
    concurrency: int,
    deadline: float,
    on_progress: Callable[[int], None] | None,
) -> LoadResult:
    result = LoadResult()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            path, body, headers = requests[i]
            delay = 0.05
            while True:
                if time.monotonic() - started > deadline:
                    result.failed.append(i)
                    break
                result.attempts += 1
                t0 = time.perf_counter()
                try:
                    response = await client.post(base() + path, content=body, headers=headers)
                    code = response.status_code
                except httpx.HTTPError as exc:
                    code, cause = 0, type(exc).__name__
                else:
                    cause = str(code)
                if 200 <= code < 300:
                    result.latencies.append(time.perf_counter() - t0)
                    result.delivered += 1
                    if on_progress is not None:
                        on_progress(result.delivered)
                    break
                result.causes[cause] += 1
                if 400 <= code < 500 and code != 429:
                    result.failed.append(i)  # a provider does not retry a 4xx either
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(10.0)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result


# -- a throwaway PostgreSQL cluster ----------------------------------------------------------------


def pg_binary(name: str) -> str | None:
    """Return a PostgreSQL server binary (initdb, pg_ctl, postgres) if installed."""
    for folder in (Path("/usr/local/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)):
        path = folder / name
        if path.exists():
            return str(path)
    return shutil.which(name)


@dataclass
class PgCluster:
    """A private PostgreSQL cluster (RECIPES.md §8) that a test may stop and start at will."""

    root: Path
    port: int = 0

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *args: str) -> list[str]:
        return ["runuser", "-u", "nobody", "--", *args] if os.geteuid() == 0 else list(args)

    def init(self) -> PgCluster:
        """Create the cluster (fsync off: throwaway data)."""
        initdb = pg_binary("initdb")
        assert initdb is not None
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody", "nogroup")
        self.port = self.port or free_port()
        subprocess.run(
            self._as_owner(
                initdb,
                "-D",
                str(self.root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self

    def start(self, attempts: int = 3) -> None:
        """Start the server and wait until it accepts connections (a few tries: after a crash the
        old postmaster may still be on its way out)."""
        for attempt in range(attempts):
            try:
                self._start()
                return
            except subprocess.SubprocessError:
                if attempt == attempts - 1:
                    raise
                time.sleep(1)

    def _start(self) -> None:
        pg_ctl = pg_binary("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(
            self._as_owner(
                pg_ctl,
                "-D",
                str(self.root / "data"),
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200",
                "start",
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash: no checkpoint)."""
        pg_ctl = pg_binary("pg_ctl")
        assert pg_ctl is not None
        try:
            subprocess.run(
                self._as_owner(pg_ctl, "-D", str(self.root / "data"), "-m", mode, "-w", "stop"),
                check=False,
                capture_output=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            # Seen once under load: say what the server was doing rather than only that it hung.
            raise RuntimeError(
                f"pg_ctl stop -m {mode} hung for 60 s; server log ends:\n{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log (what a test reports when the server misbehaves)."""
        log = self.root / "server.log"
        return (
            "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"
        )

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        import sqlalchemy as sa

        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """Run a private PostgreSQL cluster for the duration of the block; remove it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="aduan-pg-"))
    os.chmod(root, 0o755)  # the cluster's owner (nobody) must traverse it
    cluster = PgCluster(root / "pg")
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
