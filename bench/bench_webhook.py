"""Signed Twilio SMS webhooks: Aduan on SQLite vs a bare Starlette endpoint, in the same run.

Three servers under uvicorn in subprocesses on loopback: Aduan as shipped (``[intake] processing =
"background"``: signature, validation, raw store with dedupe in a group commit, answer; the drainer
derives message, contact, dialogue and reply right after), Aduan with ``processing = "inline"``
(everything inside the request, the earlier design) and the bare endpoint (parse the same form,
answer the same TwiML: the floor). Load: wrk with a Lua script replaying pre-signed bodies, each
with its own MessageSid, or an asyncio httpx client when wrk is missing. Figures: requests/s and
p50/p99 at 16 and 64 connections, errors, and for the shipped mode how long until every accepted
message of the 64-connection burst was processed (the dialogue's replies queued).
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
from pathlib import Path

from bench import load
from bench.common import Row

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
            err = proc.stderr.read() if proc.stderr else b""
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
        stderr=subprocess.PIPE,
    )
    _wait(port, proc)
    return proc


def _warm(base: str, start: int) -> None:
    """Warm a server up (imports, first connections, SQLite pages) and check it really answers 200."""
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


def _unprocessed(db_file: Path) -> tuple[int, int]:
    """Return (payloads stored, payloads still waiting for the drainer) in a bench database."""
    import sqlite3

    with sqlite3.connect(db_file, timeout=30) as conn:
        total, waiting = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'stored') FROM raw_inbound"
        ).fetchone()
    return int(total), int(waiting)


def _wait_drained(db_file: Path, timeout: float = 600) -> tuple[int, float]:
    """Wait until the drainer has processed everything; return (payloads, seconds waited)."""
    started = time.monotonic()
    while True:
        total, waiting = _unprocessed(db_file)
        if not waiting or time.monotonic() - started > timeout:
            return total, time.monotonic() - started
        time.sleep(0.1)


def run() -> list[Row]:
    """Measure Aduan (background and inline processing) beside the bare endpoint."""
    workdir = Path(tempfile.mkdtemp(prefix="aduan-bench-webhook-"))
    use_wrk = shutil.which("wrk") is not None
    tool = "wrk" if use_wrk else "httpx"
    ports = {"background": _free_port(), "inline": _free_port()}
    bare_port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []
    base = "bare Starlette form + TwiML"
    try:
        envs = {}
        for mode, port in ports.items():
            # Each Aduan gets its own SQLite file and its own public URL (Twilio signs the exact URL).
            folder = workdir / mode
            folder.mkdir()
            config = (ROOT / "config.toml").read_text(encoding="utf-8")
            config = config.replace('url = "sqlite:///aduan.db"', f'url = "sqlite:///{folder / "bench.db"}"')
            config = config.replace(
                'public_base_url = "http://127.0.0.1:8000"', f'public_base_url = "http://127.0.0.1:{port}"'
            )
            config = config.replace(
                'attachments_dir = "var/attachments"', f'attachments_dir = "{folder / "att"}"'
            )
            config = config.replace('processing = "background"', f'processing = "{mode}"')
            (folder / "config.toml").write_text(config, encoding="utf-8")
            envs[mode] = {k: v for k, v in os.environ.items() if not k.startswith("ADUAN_")} | {
                "ADUAN_CONFIG": str(folder / "config.toml"),
                "ADUAN_TWILIO_ACCOUNT_SID": ACCOUNT,
                "ADUAN_TWILIO_AUTH_TOKEN": TOKEN,
                "ADUAN_SESSION_SECRET": "bench-session-secret-0123456789abcdef",
            }
            subprocess.run(
                [sys.executable, "-m", "cli.main", "db", "upgrade"],
                cwd=ROOT,
                env=envs[mode],
                check=True,
                capture_output=True,
            )
            procs.append(_serve("inbox.asgi:app", port, envs[mode]))
        procs.append(_serve("bench.bench_webhook:bare_app", bare_port, envs["inline"]))
        for port in (*ports.values(), bare_port):
            _warm(f"http://127.0.0.1:{port}", 10**9)
        db_file = workdir / "background" / "bench.db"

        def measure(port: int, first: int, connections: int) -> dict[str, float]:
            bodies = _bodies(f"http://127.0.0.1:{port}", first, BODIES)
            return _wrk(port, bodies, connections, workdir) if use_wrk else _httpx(port, bodies, connections)

        for n, connections in enumerate(CONNECTIONS):
            floor = measure(bare_port, n * BODIES, connections)
            for mode, label in (("background", "shipped (background)"), ("inline", "inline processing")):
                if mode == "background":
                    _wait_drained(db_file)  # each run starts with nothing left to process
                before, _ = _unprocessed(db_file)
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
                        note=note,
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
                            note="target < 50 ms" if connections == 64 and q == "p99" else "",
                        )
                    )
                if mode == "background":
                    total, _ = _wait_drained(db_file)
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
        shutil.rmtree(workdir, ignore_errors=True)
    return rows
