"""Signed Twilio SMS webhooks on PostgreSQL: Aduan vs a bare Starlette endpoint, in the same run.

Servers under uvicorn in subprocesses on loopback, each Aduan on a PostgreSQL database of its own:
Aduan as shipped (``aduan serve``: signature, validation, the raw payload and its processing job
committed in one transaction, answer; the worker in the same process derives message, contact,
dialogue and reply), the web process alone (``--no-worker``: what acknowledging costs, the jobs
wait for an ``aduan worker`` started after the load, whose rate is the end-to-end processing rate
of one worker), Aduan with ``processing = "inline"`` (everything inside the request) and the bare
endpoint (parse the same form, answer the same TwiML: the floor). Load: wrk with a Lua script
replaying pre-signed bodies, each with its own MessageSid, or an asyncio httpx client when wrk is
missing. Figures: requests/s and p50/p99 at 16 and 64 connections, errors, and processing rates.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import load
from bench.common import Row
from tests.fakeapi import FakeAPI

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-twilio-auth-token"
ACCOUNT = "AC" + "0" * 32
DURATION = 5  # seconds per measured run
CONNECTIONS = (16, 64)
# Unique signed bodies per run: wrk's two threads take every other one, so this is more than twice
# what a thread sends in a run, and every request is a new message (no replay).
BODIES = 100_000


# -- the baseline: parse the same form, answer empty TwiML -------------------------------------


bare_app = load.bare_app  # uvicorn imports the floor from here: bench.bench_webhook:bare_app


# -- helpers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = b""
            if proc.stderr:
                proc.stderr.seek(0)
                err = proc.stderr.read()
            raise RuntimeError(f"server exited early ({proc.returncode}): {err[-2000:]!r}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def _bodies(base: str, start: int, count: int) -> list[tuple[str, str]]:
    # one MessageSid per i; a new citizen each time (the costliest case: no cached phone number)
    messages = ((f"SM{i:032x}", f"+62812{i % 10_000_000:07d}") for i in range(start, start + count))
    return load.signed_sms(base + "/hooks/sms", TOKEN, messages)


def _wrk(port: int, bodies: list[tuple[str, str]], connections: int, workdir: Path) -> dict[str, float]:
    data = load.wrk(
        port,
        bodies,
        connections=connections,
        duration=DURATION,
        workdir=workdir,
        tag=f"{port}_{connections}",
        timeout="5s",
    )
    data["errors"] += data["non2xx"]
    return data


def _httpx(port: int, bodies: list[tuple[str, str]], connections: int) -> dict[str, float]:
    import httpx

    async def main() -> dict[str, float]:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + DURATION
        counter = iter(range(10**9))
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=5) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    body, sig = bodies[next(counter) % len(bodies)]
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(
                            "/hooks/sms",
                            content=body,
                            headers={
                                "Content-Type": "application/x-www-form-urlencoded",
                                "X-Twilio-Signature": sig,
                            },
                        )
                        errors += r.status_code != 200
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append((time.perf_counter() - t0) * 1000)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            seconds = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=100)
        return {
            "requests": len(latencies),
            "seconds": seconds,
            "p50": q[49],
            "p99": q[98],
            "errors": errors,
            "rps": len(latencies) / seconds,
        }

    return asyncio.run(main())


def _serve(app: str, port: int, env: dict[str, str], *, factory: bool = False) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            *(["--factory"] if factory else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        # a file, never an unread pipe: 64 KB of log lines would block the server's threads
        stderr=tempfile.TemporaryFile(),  # noqa: SIM115 - open as long as the server runs
    )
    _wait(port, proc)
    return proc


def _warm(base: str, start: int) -> None:
    """Warm a server up (imports, first connections) and check it really answers 200."""
    import httpx

    for body, sig in _bodies(base, start, 30):
        r = httpx.post(
            base + "/hooks/sms",
            content=body,
            timeout=30,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
        )
        if r.status_code != 200:
            raise RuntimeError(f"{base} answered {r.status_code}: {r.text[:200]}")


def _unprocessed(url: str) -> tuple[int, int]:
    """Return (payloads stored, payloads still waiting for their job) in a bench database."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            total, waiting = conn.execute(
                sa.text("SELECT count(*), count(*) FILTER (WHERE status = 'stored') FROM raw_inbound")
            ).one()
    finally:
        engine.dispose()
    return int(total), int(waiting)


def _wait_drained(url: str, timeout: float = 600) -> tuple[int, float]:
    """Wait until every stored payload is processed; return (payloads, seconds waited)."""
    started = time.monotonic()
    while True:
        total, waiting = _unprocessed(url)
        if not waiting or time.monotonic() - started > timeout:
            return total, time.monotonic() - started
        time.sleep(0.1)


def server_url() -> str:
    """The PostgreSQL server the benchmark makes its databases on (its maintenance database)."""
    import sqlalchemy as sa

    from intake import db

    url = os.environ.get("ADUAN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        probe = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with probe.connect():
            pass
        return url
    except sa.exc.OperationalError:
        return db.local_server_url(ROOT / "var" / "bench-pgdata", database="postgres")


def fresh_database(server: str, name: str) -> str:
    """Create (anew) and migrate database ``name`` on ``server``; return its URL."""
    import sqlalchemy as sa

    from intake import db

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = db.create_engine(url, poolclass=sa.pool.NullPool)
    db.upgrade(engine)
    engine.dispose()
    return url


def drop_database(server: str, name: str) -> None:
    """Drop a bench database."""
    import sqlalchemy as sa

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one ``aduan worker`` process."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # never an unread pipe: the worker's log lines would block it
    )


def _halt(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker: SIGTERM (it finishes its running jobs), SIGKILL if it takes over a minute."""
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _twilio_created(req: Any) -> Any:
    """Answer like Twilio's Messages.json create (201 with the new message's sid)."""
    from tests.fakeapi import Reply

    return Reply(201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": req.form.get("To", "")})


MODES = {
    "shipped": "shipped (web + its worker)",
    "web": "web process alone (--no-worker)",
    "inline": "inline processing",
}


def run() -> list[Row]:
    """Measure Aduan (as shipped, the web process alone, inline) beside the bare endpoint."""
    workdir = Path(tempfile.mkdtemp(prefix="aduan-bench-webhook-"))
    use_wrk = shutil.which("wrk") is not None
    tool = "wrk" if use_wrk else "httpx"
    ports = {mode: _free_port() for mode in MODES}
    bare_port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []
    base = "bare Starlette form + TwiML"
    server = server_url()
    urls: dict[str, str] = {}
    # The bot's replies go to a local fake of Twilio's REST API (they are sent while the load runs).
    twilio = FakeAPI({("POST", "/2010-04-01/Accounts/"): _twilio_created}).__enter__()
    try:
        envs = {}
        for mode, port in ports.items():
            # Each Aduan gets its own database and its own public URL (Twilio signs the exact URL).
            folder = workdir / mode
            folder.mkdir()
            urls[mode] = fresh_database(server, f"aduan_bench_{mode}")
            config = (ROOT / "config.toml").read_text(encoding="utf-8")
            config = config.replace('\nurl = ""', f'\nurl = "{urls[mode]}"')
            config = config.replace(
                'public_base_url = "http://127.0.0.1:8000"', f'public_base_url = "http://127.0.0.1:{port}"'
            )
            config = config.replace(
                'attachments_dir = "var/attachments"', f'attachments_dir = "{folder / "att"}"'
            )
            mode_name = "inline" if mode == "inline" else "background"
            config = config.replace('processing = "background"', f'processing = "{mode_name}"')
            config = config.replace(
                '# api_base_url = "http://127.0.0.1:8099"', f'api_base_url = "{twilio.url}"'
            )
            (folder / "config.toml").write_text(config, encoding="utf-8")
            envs[mode] = {k: v for k, v in os.environ.items() if not k.startswith("ADUAN_")} | {
                "ADUAN_CONFIG": str(folder / "config.toml"),
                "ADUAN_TWILIO_ACCOUNT_SID": ACCOUNT,
                "ADUAN_TWILIO_AUTH_TOKEN": TOKEN,
                "ADUAN_SESSION_SECRET": "bench-session-secret-0123456789abcdef",
                "ADUAN_WEB_WORKER": "1" if mode == "shipped" else "0",
            }
            procs.append(_serve("inbox.asgi:app", port, envs[mode]))
        procs.append(_serve("bench.bench_webhook:bare_app", bare_port, envs["inline"]))
        for port in (*ports.values(), bare_port):
            _warm(f"http://127.0.0.1:{port}", 10**9)
        worker_env = envs["web"]

        def measure(port: int, first: int, connections: int) -> dict[str, float]:
            bodies = _bodies(f"http://127.0.0.1:{port}", first, BODIES)
            return _wrk(port, bodies, connections, workdir) if use_wrk else _httpx(port, bodies, connections)

        for n, connections in enumerate(CONNECTIONS):
            floor = measure(bare_port, n * BODIES, connections)
            for mode, label in MODES.items():
                url = urls[mode]
                if mode == "web":  # the backlog of the earlier run (and the warm-up) first
                    drainer = _worker(worker_env)
                    _wait_drained(url)
                    _halt(drainer)
                elif mode == "shipped":
                    _wait_drained(url)  # each run starts with nothing left to process
                before, _ = _unprocessed(url)
                started = time.monotonic()
                got = measure(ports[mode], n * BODIES, connections)
                note = (
                    f"{tool} {DURATION}s; {int(got['requests'])} requests, errors {int(got['errors'])} "
                    f"vs {int(floor['errors'])}"
                )
                rows.append(
                    Row(
                        "webhook",
                        f"{label}: signed SMS, {connections} conns",
                        got["rps"],
                        "req/s",
                        base,
                        floor["rps"],
                        note=note + ("; target ≥ 0.40×" if mode == "web" else ""),
                        extra={"errors": got["errors"], "baseline_errors": floor["errors"]},
                    )
                )
                for q in ("p50", "p99"):
                    rows.append(
                        Row(
                            "webhook",
                            f"{label}: {q}, {connections} conns",
                            got[q],
                            "ms",
                            base,
                            floor[q],
                            higher_is_better=False,
                            note="target < 50 ms" if q == "p99" else "",
                        )
                    )
                if mode == "shipped":
                    total, _ = _wait_drained(url)
                    seconds = time.monotonic() - started
                    processed = total - before
                    rows.append(
                        Row(
                            "webhook",
                            f"shipped: burst processed end to end, {connections} conns",
                            processed / seconds,
                            "msg/s",
                            "inline processing req/s (same run)",
                            0.0,  # filled in below, once the inline run of this size is measured
                            note=f"{processed} messages accepted in {DURATION}s, all processed after "
                            f"{seconds:.1f}s (dialogue replies queued)",
                        )
                    )
                if mode == "web":
                    total, waiting = _unprocessed(url)
                    worker = _worker(worker_env)
                    t0 = time.monotonic()
                    _wait_drained(url)
                    seconds = time.monotonic() - t0
                    _halt(worker)
                    rows.append(
                        Row(
                            "webhook",
                            f"one `aduan worker`: backlog processed, {connections} conns",
                            waiting / seconds,
                            "msg/s",
                            "target 150 msg/s",
                            150.0,
                            note=f"{waiting} queued payloads processed in {seconds:.1f}s (dialogue, reply "
                            "queued); includes the worker's start-up",
                        )
                    )
            inline_rps = rows[-3].value  # the inline req/s row of this connection count
            for row in rows:
                if row.case == f"shipped: burst processed end to end, {connections} conns":
                    row.baseline = inline_rps
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for mode in urls:
            drop_database(server, f"aduan_bench_{mode}")
        twilio.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)
    return rows
