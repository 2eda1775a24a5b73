"""Reply latency: 50 citizens write at once; from the webhook's arrival to the bot's reply at the provider.

Aduan as shipped (``aduan serve``: the web process and its worker) on a PostgreSQL database of its
own, its SMS sender pointed at a local fake of Twilio's REST API that records when each reply
arrives. Fifty simulated citizens (each a number of their own) send a signed SMS webhook and wait
for the bot's answer; the latency is the time from sending the webhook to the fake API receiving the
reply (signature, raw store and job, worker, dialogue, outbox row and its send job, Twilio call).
Two cases: one message each (all 50 at once), and a 4-turn conversation each (the matter, a name, a
date, the confirmation; every turn sent once the previous reply arrived). Figures: p50 and p95.
The baseline is the fake API's own round trip (a bare POST to it), measured in the same run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from bench.bench_webhook import _free_port, _serve, drop_database, fresh_database, server_url
from bench.common import Row
from tests.fakeapi import FakeAPI, Recorded, Reply
from tests.faults.harness import CONVERSATION, PUBLIC_BASE, TWILIO_TOKEN, signed_sms, sms_form

ROOT = Path(__file__).resolve().parents[1]
CITIZENS = 50
ACCOUNT = "AC" + "0" * 32
#: Numbers of the simulated citizens (each case takes the next 50).
SENDERS = 1000
#: A reply slower than this counts as missing (and fails the run).
REPLY_TIMEOUT = 60.0


class Replies:
    """The fake Twilio: records when a reply to each number arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = {}
        self.changed = threading.Condition()

    def created(self, req: Recorded) -> Reply:
        """Answer like Twilio's Messages.json create, and note the moment."""
        now = time.perf_counter()
        to = req.form.get("To", "")
        with self.changed:
            self.arrived.setdefault(to, []).append(now)
            self.changed.notify_all()
        sid = "SM" + uuid.uuid4().hex
        return Reply(
            201,
            {
                "sid": sid,
                "account_sid": ACCOUNT,
                "status": "queued",
                "to": to,
                "body": req.form.get("Body", ""),
            },
        )

    def wait(self, to: str, count: int, timeout: float = REPLY_TIMEOUT) -> float | None:
        """Wait until ``to`` has ``count`` replies; return the moment of the last one counted."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while len(self.arrived.get(to, ())) < count:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.arrived[to][count - 1]


def _citizen(
    base: str, replies: Replies, n: int, turns: int, run: str, out: list[float], missing: list[str]
) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for turn in range(turns):
            # a number of its own per citizen and case; the turn picks the conversation's step
            form = sms_form(n + turn * SENDERS, senders=SENDERS, run=run)
            to = form["From"]
            have = len(replies.arrived.get(to, ()))
            body, headers = signed_sms(form)
            sent = time.perf_counter()
            answer = client.post("/hooks/sms", content=body, headers=headers)
            if answer.status_code != 200:
                missing.append(f"webhook {answer.status_code}")
                return
            got = replies.wait(to, have + 1)
            if got is None:
                missing.append(f"no reply to turn {turn}")
                return
            out.append((got - sent) * 1000)
            # the rest of this turn's replies (e.g. an acknowledgement after the confirmation)
            time.sleep(0.2)


def _run_case(base: str, replies: Replies, turns: int, case: int) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    missing: list[str] = []
    run = uuid.uuid4().hex[:6]
    threads = [
        threading.Thread(
            target=_citizen, args=(base, replies, case * CITIZENS + n, turns, run, latencies, missing)
        )
        for n in range(CITIZENS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(REPLY_TIMEOUT * turns + 30)
    return latencies, missing


def _quantiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49], q[94]


def run() -> list[Row]:
    """Measure the reply latency of 50 citizens at once, one message and a 4-turn conversation."""
    replies = Replies()
    rows: list[Row] = []
    workdir = Path(tempfile.mkdtemp(prefix="aduan-bench-reply-"))
    server = server_url()
    procs: list[subprocess.Popen[bytes]] = []
    with FakeAPI({("POST", "/2010-04-01/Accounts/"): replies.created}) as api:
        url = fresh_database(server, "aduan_bench_reply")
        try:
            port = _free_port()
            config = (ROOT / "config.toml").read_text(encoding="utf-8")
            config = config.replace('\nurl = ""', f'\nurl = "{url}"')
            config = config.replace(
                'public_base_url = "http://127.0.0.1:8000"', f'public_base_url = "{PUBLIC_BASE}"'
            )
            config = config.replace('# api_base_url = "http://127.0.0.1:8099"', f'api_base_url = "{api.url}"')
            config = config.replace(
                'attachments_dir = "var/attachments"', f'attachments_dir = "{workdir}/att"'
            )
            (workdir / "config.toml").write_text(config, encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith("ADUAN_")} | {
                "ADUAN_CONFIG": str(workdir / "config.toml"),
                "ADUAN_TWILIO_ACCOUNT_SID": ACCOUNT,
                "ADUAN_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "ADUAN_SESSION_SECRET": "bench-session-secret-0123456789abcdef",
                "ADUAN_WEB_WORKER": "1",
                "PYTHONPATH": str(ROOT),
            }
            procs.append(_serve("inbox.asgi:app", port, env))
            base = f"http://127.0.0.1:{port}"
            # the floor: a bare round trip to the fake API
            floor: list[float] = []
            with httpx.Client(base_url=api.url, timeout=10) as client:
                for i in range(200):
                    t0 = time.perf_counter()
                    client.post(f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", data={"To": f"+floor{i}"})
                    floor.append((time.perf_counter() - t0) * 1000)
            floor_p50, floor_p95 = _quantiles(floor)
            _, missing = _run_case(base, replies, 1, 0)  # warm-up: imports, connections, first statements
            print(f"warm-up: {len(missing)} without reply", flush=True)
            cases = ((1, "one message each"), (len(CONVERSATION), "4-turn conversation each"))
            for case, (turns, label) in enumerate(cases, start=1):
                latencies, missing = _run_case(base, replies, turns, case)
                if missing or len(latencies) < 2:
                    reasons = {why: missing.count(why) for why in set(missing)}
                    raise RuntimeError(
                        f"{len(missing)} citizens got no reply within {REPLY_TIMEOUT:.0f} s: {reasons}"
                    )
                p50, p95 = _quantiles(latencies)
                note = f"{CITIZENS} citizens at once, {len(latencies)} replies; goal p95 < 1 s"
                rows.append(
                    Row(
                        "reply",
                        f"webhook → reply at provider, {label}: p50",
                        p50,
                        "ms",
                        "fake API round trip p50",
                        floor_p50,
                        higher_is_better=False,
                        note=note,
                    )
                )
                rows.append(
                    Row(
                        "reply",
                        f"webhook → reply at provider, {label}: p95",
                        p95,
                        "ms",
                        "fake API round trip p95",
                        floor_p95,
                        higher_is_better=False,
                        note=note,
                    )
                )
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            drop_database(server, "aduan_bench_reply")
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
    sys.exit(0)
