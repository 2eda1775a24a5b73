"""Scale-out: signed SMS webhooks, 1 and 2 web processes on one PostgreSQL, vs a bare endpoint.

Each case runs ``uvicorn --workers N`` (what ``aduan serve --workers N`` starts: each web process
runs a job worker too) on loopback, on a private PostgreSQL cluster (RECIPES.md §8); wrk replays
pre-signed Twilio bodies, each with its own MessageSid, so every request stores a new payload whose
job the workers then take through the whole app (dialogue included); each case waits until all
are processed. The baseline
is a bare ASGI endpoint that parses the same form and answers the same empty TwiML, with the same
number of processes, in the same run. After each Aduan case the database is checked: one message
per MessageSid, none twice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench import load
from bench.common import Row

ROOT = Path(__file__).resolve().parents[1]
DURATION = 8  # seconds per measured case (2 cores: kept short so the whole benchmark stays < 3 min)
CONNECTIONS = 16
# wrk's two threads take every other body each: with fewer than twice what the busier thread sends,
# it would wrap around and replay its own first bodies (deduplicated, but then not every request
# is a new message, which the check below expects).
BODIES = 120_000
PUBLIC = "https://aduan.example.test"


bare_app = load.bare_app  # uvicorn imports the floor from here: bench.bench_scale:bare_app


def _bodies(run: str, count: int) -> list[tuple[str, str]]:
    token = os.environ.get("BENCH_TWILIO_TOKEN", "test-twilio-auth-token")
    # 34-character MessageSids like Twilio's, unique per run and i; 5,000 citizens writing
    messages = (("SM" + run + f"{i:x}".zfill(32 - len(run)), f"+62812{i % 5_000:08d}") for i in range(count))
    return load.signed_sms(PUBLIC + "/hooks/sms", token, messages)


def _cpu_ticks() -> tuple[int, int]:
    """Return the machine's (all, idle) CPU ticks from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]  # idle + iowait


def _busy_since(before: tuple[int, int]) -> float:
    """Return the share of the machine's CPU time that was busy since ``before``."""
    total, idle = _cpu_ticks()
    return 1 - (idle - before[1]) / max(1, total - before[0])


def _wrk(port: int, bodies: list[tuple[str, str]], workdir: Path, tag: str) -> dict[str, float]:
    return load.wrk(port, bodies, connections=CONNECTIONS, duration=DURATION, workdir=workdir, tag=tag)


def _serve(app: str, workers: int, env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    from tests.faults.harness import free_port, wait_http

    port = free_port()
    log = (workdir / f"uvicorn-{port}.log").open("ab")
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
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    wait_http(f"http://127.0.0.1:{port}/healthz", 60, proc)
    if app.startswith("inbox"):  # every worker up and warm: a few signed requests must pass
        for body, sig in _bodies("warm" + str(port)[-4:], 8 * workers):
            r = httpx.post(
                f"http://127.0.0.1:{port}/hooks/sms",
                content=body,
                timeout=30,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
            )
            if r.status_code != 200:
                raise RuntimeError(f"warm-up answered {r.status_code}: {r.text[:200]}")
    return proc, port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _messages(url: str, run: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            total, distinct = conn.execute(
                sa.text(
                    "SELECT count(*), count(DISTINCT external_id) FROM message WHERE channel = 'sms' "
                    "AND external_id LIKE :p"
                ),
                {"p": f"SM{run}%"},
            ).one()
    finally:
        engine.dispose()
    return int(total), int(distinct)


def _wait_drained(url: str, run: str, timeout: float = 600) -> float:
    """Wait until no payload of this run awaits processing; return the seconds waited."""
    engine = sa.create_engine(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            with engine.connect() as conn:
                waiting = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM raw_inbound WHERE status = 'stored' AND external_id LIKE :p"
                    ),
                    {"p": f"SM{run}%"},
                ).scalar_one()
            if not waiting:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    return time.monotonic() - started


def run() -> list[Row]:
    """Measure 1 and 2 web processes on PostgreSQL beside the bare endpoint."""
    from intake import db
    from tests.faults.harness import pg_binary, pg_cluster, server_env

    if shutil.which("wrk") is None or pg_binary("initdb") is None:
        print("bench_scale: needs wrk and PostgreSQL server binaries; skipped")
        return []
    workdir = Path(tempfile.mkdtemp(prefix="aduan-bench-scale-"))
    results: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}
    with pg_cluster() as cluster:
        backends = {"PostgreSQL": cluster.create_database("bench")}
        for url in backends.values():
            engine = db.create_engine(url)
            db.upgrade(engine)
            engine.dispose()
        env = server_env(backends["PostgreSQL"]) | {"PYTHONPATH": str(ROOT)}
        for workers in (1, 2):
            proc, port = _serve("bench.bench_scale:bare_app", workers, env, workdir)
            try:
                results[f"bare{workers}"] = _wrk(port, _bodies("b", 2000), workdir, f"bare{workers}")
            finally:
                _stop(proc)
        for name, url in backends.items():
            for workers in (1, 2):
                tag = f"{name[:2].lower()}{workers}{time.strftime('%H%M%S')}"
                proc, port = _serve("inbox.asgi:app", workers, server_env(url), workdir)
                try:
                    bodies = _bodies(tag, BODIES)
                    before = _cpu_ticks()
                    measured = _wrk(port, bodies, workdir, tag)
                    busy = _busy_since(before)
                    drained = _wait_drained(url, tag)  # answered = stored with its job; the workers catch up
                finally:
                    _stop(proc)
                total, distinct = _messages(url, tag)
                ok = measured["requests"] - measured["non2xx"]
                # each MessageSid once; a run that outgrew the bodies replayed some (deduped, not doubled)
                assert total == distinct >= min(ok - measured["errors"], BODIES), (total, distinct, measured)
                results[f"{name}{workers}"] = measured
                notes[f"{name}{workers}"] = (
                    f"{total} messages stored, 0 twice; {int(measured['non2xx'])} non-2xx; "
                    f"all processed {drained:.0f} s after the load ended; machine CPU {busy:.0%} busy "
                    "during the load (server, wrk and database together)"
                )
    rows: list[Row] = []
    for name in backends:
        for workers in (1, 2):
            m, bare = results[f"{name}{workers}"], results[f"bare{workers}"]
            label = f"{workers} process{'es' if workers > 1 else ''}"
            rows.append(
                Row(
                    "scale",
                    f"SMS webhook, {name}, {label}: throughput",
                    m["rps"],
                    "req/s",
                    f"bare endpoint, {label}",
                    bare["rps"],
                    note=notes[f"{name}{workers}"],
                )
            )
            rows.append(
                Row(
                    "scale",
                    f"SMS webhook, {name}, {label}: p99",
                    m["p99"],
                    "ms",
                    f"bare endpoint, {label}",
                    bare["p99"],
                    higher_is_better=False,
                    note=f"p50 {m['p50']:.1f} ms vs {bare['p50']:.1f} ms",
                )
            )
        one, two = results[f"{name}1"], results[f"{name}2"]
        rows.append(
            Row(
                "scale",
                f"SMS webhook, {name}: 2 processes vs 1",
                two["rps"],
                "req/s",
                "same, 1 process",
                one["rps"],
                note=f"{CONNECTIONS} connections, {DURATION} s each; cores shared with wrk and the database",
            )
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return rows
