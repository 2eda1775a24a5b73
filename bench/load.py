"""What the webhook benchmarks share: the bare TwiML endpoint (the floor) and a wrk load of signed bodies."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ACK = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# wrk replays pre-signed bodies from a "signature<TAB>body" file; each thread takes every N-th line
# so the threads never send the same MessageSid twice.
_LUA = """
local bodies, sigs = {}, {}
for line in io.lines("%s") do
  local tab = line:find("\\t", 1, true)
  sigs[#sigs + 1] = line:sub(1, tab - 1)
  bodies[#bodies + 1] = line:sub(tab + 1)
end
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args) i = tonumber(wrk.thread:get("id")) or 0; step = tonumber(args[1]) or 1 end
request = function()
  i = i + step
  local k = (i %% #bodies) + 1
  return wrk.format("POST", "/hooks/sms", {["Content-Type"] = "application/x-www-form-urlencoded",
                    ["X-Twilio-Signature"] = sigs[k]}, bodies[k])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "p50": %%f, "p99": %%f, "errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def signed_sms(url: str, token: str, messages: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return ``(form body, X-Twilio-Signature)`` of an inbound SMS webhook per ``(MessageSid, From)``.

    The form is the one Twilio posts for an SMS (every field, in its order), signed with the
    ``twilio`` package for ``url``, the exact URL the server will see as called.
    """
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    out = []
    for sid, sender in messages:
        params = {
            "ToCountry": "ID",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": "Izin PBG saya sudah tiga minggu belum selesai, mohon dibantu.",
            "FromCountry": "ID",
            "To": "+6281809898222",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        out.append((urlencode(params), validator.compute_signature(url, params)))
    return out


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """The floor: parse the Twilio form and answer empty TwiML (no signature, no database)."""
    from starlette.requests import Request
    from starlette.responses import Response

    if scope["type"] != "http":
        return
    form = await Request(scope, receive).form()
    status = 200 if form.get("MessageSid") else 400
    await Response(ACK, status_code=status, media_type="text/xml")(scope, receive, send)


def wrk(
    port: int,
    bodies: list[tuple[str, str]],
    *,
    connections: int,
    duration: float,
    workdir: Path,
    tag: str,
    timeout: str = "10s",
) -> dict[str, float]:
    """Run wrk against ``/hooks/sms``; return requests, seconds, rps, p50/p99 (ms), socket errors, non2xx."""
    data = workdir / f"bodies_{tag}.tsv"
    data.write_text("".join(f"{sig}\t{body}\n" for body, sig in bodies))
    script = workdir / f"load_{tag}.lua"
    script.write_text(_LUA % data)
    threads = 2
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            timeout,
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(threads),
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    result: dict[str, float] = json.loads(line[len("RESULT ") :])
    # wrk counts non-2xx answers apart from socket errors
    non2xx = next((x for x in done.stdout.splitlines() if "Non-2xx" in x), "")
    result["non2xx"] = int(non2xx.split(":")[-1].strip() or 0) if non2xx else 0
    result["rps"] = result["requests"] / result["seconds"]
    return result
