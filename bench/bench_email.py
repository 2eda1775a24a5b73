"""E-mail ingestion (R2g): parse, store raw, rules, record on 3,000 varied mails vs django-helpdesk.

The corpus is generated (seeded) from twenty shapes real mail takes: declared and undeclared
charsets, bad bytes, QP/base64, HTML only, inline images, attachments, nested multiparts, forwards,
Indonesian replies, auto-replies, bounces, broken headers, no Message-ID. Aduan runs each mail
through ``bot.pipeline.receive(..., complete=True)`` on a fresh SQLite file; the baseline is
django-helpdesk's email-to-ticket function ``helpdesk.email.extract_email_metadata`` on the same
files, in a bench-only virtualenv ``bench/.venv-helpdesk`` that this benchmark creates with pip
(minimal Django project, SQLite). A crash is an exception out of the ingest function; a mail
Aduan quarantines (kept raw, shown to officers) is not a crash. When django-helpdesk cannot be
installed, the baseline falls back to ``email.message_from_bytes`` + one SQLite insert, and the
row's note says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import quopri
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

from bench.common import Row

N = 3000
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-helpdesk"
HELPDESK = "django-helpdesk==2.6.1"
OFFICE = "pengaduan@dpmptsp.purwakartakab.go.id"

_VOCABULARY = (
    "izin usaha bangunan gedung petugas loket antrean berkas persyaratan biaya retribusi sertifikat "
    "restoran reklame praktik bidan dokter sudah belum selesai lama sekali minggu bulan mohon bantuan "
    "informasi kejelasan pelayanan aplikasi oss error unggah dokumen tolong segera ditindaklanjuti "
    "kantor dpmptsp purwakarta mal pelayanan publik parkir toilet ruang tunggu ramah kasar"
)
WORDS = tuple(_VOCABULARY.split())
NAMES = (
    "Budi Santoso",
    "Siti Aminah",
    "André Wijaya",
    "Dewi Lestari",
    "Asep Sunandar",
    "Rina Marlina",
    "Hendra Gunawan",
    "Yetty Maranggi",
    "Ujang Saepudin",
    "Lina Herlina",
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _sentence(rng: random.Random, n: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _text(rng: random.Random) -> str:
    return "\n\n".join(_sentence(rng, rng.randint(8, 25)) for _ in range(rng.randint(1, 4)))


def _head(
    i: int,
    rng: random.Random,
    *,
    subject: str | None = None,
    sender: str | None = None,
    extra: str = "",
    msgid: bool = True,
) -> str:
    name = rng.choice(NAMES)
    local = name.lower().replace(" ", ".").replace("é", "e")
    from_ = sender or f"{name} <{local}.{i}@example.test>"
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=37 * i)
    lines = [
        f"From: {from_}",
        f"To: {OFFICE}",
        f"Subject: {subject or _sentence(rng, 5)}",
        f"Date: {when:%a, %d %b %Y %H:%M:%S +0000}",
    ]
    if msgid:
        lines.append(f"Message-ID: <bench-{i}-{rng.randrange(10**9)}@mail.example.test>")
    return "\n".join(lines) + ("\n" + extra.strip("\n") if extra.strip() else "") + "\n"


def _plain(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: text/plain; charset="UTF-8"\n'
        "Content-Transfer-Encoding: 8bit\n\n" + _text(rng) + "\n"
    ).encode()


def _no_name(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, sender=f"warga{i}@example.test")
        + "Content-Type: text/plain; charset=us-ascii\n\n"
        + _text(rng)
        + "\n"
    ).encode()


def _latin1(i: int, rng: random.Random) -> bytes:
    body = quopri.encodestring((_text(rng) + " Café à Kéramat – 50€").encode("cp1252")).decode()
    return (
        _head(i, rng, subject="=?iso-8859-1?q?Pungutan_di_luar_tarif_=96_izin?=")
        + "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + body + "\n"
    ).encode()


def _cp1252_raw(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, subject="Berkas \x93hilang\x94 di loket")
        + "MIME-Version: 1.0\nContent-Type: text/plain\n"
        "Content-Transfer-Encoding: 8bit\n\n" + _text(rng) + " \x93kutipan\x94 \x96 biaya 50\x80\n"
    ).encode("latin-1")


def _bad_bytes(i: int, rng: random.Random) -> bytes:
    return (
        (
            _head(i, rng) + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        ).encode()
        + _text(rng).encode()
        + b" \xff\xfe \xc3\x28 "
        + _text(rng).encode()
        + b"\n"
    )


def _base64(i: int, rng: random.Random) -> bytes:
    body = base64.encodebytes(_text(rng).encode()).decode()
    subject = "=?UTF-8?B?" + base64.b64encode(_sentence(rng, 5).encode()).decode() + "?="
    return (
        _head(i, rng, subject=subject) + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n\n" + body
    ).encode()


def _html_only(i: int, rng: random.Random) -> bytes:
    html = "<html><body>" + "".join(f"<p>{_sentence(rng)} <b>penting</b> &amp; segera</p>" for _ in range(3))
    html += '<p><a href="https://oss.example.test/p/1">tautan</a></p></body></html>'
    return (
        _head(i, rng) + "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + quopri.encodestring(html.encode()).decode()
    ).encode()


def _inline_image(i: int, rng: random.Random) -> bytes:
    text = _text(rng)
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="A"\n\n--A\n'
        "Content-Type: text/plain; charset=utf-8\n\n" + text + "\n\n--A\nContent-Type: multipart/related; "
        'boundary="R"\n\n--R\nContent-Type: text/html; charset=utf-8\n\n<div>' + text + '<img src="cid:i1">'
        '</div>\n--R\nContent-Type: image/png; name="foto.png"\nContent-Disposition: inline; filename='
        '"foto.png"\nContent-Transfer-Encoding: base64\nContent-ID: <i1>\n\n'
        + base64.encodebytes(PNG).decode()
        + "\n--R--\n\n--A--\n"
    ).encode()


def _attachments(i: int, rng: random.Random) -> bytes:
    pdf = b"%PDF-1.4\n" + bytes(rng.randrange(256) for _ in range(rng.randint(2000, 20000))) + b"\n%%EOF\n"
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"\n\n--M\n'
        "Content-Type: text/plain; charset=utf-8\n\n" + _text(rng) + "\n\n--M\nContent-Type: application/"
        'octet-stream; name="surat.pdf"\nContent-Disposition: attachment; '
        'filename="..\\\\surat penolakan.pdf"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(pdf).decode() + "\n--M\n"
        "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''bukti%E2%80%93"
        "bayar.pdf\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(pdf[:3000]).decode()
        + "\n--M--\n"
    ).encode()


def _nested(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="L1"\n\n--L1\n'
        'Content-Type: multipart/related; boundary="L2"\n\n--L2\nContent-Type: multipart/alternative; '
        'boundary="L3"\n\n--L3\nContent-Type: text/plain; charset=utf-8\n\n' + _text(rng) + "\n\n--L3\n"
        "Content-Type: text/html; charset=utf-8\n\n<p>" + _sentence(rng) + "</p>\n--L3--\n\n--L2\n"
        "Content-Type: image/gif\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
        "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7\n\n--L2--\n\n--L1\n"
        'Content-Type: text/plain; charset=utf-8; name="catatan.txt"\nContent-Disposition: attachment; '
        'filename="catatan.txt"\n\n' + _sentence(rng) + "\n--L1--\n"
    ).encode()


def _forward(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, subject="Fwd: " + _sentence(rng, 4)) + "MIME-Version: 1.0\nContent-Type: multipart/"
        'mixed; boundary="F"\n\n--F\nContent-Type: text/plain; charset=utf-8\n\n' + _text(rng) + "\n\n--F\n"
        "Content-Type: message/rfc822\n\nFrom: Sistem <noreply@perizinan.example.test>\nTo: a@example.test\n"
        f"Subject: Pemberitahuan\nMessage-ID: <sys-{i}@perizinan.example.test>\nContent-Type: text/plain; "
        "charset=utf-8\n\n" + _text(rng) + "\n\n--F--\n"
    ).encode()


def _reply_gmail(i: int, rng: random.Random) -> bytes:
    extra = (
        f"In-Reply-To: <aduan.{i}.x@dpmptsp.purwakartakab.go.id>\nReferences: <orig-{i}@example.test> "
        f"<aduan.{i}.x@dpmptsp.purwakartakab.go.id>"
    )
    quote = "\n".join("> " + _sentence(rng) for _ in range(3))
    return (
        _head(i, rng, subject=f"Re: Pengaduan Anda [PWK-2026-{i:06d}]", extra=extra)
        + "Content-Type: text/plain; charset=UTF-8\n\n"
        + _sentence(rng)
        + "\n\nSalam,\nBudi\n\n"
        f"Pada Sel, 10 Mar 2026 pukul 10.05 Pengaduan DPMPTSP <{OFFICE}> menulis:\n\n" + quote + "\n"
    ).encode()


def _reply_outlook(i: int, rng: random.Random) -> bytes:
    return (
        _head(
            i,
            rng,
            subject=f"RE: Pengaduan Anda [PWK-2026-{i:06d}]",
            extra=f"In-Reply-To: <aduan.{i}.y@dpmptsp.purwakartakab.go.id>",
        )
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + _sentence(rng)
        + "\n\nDikirim dari Outlook\n\n"
        + "_" * 32
        + f"\nDari: Pengaduan <{OFFICE}>\nDikirim: Rabu, 11 Maret 2026 10.00\nKepada: warga\n"
        "Subjek: Pengaduan Anda\n\n" + _text(rng) + "\n"
    ).encode()


def _auto_reply(i: int, rng: random.Random) -> bytes:
    return (
        _head(
            i,
            rng,
            subject="Otomatis: " + _sentence(rng, 3),
            extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All",
        )
        + "Content-Type: text/plain; charset=utf-8\n\n"
        "Saya sedang cuti sampai 20 Maret 2026.\n"
    ).encode()


def _bounce(i: int, rng: random.Random) -> bytes:
    return (
        _head(
            i,
            rng,
            sender="Mail Delivery System <MAILER-DAEMON@mx.example.test>",
            subject="Undelivered Mail Returned to Sender",
            extra="Auto-Submitted: auto-replied",
        )
        + 'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="D"\n\n'
        "--D\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--D\nContent-Type: message/"
        "delivery-status\n\nReporting-MTA: dns; mx.example.test\n\nFinal-Recipient: rfc822; x@example.test\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--D\nContent-Type: "
        f"text/rfc822-headers\n\nMessage-ID: <aduan.{i}.z@dpmptsp.purwakartakab.go.id>\nSubject: x\n\n--D--\n"
    ).encode()


def _broken_headers(i: int, rng: random.Random) -> bytes:
    return (
        f"From: Joko <joko.{i}@example.test>\nTo: <\nCc: a@[\nSubject: {_sentence(rng, 4)}\n"
        f"Date: Tue, 31 Feb 2026 99:99:99 +9999\nMessage-ID: <broken-{i}@example.test>\n"
        'Content-Type: text/plain; charset="x-unknown-charset"\n\n' + _text(rng) + "\n"
    ).encode()


def _no_msgid(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, msgid=False) + "Content-Type: text/plain; charset=utf-8\n\n" + _text(rng) + "\n"
    ).encode()


def _bulk(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng, extra="Precedence: bulk\nList-Unsubscribe: <mailto:u@news.example.test>")
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + _text(rng)
        + "\n"
    ).encode()


def _unknown_charset(i: int, rng: random.Random) -> bytes:
    return (
        (
            _head(i, rng) + 'Content-Type: text/plain; charset="x-mac-indonesian"\n'
            "Content-Transfer-Encoding: 8bit\n\n"
        ).encode()
        + _text(rng).encode("cp1252")
        + b" \xe9\xe8\n"
    )


def _attachment_only(i: int, rng: random.Random) -> bytes:
    return (
        _head(i, rng) + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="O"\n\n--O\n'
        'Content-Type: image/jpeg; name="foto.jpg"\nContent-Disposition: attachment; filename="foto.jpg"\n'
        "Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"\xff\xd8\xff\xe0" + bytes(500)).decode()
        + "\n--O--\n"
    ).encode()


SHAPES: tuple[Callable[[int, random.Random], bytes], ...] = (
    _plain,
    _no_name,
    _latin1,
    _cp1252_raw,
    _bad_bytes,
    _base64,
    _html_only,
    _inline_image,
    _attachments,
    _nested,
    _forward,
    _reply_gmail,
    _reply_outlook,
    _auto_reply,
    _bounce,
    _broken_headers,
    _no_msgid,
    _bulk,
    _unknown_charset,
    _attachment_only,
)


def corpus(n: int = N, seed: int = 20261127) -> list[bytes]:
    """Return ``n`` mails, the shapes in equal parts, in a seeded order."""
    rng = random.Random(seed)
    mails = [SHAPES[i % len(SHAPES)](i, rng).replace(b"\n", b"\r\n") for i in range(n)]
    rng.shuffle(mails)
    return mails


def run_aduan(mails: list[bytes], work: Path) -> dict[str, float]:
    """Ingest every mail as ``aduan ingest`` does (complete submissions) on a fresh SQLite file."""
    from bot import config as config_mod
    from bot.bootstrap import build
    from bot.pipeline import receive
    from channels.base import RawRequest
    from intake import db

    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    for name, table in data["channels"].items():
        table["enabled"] = name == "email"
    data["database"]["url"] = f"sqlite:///{work / 'aduan.sqlite3'}"
    data.setdefault("storage", {})["attachments_dir"] = str(work / "attachments")
    settings = config_mod.from_dict(data, env={"ADUAN_IMAP_PASSWORD": "x"})
    engine = db.create_engine(settings.database_url)
    container = build(settings, engine=engine, migrate=True)
    for body in corpus(40, seed=1):  # warm up: lazy imports, holiday tables (not timed, other ids)
        body = body.replace(b"Message-ID: <", b"Message-ID: <warmup-")
        receive(container, "email", RawRequest(body=body), verify=False, complete=True)
    crashes = quarantined = filed = 0
    t0 = time.perf_counter()
    for body in mails:
        try:
            receipt = receive(container, "email", RawRequest(body=body), verify=False, complete=True)
        except Exception:  # a crash: would stop the poller's batch
            crashes += 1
            continue
        if receipt.status != 200:
            quarantined += 1
        elif receipt.results and receipt.results[0].complaint is not None:
            filed += 1
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"seconds": seconds, "crashes": crashes, "quarantined": quarantined, "filed": filed}


def _helpdesk_python() -> tuple[Path | None, str]:
    """Create (once) the bench-only virtualenv with django-helpdesk; return its python or the reason."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if marker.exists() and python.exists():
        return python, ""
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300
            )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", HELPDESK],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"pip install {HELPDESK} failed: {type(exc).__name__}"
    marker.write_text(HELPDESK + "\n")
    return python, ""


def run_helpdesk(mails: list[bytes], work: Path) -> tuple[dict[str, float] | None, str]:
    """Run django-helpdesk's extract_email_metadata on the same mails in its own virtualenv."""
    python, reason = _helpdesk_python()
    if python is None:
        return None, reason
    folder = work / "corpus"
    folder.mkdir()
    for i, body in enumerate(mails):
        (folder / f"{i:05d}.eml").write_bytes(body)
    hd_work = work / "helpdesk"
    hd_work.mkdir()
    try:
        done = subprocess.run(
            [str(python), str(HERE / "_helpdesk_runner.py"), str(folder), str(hd_work)],
            check=True,
            capture_output=True,
            timeout=600,
            text=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (subprocess.SubprocessError, OSError, ValueError, IndexError) as exc:
        return None, f"django-helpdesk run failed: {type(exc).__name__}"


def run_floor(mails: list[bytes], work: Path) -> dict[str, float]:
    """Fallback baseline: ``email.message_from_bytes`` and one SQLite insert per mail."""
    conn = sqlite3.connect(work / "floor.sqlite3")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE mail (id INTEGER PRIMARY KEY, subject TEXT, body BLOB)")
    crashes = 0
    t0 = time.perf_counter()
    for body in mails:
        try:
            msg = message_from_bytes(body)
            conn.execute("INSERT INTO mail (subject, body) VALUES (?, ?)", (str(msg["Subject"]), body))
            conn.commit()
        except Exception:
            crashes += 1
    seconds = time.perf_counter() - t0
    conn.close()
    return {"seconds": seconds, "crashes": crashes}


def run_parse(mails: list[bytes]) -> tuple[dict[str, float], dict[str, float]]:
    """Time Aduan's parse alone beside the naive stdlib reading (policy.default, get_body)."""
    from email import policy

    from channels import email as email_channel
    from channels.base import RawRequest, UnsupportedPayload

    refused = 0
    t0 = time.perf_counter()
    for body in mails:
        try:
            email_channel.parse(RawRequest(body=body))
        except UnsupportedPayload:
            refused += 1
    ours = {"seconds": time.perf_counter() - t0, "crashes": 0.0, "refused": refused}
    crashes = 0
    t0 = time.perf_counter()
    for body in mails:
        try:
            msg = message_from_bytes(body, policy=policy.default)
            part = msg.get_body(("plain", "html"))  # type: ignore[attr-defined]
            _ = (str(msg["From"]), str(msg["Subject"]), part.get_content() if part is not None else "")
        except Exception:
            crashes += 1
    return ours, {"seconds": time.perf_counter() - t0, "crashes": crashes}


def run() -> list[Row]:
    """Time Aduan's e-mail ingestion beside django-helpdesk's (or the floor) on the same corpus."""
    mails = corpus()
    work = Path(tempfile.mkdtemp(prefix="aduan-bench-email-"))
    try:
        parsed, naive = run_parse(mails)
        parse_row = Row(
            bench="email",
            case="parse only (text, charsets, quotes, attachments)",
            value=N / parsed["seconds"],
            unit="mails/s",
            baseline_name="message_from_bytes(policy.default) + get_body",
            baseline=N / naive["seconds"],
            note=f"Aduan refused {parsed['refused']:.0f} (quarantined, kept raw); "
            f"naive crashes {naive['crashes']:.0f}",
        )
        aduan = run_aduan(mails, work)
        helpdesk, reason = run_helpdesk(mails, work)
        rate = N / aduan["seconds"]
        note = (
            f"{N} mails, {len(SHAPES)} shapes; Aduan crashes {aduan['crashes']:.0f}, "
            f"quarantined {aduan['quarantined']:.0f}, filed {aduan['filed']:.0f}"
        )
        if helpdesk is not None:
            crash_rate = 100.0 * helpdesk["crashes"] / max(1, helpdesk["n"])
            return [
                parse_row,
                Row(
                    bench="email",
                    case="mails → complaints (SQLite)",
                    value=rate,
                    unit="mails/s",
                    baseline_name="django-helpdesk 2.6.1 extract_email_metadata",
                    baseline=N / helpdesk["seconds"],
                    note=f"{note}; helpdesk crashes {helpdesk['crashes']} ({crash_rate:.1f}%) "
                    f"{helpdesk.get('crash_types')}",
                    extra={
                        "aduan_crashes": aduan["crashes"],
                        "helpdesk_crashes": helpdesk["crashes"],
                        "aduan_quarantined": aduan["quarantined"],
                    },
                ),
            ]
        floor = run_floor(mails, work)
        return [
            parse_row,
            Row(
                bench="email",
                case="mails → complaints (SQLite)",
                value=rate,
                unit="mails/s",
                baseline_name="message_from_bytes + SQLite insert (fallback)",
                baseline=N / floor["seconds"],
                note=f"{note}; django-helpdesk unavailable ({reason}); floor crashes {floor['crashes']:.0f}",
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
